"""Report sets are written atomically (issue 11): unique temporary names, a manifest written
last, a folder lock between writers, temporary files removed on failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

import topo
from topo.errors import ReportError
from topo.report import MANIFEST, audit, read_report_set, write_report


@pytest.fixture(scope="module")
def report():
    arch = topo.Architecture.mlp([2, 3, 1])
    return audit(arch, arch.init(seed=0), name="base")


def _named(report, name):
    return report | {"network": report["network"] | {"name": name}}


def _check_consistent(folder, manifest):
    """Every file of the set belongs to the run the manifest names."""
    name = manifest["report"]
    files = manifest["files"]
    if "report.json" in files:
        assert json.loads((folder / "report.json").read_text())["network"]["name"] == name
    if "report.md" in files:
        assert (folder / "report.md").read_text().startswith(f"# topo audit: {name}\n")
    if "report.html" in files:
        assert f"<title>topo audit: {name}</title>" in (folder / "report.html").read_text()


def _no_temp_files(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


_WRITER = textwrap.dedent("""
    import sys
    import topo
    from topo.report import audit, write_report
    arch = topo.Architecture.mlp([2, 3, 1])
    base = audit(arch, arch.init(seed=0), name="x")
    tag, folder, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for i in range(n):
        rep = base | {"network": base["network"] | {"name": f"{tag}-{i}"}}
        write_report(rep, folder, formats=("json", "md", "html") if i % 3 else ("json", "md"))
""")


def test_two_processes_racing_on_one_folder_never_leave_a_mixed_set(tmp_path):
    folder = tmp_path / "out"
    n = 100
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, tag, str(folder), str(n)],
                              stderr=subprocess.PIPE, text=True) for tag in ("A", "B")]
    seen_complete = 0
    while any(p.poll() is None for p in procs):  # read while they write: complete sets are never mixed
        if (folder / MANIFEST).exists():
            try:
                manifest = read_report_set(folder)
            except ReportError:
                continue  # a write in progress: the set says so instead of passing for complete
            try:
                _check_consistent(folder, manifest)
            except FileNotFoundError:
                continue
            except AssertionError:
                # the files moved on after the manifest was checked: check again, atomically enough
                manifest2 = None
                try:
                    manifest2 = read_report_set(folder)
                except ReportError:
                    continue
                assert manifest2["run"] != manifest["run"], "a verified set was mixed"
                continue
            seen_complete += 1
        time.sleep(0.002)
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    manifest = read_report_set(folder)  # after the race: one complete, unmixed set
    _check_consistent(folder, manifest)
    assert manifest["report"] in (f"A-{n - 1}", f"B-{n - 1}")
    assert sorted(p.name for p in folder.iterdir()) == sorted([MANIFEST, *manifest["files"]])
    assert _no_temp_files(folder)


def test_failed_write_leaves_no_temp_file_and_no_complete_set(tmp_path, report, monkeypatch):
    folder = tmp_path / "out"
    write_report(_named(report, "old"), folder, formats=("json", "md", "html"))
    assert read_report_set(folder)["report"] == "old"
    calls = []
    real_replace = os.replace

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the new report.json is in place, the rest is not
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        write_report(_named(report, "new"), folder, formats=("json", "md", "html"))
    monkeypatch.setattr(os, "replace", real_replace)
    assert _no_temp_files(folder)
    with pytest.raises(ReportError, match="no complete report set"):
        read_report_set(folder)  # json of the new run beside md/html of the old: not passed off as a set
    write_report(_named(report, "again"), folder, formats=("json",))
    manifest = read_report_set(folder)
    assert manifest["report"] == "again" and list(manifest["files"]) == ["report.json"]
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST, "report.json"]  # stale md/html removed


def test_tampered_or_stale_files_are_detected_and_killed_writers_cleaned(tmp_path, report):
    folder = tmp_path / "out"
    write_report(_named(report, "one"), folder)
    (folder / "report.md").write_text("# topo audit: someone else\n")
    with pytest.raises(ReportError, match="mixed: report.md"):
        read_report_set(folder)
    (folder / "report.md").unlink()
    with pytest.raises(ReportError, match="incomplete: report.md is missing"):
        read_report_set(folder)
    (folder / ".report.json.0123abcd.tmp").write_text("left by a killed writer")
    write_report(_named(report, "two"), folder)
    assert read_report_set(folder)["report"] == "two" and _no_temp_files(folder)


def test_write_report_refuses_a_file_as_folder_without_side_effects(tmp_path, report):
    blocker = tmp_path / "f"
    blocker.write_text("keep me")
    with pytest.raises(OSError):
        write_report(report, blocker)
    assert blocker.read_text() == "keep me" and [p.name for p in tmp_path.iterdir()] == ["f"]


def test_write_spec_is_atomic_and_cleans_up(tmp_path, monkeypatch):
    arch = topo.Architecture.mlp([2, 1])
    path = tmp_path / "net.yaml"
    topo.write_spec(path, arch, arch.init(seed=0))
    before = path.read_text()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        topo.write_spec(path, arch, arch.init(seed=1))
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["net.yaml"]


def test_a_figure_that_cannot_be_drawn_never_costs_the_report(tmp_path, capsys, monkeypatch):
    import topo.plots
    from topo.cli import main

    def broken(*args, **kwargs):
        raise ValueError("mathtext: unknown symbol")

    monkeypatch.setattr(topo.report.plots, "report_figures", broken)
    rc = main(["audit", "--mlp", "2,3,1", "--out", str(tmp_path / "out"), "--max-strata", "0"])
    err = capsys.readouterr().err
    assert rc == 0 and "figures not drawn (ValueError: mathtext: unknown symbol)" in err
    manifest = read_report_set(tmp_path / "out")
    assert sorted(manifest["files"]) == ["report.html", "report.json", "report.md"]


def test_report_json_is_strict_json_even_with_an_infinite_gap(tmp_path, report):
    rep = report | {"topology": {"ph_gap": [float("inf")], "agree": True}, "odd": [float("nan"), -float("inf")]}
    write_report(rep, tmp_path, formats=("json",))
    text = (tmp_path / "report.json").read_text()

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    back = json.loads(text, parse_constant=refuse)  # no bare Infinity/NaN
    assert back["topology"]["ph_gap"] == ["Infinity"] and back["odd"] == ["NaN", "-Infinity"]
