"""Every script in examples/ runs to completion (they assert their own claims)."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
#: the "needs" column of examples/README.md, by the module a user imports for it
MODULE_OF = {"torch": "torch", "scikit-learn": "sklearn", "pandas": "pandas"}


def _needs(script: Path) -> list[str]:
    index = (script.parent / "README.md").read_text()
    row = next((line for line in index.splitlines() if f"`{script.name}`" in line), "")
    return re.findall(r"`([a-z-]+)`", row.rsplit("|", 2)[-2]) if row.count("|") >= 3 else []


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    missing = [pkg for pkg in _needs(script) if importlib.util.find_spec(MODULE_OF.get(pkg, pkg)) is None]
    if missing:
        pytest.skip(f"{script.name} needs the optional {', '.join(missing)} (pip install '.[examples]')")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                       cwd=tmp_path, env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin",
                                          "HOME": str(tmp_path), "PYTHONPATH": str(script.parents[1])})
    assert r.returncode == 0, r.stderr[-2000:]


def test_there_are_examples():
    assert len(EXAMPLES) >= 1


def test_readme_python_block_prints_what_the_readme_says(capsys):
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("```python\n", 1)[1].split("```", 1)[0]
    printed = text.split("```python\n", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert capsys.readouterr().out == printed
    assert "frozen: only edge out of S" in printed and "4 connected components" in printed
    assert namespace["path"].shape[1] == namespace["arch"].n_params


def test_readme_starts_with_the_two_commands():
    lines = (Path(__file__).resolve().parents[1] / "README.md").read_text().splitlines()
    block = lines[lines.index("```bash") + 1: lines.index("```bash") + 3]
    assert block[0].endswith("topo audit --example shallow")
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert block[1] in ci
