"""The careless-input list of issue 21: each mistake gets one line in topo's words
(run in-process through ``topo.cli.main``, like the console script)."""

import json
import re

import pytest

import topo
from topo.cli import main

GELU_MODELS = """
import torch

def f():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GELU(), torch.nn.Linear(4, 2))
"""


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_out_naming_a_file_is_refused_before_any_work(tmp_path, capsys):
    existing = tmp_path / "report.txt"
    existing.write_text("keep me")
    rc, out, err = _run(capsys, "audit", "--example", "shallow", "--out", str(existing))
    assert rc == 2 and out == ""
    # one line and nothing else: no status line, so no stage ran
    assert err == f"topo audit: --out {str(existing)!r} is an existing file; give a folder for the report\n"
    assert existing.read_text() == "keep me"


def test_library_warning_is_one_plain_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    (tmp_path / "mymodels.py").write_text(GELU_MODELS)
    monkeypatch.chdir(tmp_path)
    rc, out, err = _run(capsys, "audit", "--torch", "mymodels.py:f")
    assert rc == 0, err
    warning_lines = [line for line in err.splitlines() if "warning" in line.lower()]
    assert warning_lines == ["topo: warning: units produced by unsupported layers are treated as free: GELU (1)"]
    assert "UnsupportedLayerWarning" not in err and "warnings.warn" not in err
    assert not re.search(r"\.py:\d+", err)  # no file:line of a source location
    rc, out, err = _run(capsys, "audit", "--torch", "mymodels.py:f", "-q")
    assert rc == 0 and out == "" and err == ""


def test_torch_factory_from_a_file_path(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text(GELU_MODELS)
    monkeypatch.chdir(tmp_path)
    rc, out, err = _run(capsys, "audit", "--torch", "models/net.py:f", "-q", "--out", "rep", "--format", "json")
    assert rc == 0, err
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["network"]["source"] == "PyTorch model models/net.py:f (neuron level)"
    rc, out, err = _run(capsys, "audit", "--torch", "nothere.py:f", "-q")
    assert (rc, err) == (2, "topo audit: --torch names the file 'nothere.py', which does not exist\n")


def test_whole_pickled_model_gets_topos_advice(tmp_path, capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    (tmp_path / "mymodels.py").write_text(GELU_MODELS)
    monkeypatch.chdir(tmp_path)
    import importlib.util

    spec = importlib.util.spec_from_file_location("gelu_models_for_test", tmp_path / "mymodels.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.save(mod.f(), tmp_path / "whole.pt")  # the whole model, not its state_dict
    rc, out, err = _run(capsys, "audit", "--torch", "mymodels.py:f", "--weights", "whole.pt", "-q")
    assert rc == 2
    assert err == ("topo audit: cannot load weights file 'whole.pt': it holds a pickled "
                   "torch.nn.modules.container.Sequential, not only tensors (a whole model saved with "
                   "torch.save(model, ...)?); save `model.state_dict()` with torch.save and pass that file\n")
    assert "weights_only" not in err and "\x1b" not in err and "\\x1b" not in err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    rc, out, err = _run(capsys, "audit", "--torch", "mymodels.py:f", "--weights", "junk.pt", "-q")
    assert err == ("topo audit: cannot load weights file 'junk.pt': it is not a file written by torch.save "
                   "(corrupt or another format)\n")


TYPO_SPEC = "edges:\n  - [x, h1]\n  - [h1, y]\n  - [hl, y]\n"


def test_spec_source_named_like_a_hidden_node_gets_a_lint_note(tmp_path, capsys):
    path = tmp_path / "typo.yaml"
    path.write_text(TYPO_SPEC)
    note = ("Spec lint: source 'hl' feeds only outputs and is named like the hidden node 'h1': a typo? "
            "It is read as an input (declare it with role: input if it is one).")
    assert topo.read_spec(path).notes == (note,)
    assert topo.audit(str(path)).report["notes"][0] == note
    rc, out, err = _run(capsys, "audit", str(path))
    assert rc == 0 and f"note: {note}" in out.splitlines()[1:] + [line.strip() for line in out.splitlines()]
    # declared with a role: not questioned
    path.write_text(TYPO_SPEC + "nodes:\n  - {id: hl, role: input}\n")
    assert topo.read_spec(path).notes == ()


def test_spec_source_not_among_declared_inputs_gets_a_lint_note(tmp_path):
    path = tmp_path / "declared.yaml"
    path.write_text("inputs: [x0, x1]\nedges:\n  - [x0, h]\n  - [x1, h]\n  - [xl, h]\n  - [h, y]\n")
    assert topo.read_spec(path).notes == (
        "Spec lint: source 'xl' is not among the declared inputs ['x0', 'x1']: a typo? It is read as an input.",)
    path.write_text("inputs: [x0, x1]\nedges:\n  - [x0, h]\n  - [x1, h]\n  - [h, y]\n")
    assert topo.read_spec(path).notes == ()
    assert topo.read_spec(path).architecture.inputs == ["x0", "x1"]
    with pytest.raises(topo.SpecError, match="'inputs' must be a non-empty list of node names"):
        topo.graph.spec.parse_spec({"inputs": "x0", "edges": [["x0", "y"]]})


def test_quiet_silences_progress_bars(capsys, monkeypatch):
    import topo.report.build as build

    seen = []
    real = build.verify_topology

    def spy(*args, **kwargs):
        seen.append(kwargs.get("progress"))
        return real(*args, **kwargs)

    monkeypatch.setattr(build, "verify_topology", spy)
    rc, out, err = _run(capsys, "audit", "--example", "shallow", "--sample", "30", "-q")
    assert (rc, out, err) == (0, "", "")
    rc, out, err = _run(capsys, "audit", "--example", "shallow", "--sample", "30")
    assert seen == [False, None]  # -q: never; else tqdm's rule (only on a terminal)


def test_mistyped_example_name_suggests_the_examples(capsys):
    msg = "'shalow' is neither a file nor a built-in example; did you mean 'shallow'? " \
          "(topo.catalog.EXAMPLES lists the examples)"
    with pytest.raises(topo.errors.TargetError) as info:
        topo.audit("shalow")
    assert str(info.value) == msg
    rc, out, err = _run(capsys, "audit", "shalow")
    assert (rc, err) == (2, f"topo: error: {msg}\n")
    rc, out, err = _run(capsys, "audit", "--example", "shalow")
    assert err.startswith("topo audit: unknown example 'shalow'; did you mean 'shallow'? available: ")


def test_group_orders_have_one_format():
    from topo.report.text import group_order_text, symmetry_text

    small = {"summary": "4 components, 3 up to symmetry", "group": {"order": "720", "log10_order": 2.857,
                                                                     "n_generators": 2}}
    large = {"summary": "4 components, 3 up to symmetry", "group": {"order": "1625702400",
                                                                     "log10_order": 9.211, "n_generators": 5}}
    huge = {"summary": "4 components, 3 up to symmetry", "group": {"order": None, "log10_order": 26.6,
                                                                    "n_generators": 9}}
    assert "order 720," in symmetry_text(small)
    assert "order ≈ 10^9.2," in symmetry_text(large) and "1625702400" not in symmetry_text(large)
    assert "order ≈ 10^26.6," in symmetry_text(huge)
    assert re.fullmatch(r"≈ 10\^\d+\.\d", group_order_text(str(10**6), 6.0))
