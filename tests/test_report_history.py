"""``topo audit --history FILE`` / ``topo.audit(..., history=...)``: a balance history saved by
BalanceMonitor.save embedded in the report (JSON section, Markdown, HTML with its figure)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

import topo  # noqa: E402
from topo.report import history as history_mod  # noqa: E402
from topo.report.history import history_section  # noqa: E402


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)).double()


def _trained(steps=12):
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, weight_decay=1e-3)
    mon = topo.BalanceMonitor(net).attach(opt)
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(16, 3, generator=g, dtype=torch.float64), torch.randn(16, 2, generator=g, dtype=torch.float64)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(X), y).backward()
        opt.step()
    return net, mon


def test_the_section_summarises_the_history_it_was_given(tmp_path):
    net, mon = _trained()
    path = mon.save(tmp_path / "h.json")
    sec = history_section(path)
    drifts = [r["drift"] for r in mon.history]
    assert sec["source"] == str(path) and sec["n_records"] == 13 and sec["steps"] == [0, 12]
    assert sec["final_drift"] == pytest.approx(drifts[-1]) and sec["max_drift"] == pytest.approx(max(drifts))
    assert sec["max_prediction_error"] < 1e-10 and sec["euler"]["passed"] and sec["meta"]["optimizer"] == "SGD"
    assert [r["step"] for r in sec["records"]] == list(range(13)) and len(sec["prunability_hist"]) == 13
    assert "balances" not in sec  # per-class series stay in the file


def test_a_long_history_is_thinned_keeping_first_and_last(monkeypatch):
    _, mon = _trained(30)
    monkeypatch.setattr(history_mod, "MAX_HISTORY_RECORDS", 7)
    sec = history_section(mon.to_dict())
    steps = [r["step"] for r in sec["records"]]
    assert sec["thinned"] and len(steps) == 7 and steps[0] == 0 and steps[-1] == 30 and steps == sorted(steps)
    assert len(sec["prunability_hist"]) == 7 and sec["n_records"] == 31


def test_audit_embeds_the_history_in_json_markdown_and_html(tmp_path):
    net, mon = _trained()
    a = topo.audit(net, history=mon.to_dict())
    assert a.report["history"]["n_records"] == 13
    paths = a.save(tmp_path / "rep", formats=("json", "md", "html"))
    report = json.loads(paths[0].read_text())
    assert report["history"]["steps"] == [0, 12]
    md = paths[1].read_text()
    assert "## Training history (balance monitor)" in md and "| step | drift |" in md and "SGD law" in md
    html = paths[2].read_text()
    assert "Training history" in html and "<img alt='history' src='data:image/svg+xml;base64," in html
    # without a history none of it is there
    plain = topo.audit(net)
    assert "history" not in plain.report


def test_the_cli_embeds_a_history_file_and_refuses_a_bad_one_before_the_work(tmp_path):
    net, mon = _trained()
    mon.save(tmp_path / "h.json")
    torch.save(net.state_dict(), tmp_path / "w.pt")
    (tmp_path / "m.py").write_text("import torch\ndef make():\n    return torch.nn.Sequential(torch.nn.Linear(3, 5), "
                                   "torch.nn.ReLU(), torch.nn.Linear(5, 2)).double()\n")
    cmd = [sys.executable, "-m", "topo.cli", "audit", "--torch", "m.py:make", "--weights", "w.pt", "-q"]
    r = subprocess.run(cmd + ["--history", "h.json", "--out", "rep", "--format", "json,html"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["history"]["source"] == "h.json"
    assert "alt='history'" in (tmp_path / "rep" / "report.html").read_text()
    (tmp_path / "bad.json").write_text('{"a": 1}')
    r = subprocess.run(cmd + ["--history", "bad.json", "--out", "rep2"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "--history" in r.stderr and "not a balance history" in r.stderr
    assert not (tmp_path / "rep2").exists()
