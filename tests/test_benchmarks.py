"""The benchmark scripts stay runnable: they compile, and the connectivity one runs
in its quick mode (the figures themselves live in benchmarks/RESULTS.md)."""

import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_benchmark_compiles(script):
    py_compile.compile(str(script), doraise=True)


def test_connectivity_benchmark_quick_mode_reports_identical_frozen_sets():
    r = subprocess.run([sys.executable, str(BENCH / "connectivity.py"), "--quick"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "frozen sets identical" in r.stdout
