"""The package's layering, read from the source with ``ast``: no import circle, imports run
strictly downward between subpackages, no private name crosses a module boundary, no
module reads another module's private attributes, and no function shadows its module.

The layer order is the one documented in ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import sys

import networkx as nx
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "topo"

#: Bottom to top; units on one line are independent of each other (no import between them).
LAYERS = [
    ("errors", "_version"),
    ("utils",),
    ("graph",),
    ("fiber",),
    ("varieties", "sampling", "symmetry"),
    ("nn",),
    ("experiments",),
    ("report",),
    ("auditing",),
    ("cli",),
    ("__init__", "__main__", "zoo", "plots"),  # the package face and its short-name modules
]
RANK = {unit: i for i, line in enumerate(LAYERS) for unit in line}


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for f in sorted(ROOT.rglob("*.py")):
        parts = list(f.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _unit(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _type_checking_blocks(tree) -> set[int]:
    ids = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            ids.update(id(x) for x in ast.walk(n))
    return ids


def _imports(module: str, path: pathlib.Path):
    """``(target module, imported name or None, line)`` for every topo import of ``module``."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_blocks(tree)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for n in ast.walk(tree):
        if id(n) in skip:
            continue
        if isinstance(n, ast.ImportFrom):
            if n.level:
                base = package.split(".")[: len(package.split(".")) - (n.level - 1)]
                target = ".".join(base + ([n.module] if n.module else []))
            else:
                target = n.module or ""
            if target.split(".")[0] != "topo":
                continue
            for alias in n.names:
                full = f"{target}.{alias.name}"
                if full in MODULES:
                    yield full, None, n.lineno
                else:
                    yield target, alias.name, n.lineno
        elif isinstance(n, ast.Import):
            for alias in n.names:
                if alias.name.split(".")[0] == "topo":
                    yield alias.name, None, n.lineno


def _graph():
    G = nx.DiGraph()
    G.add_nodes_from(MODULES)
    for module, path in MODULES.items():
        for target, _, _ in _imports(module, path):
            if target != module and target in MODULES:
                G.add_edge(module, target)
    return G


def test_every_module_has_a_layer():
    missing = sorted({_unit(m) for m in MODULES} - set(RANK))
    assert not missing, f"modules outside the documented layers: {missing}"


def test_no_import_circle():
    G = _graph()
    circles = [sorted(c) for c in nx.strongly_connected_components(G) if len(c) > 1]
    assert not circles, f"import circles: {circles}"


def test_imports_run_downward():
    bad = []
    for module, path in MODULES.items():
        for target, _, line in _imports(module, path):
            if target not in MODULES:
                bad.append(f"{module}:{line} imports {target}, which is not a module of topo")
                continue
            a, b = _unit(module), _unit(target)
            if a == b:
                continue
            if RANK[b] >= RANK[a]:
                bad.append(f"{module}:{line} imports {target} ({b} is not below {a})")
    assert not bad, "\n".join(bad)


def test_no_private_name_crosses_a_module_boundary():
    bad = []
    for module, path in MODULES.items():
        for target, name, line in _imports(module, path):
            if name and name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
                bad.append(f"{module}:{line} imports {name} from {target}")
    assert not bad, "\n".join(bad)


def _private_attributes(tree) -> set[str]:
    """Private attributes a module defines: ``self._x = ...``, ``__slots__`` entries, private methods."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name) \
                and n.value.id == "self" and n.attr.startswith("_") and not n.attr.startswith("__"):
            out.add(n.attr)
        elif isinstance(n, ast.ClassDef):
            for item in n.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("_") \
                        and not item.name.startswith("__"):
                    out.add(item.name)
                if isinstance(item, ast.Assign) and any(getattr(t, "id", "") == "__slots__" for t in item.targets):
                    for elt in getattr(item.value, "elts", []):
                        if isinstance(elt, ast.Constant) and str(elt.value).startswith("_"):
                            out.add(str(elt.value))
    return out


def test_no_module_reads_private_attributes_of_another():
    trees = {m: ast.parse(p.read_text()) for m, p in MODULES.items()}
    owner: dict[str, set[str]] = {}
    for m, tree in trees.items():
        for attr in _private_attributes(tree):
            owner.setdefault(attr, set()).add(m)
    bad = []
    for m, tree in trees.items():
        for n in ast.walk(tree):
            if isinstance(n, ast.Attribute) and n.attr in owner and m not in owner[n.attr]:
                if isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"):
                    continue
                bad.append(f"{m}:{n.lineno} reads {ast.unparse(n)} (private to {sorted(owner[n.attr])})")
    assert not bad, "\n".join(bad)


def test_architecture_declares_its_caches():
    from topo.graph.architecture import DERIVED_RESULTS, Architecture

    assert "__dict__" not in Architecture.__slots__
    arch = Architecture.mlp([2, 3, 1])
    with pytest.raises(AttributeError):
        arch.some_cache = 1  # no instance dictionary: nothing can be stashed on an architecture
    with pytest.raises(KeyError, match="not a declared derived result"):
        arch.derived("balances", lambda: None)
    import topo

    topo.decompose(arch), topo.incidence_matrix(arch), topo.automorphism_group(arch)
    assert set(arch._derived) <= set(DERIVED_RESULTS)
    assert {"decomposition", "incidence", "automorphisms"} <= set(arch._derived)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.count(".") >= 1))
def test_no_function_shadows_its_module(module):
    if module in ("topo.zoo", "topo.nn.zoo", "topo.__main__"):
        pytest.importorskip("torch")
    mod = importlib.import_module(module)
    parent, _, leaf = module.rpartition(".")
    assert getattr(sys.modules[parent], leaf) is mod, (
        f"{parent}.{leaf} is {getattr(sys.modules[parent], leaf)!r}, not the module {module}")
