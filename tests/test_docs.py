"""The documentation matches the code: the examples index names what each script
imports, the API reference covers the public API, the CLI help matches the options."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import topo

ROOT = Path(__file__).resolve().parents[1]
# top-level import -> the extra/package a user must install for it (beyond the core)
OPTIONAL = {"torch": "torch", "sklearn": "scikit-learn", "pandas": "pandas"}


def imported_extras(script: Path) -> set:
    tree = ast.parse(script.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "topo" \
                and node.attr in ("zoo", "from_torch", "train"):
            names.add("torch")  # these paths of topo need torch
    return {OPTIONAL[n] for n in names if n in OPTIONAL}


def index_rows(path: Path) -> dict:
    rows = {}
    for line in path.read_text().splitlines():
        m = re.match(r"\|\s*\[?`([a-z_]+\.py)`\]?(?:\([^)]*\))?\s*\|[^|]*\|\s*(.*?)\s*\|$", line)
        if m:
            needs = set() if m.group(2) == "core" else set(re.findall(r"`([a-z-]+)`", m.group(2)))
            rows[m.group(1)] = needs
    return rows


def test_examples_index_lists_each_script_with_the_extras_its_imports_need():
    """Every script is listed in both indexes with the same extras; what it imports directly is
    among them (extras needed only through topo, e.g. topo.experiments, are declared by hand);
    the [examples] extra installs every one."""
    scripts = {p.name: imported_extras(p) for p in (ROOT / "examples").glob("*.py")}
    readme = index_rows(ROOT / "examples" / "README.md")
    assert set(readme) == set(scripts) and index_rows(ROOT / "docs" / "examples.md") == readme
    for name, needs in scripts.items():
        assert needs <= readme[name], (name, needs, readme[name])
    pyproject = (ROOT / "pyproject.toml").read_text()
    extra = re.search(r"^examples = \[(.*)\]$", pyproject, re.M).group(1)
    for needs in readme.values():
        for pkg in needs:
            assert f'"{pkg}' in extra, (pkg, extra)


def test_api_reference_covers_the_public_api():
    text = (ROOT / "docs" / "api.md").read_text()
    documented = set(re.findall(r"^::: ([\w.]+)$", text, re.M))
    modules = {d for d in documented if d.count(".") == 1}  # whole modules, e.g. topo.errors
    missing = []
    for name in topo.__all__:
        try:
            obj = getattr(topo, name)
        except ImportError:  # an optional extra (torch) is missing: look the name up by its last part
            if not any(d.endswith(f".{name}") for d in documented):
                missing.append(name)
            continue
        mod = getattr(obj, "__module__", None) or obj.__name__
        full = f"{mod}.{name}" if not hasattr(obj, "__path__") and mod != getattr(obj, "__name__", "") else mod
        if full not in documented and mod not in modules and obj.__name__ not in modules:
            missing.append(f"{name} ({full})")
    assert not missing, f"add to docs/api.md: {missing}"


def test_mkdocs_nav_names_every_page():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    listed = set(re.findall(r":\s*([\w-]+\.md)\s*$", nav, re.M))
    assert listed == pages


def test_cli_help_names_every_target_and_format():
    r = subprocess.run([sys.executable, "-m", "topo", "audit", "--help"], capture_output=True, text=True,
                       timeout=60)
    help_text = " ".join(r.stdout.split())
    assert r.returncode == 0 and "--example, --mlp or --torch" in help_text
    assert "write the report files into DIR (see --format)" in help_text and "json, md, html" in help_text
    r = subprocess.run([sys.executable, "-m", "topo", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"topo {topo.__version__}"


def test_top_level_lazy_modules_and_typing_marker():
    r = subprocess.run([sys.executable, "-c", "import sys, topo; topo.report; topo.plots; "
                        "print('torch' in sys.modules)"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr
    assert (ROOT / "topo" / "py.typed").exists()
    assert 'topo = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()
