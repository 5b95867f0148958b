"""The command line as a thin layer over topo.audit: status lines on stderr, -q,
truncated lists that say how many more, errors in command-line words."""

import json
import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "topo", *args], capture_output=True, text=True, timeout=300)


def test_status_line_per_stage_with_elapsed_time_and_quiet(tmp_path):
    r = run("audit", "--example", "shallow", "--sample", "300", "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    stages = [line.split("s  ", 1)[1].split(" ")[0] for line in lines]
    assert stages == ["connectivity", "components", "singular", "sampling", "writing", "done"], lines
    times = [float(line.split()[1]) for line in lines]
    assert all(line.startswith("topo: ") for line in lines) and times == sorted(times)
    assert "components" in r.stdout and "topo:" not in r.stdout  # the summary stays on stdout
    q = run("audit", "--example", "shallow", "--out", str(tmp_path / "q"), "-q")
    assert q.returncode == 0 and q.stdout == "" and q.stderr == ""
    assert (tmp_path / "q" / "report.html").exists()


def test_truncated_frozen_edges_say_how_many_more(tmp_path):
    r = run("audit", "--example", "shallow", "--max-listed", "1", "--out", str(tmp_path), "--format", "json,md")
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    n = rep["connectivity"]["n_frozen_edges"]
    assert n == 3 and len(rep["connectivity"]["frozen_edges"]) == 1
    assert f"… {n - 1} more (raise --max-listed)" in r.stdout
    assert f"… {n - 1} more frozen edges" in (tmp_path / "report.md").read_text()


def test_python_dash_m_topo_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("topo ")


def test_level_errors_speak_command_line():
    pytest.importorskip("torch")
    r = run("audit", "--torch", "topo.zoo:lenet", "--level", "neuron", "-q")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--level channel" in r.stderr and "level='channel'" not in r.stderr, r.stderr
