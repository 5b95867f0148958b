"""The topo command line, run as a subprocess like a user would."""

import json
import subprocess
import sys

import pytest

import topo


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "topo.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_help_is_useful():
    r = run("--help")
    assert r.returncode == 0 and "audit" in r.stdout and "examples" in r.stdout
    r = run("audit", "--help")
    assert r.returncode == 0 and "--example" in r.stdout and "--mlp" in r.stdout and "--seed" in r.stdout


@pytest.mark.parametrize("name", sorted(topo.catalog.EXAMPLES))
def test_audit_builtin_examples(tmp_path, name):
    r = run("audit", "--example", name, "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "components" in r.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["schema"] == "topo-audit" and report["schema_version"] == 1
    ex = topo.catalog.get(name)
    theta = ex.theta if ex.theta is not None else ex.architecture.init("kaiming", seed=0)
    rep = topo.connectivity(ex.architecture, topo.balance(ex.architecture, theta))
    assert report["connectivity"]["n_components"] == rep.n_components
    assert (tmp_path / "report.md").read_text().startswith("# topo audit")


def test_audit_shallow_example_counts_negative_neurons(tmp_path):
    r = run("audit", "--example", "shallow", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["connectivity"]["n_components"] == 2 ** report["balances"]["n_negative"] > 1


def test_audit_mlp_and_seed(tmp_path):
    r1 = run("audit", "--mlp", "2,8,1", "--seed", "3", "--out", str(tmp_path / "a"), "--format", "json")
    r2 = run("audit", "--mlp", "2,8,1", "--seed", "3", "--out", str(tmp_path / "b"), "--format", "json")
    assert r1.returncode == r2.returncode == 0
    a = json.loads((tmp_path / "a" / "report.json").read_text())
    b = json.loads((tmp_path / "b" / "report.json").read_text())
    a.pop("network"), b.pop("network")
    assert a == b
    assert not (tmp_path / "a" / "report.md").exists()


def test_audit_spec_file_uses_its_weights(tmp_path):
    spec = tmp_path / "chain.yaml"
    spec.write_text("edges:\n  - [x, h, {weight: 1.0}]\n  - [h, y, {weight: 3.0}]\n")
    r = run("audit", str(spec), "--out", str(tmp_path / "o"), "-q")
    assert r.returncode == 0 and r.stdout == ""
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["balances"]["min"] == -8.0
    assert report["connectivity"]["n_components"] == 2  # c < 0: only h -> y is frozen
    assert [w["edge"] for w in report["connectivity"]["frozen_edges"]] == [["h", "y"]]


@pytest.mark.parametrize(
    "args, message",
    [
        (("audit", "--mlp", "2,x,1"), "--mlp expects"),
        (("audit", "--mlp", "3"), "--mlp expects"),
        (("audit", "--example", "nope"), "unknown example 'nope'"),
        (("audit", "missing.yaml"), "cannot read spec file"),
        (("audit",), "exactly one target"),
        (("audit", "--mlp", "2,1", "--example", "shallow"), "exactly one target"),
        (("audit", "--mlp", "2,1", "--format", "pdf"), "unknown --format"),
        (("audit", "--mlp", "2,1", "--init", "he"), "invalid choice"),
        (("frobnicate",), "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_invalid_spec_exits_2(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("edges: [[a, b], [b, a]]\n")
    r = run("audit", str(spec))
    assert r.returncode == 2 and "directed cycle" in r.stderr and "Traceback" not in r.stderr


def test_examples_lists_every_example():
    r = run("examples")
    assert r.returncode == 0
    for name in topo.catalog.EXAMPLES:
        assert name in r.stdout


def test_audit_with_sampling_adds_the_topology_check(tmp_path):
    r = run("audit", "--example", "shallow", "--sample", "1500", "--out", str(tmp_path), "--format", "json")
    assert r.returncode == 0, r.stderr
    t = json.loads((tmp_path / "report.json").read_text())["topology"]
    assert t["n_samples"] == 1500 and t["theory_b0"] == 8 and t["ph_betti"][0] == 8 and t["agree"]
    assert "persistent" in r.stdout
    r = run("audit", "--example", "shallow", "--sample", "-3")
    assert r.returncode == 2 and "--sample must be >= 0" in r.stderr


TORCH_FACTORY = '''
import torch


def scalar_out():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    with torch.no_grad():
        m[2].weight.copy_(torch.tensor([[5.0, -4.0]]))  # large output weights: c < 0 for both units
    return m, torch.randn(2, 3)
'''


def test_audit_torch_model_names_module_parameters(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "mymods.py").write_text(TORCH_FACTORY)
    env_cmd = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); from topo.cli import main; "
               "sys.exit(main(sys.argv[2:]))", str(tmp_path)]
    r = subprocess.run(env_cmd + ["audit", "--torch", "mymods:scalar_out", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["connectivity"]["n_components"] == 4
    sources = [w["source"] for w in rep["connectivity"]["frozen_edges"]]
    assert sources == [{"module": "2", "parameter": "weight", "index": ["0", "0"]},
                       {"module": "2", "parameter": "weight", "index": ["0", "1"]}]
    assert "[2.weight[0, 0]]" in r.stdout
    # a state_dict file replaces the weights: zero output weights, nothing frozen
    import torch

    sd = {"0.weight": torch.ones(2, 3), "0.bias": torch.zeros(2), "2.weight": torch.zeros(1, 2),
          "2.bias": torch.zeros(1)}
    torch.save(sd, tmp_path / "w.pt")
    r = subprocess.run(env_cmd + ["audit", "--torch", "mymods:scalar_out", "--weights", str(tmp_path / "w.pt"),
                                  "--out", str(tmp_path / "p")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "p" / "report.json").read_text())
    assert rep["connectivity"]["n_components"] == 1 and rep["balances"]["min"] == 3.0


def test_audit_torch_zoo_model_and_bad_targets(tmp_path):
    pytest.importorskip("torch")
    r = run("audit", "--torch", "topo.zoo:lenet", "--out", str(tmp_path), "--format", "json")
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["network"]["n_params"] == 61706 and "channel level" in rep["network"]["source"]
    for args, msg in [(("audit", "--torch", "nocolon"), "MODULE:FACTORY"),
                      (("audit", "--torch", "no.such.module:f"), "cannot load"),
                      (("audit", "--torch", "topo.zoo:nothing"), "cannot load"),
                      (("audit", "--mlp", "2,1", "--weights", "w.pt"), "--weights goes with --torch"),
                      (("audit", "--torch", "topo.zoo:mlp", "--weights", "/no/such.pt"), "cannot read weights")]:
        r = run(*args)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_mismatched_torchvision_gets_a_hint(tmp_path):
    pytest.importorskip("torch")  # --torch asks for PyTorch before it loads the factory's module
    # what a torchvision built for another torch raises on import (its compiled operators do not load)
    mod = tmp_path / "zoo_mismatch.py"
    mod.write_text("raise RuntimeError('operator torchvision::nms does not exist')\n")
    r = run("audit", "--torch", f"{mod}:make")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    err = r.stderr.strip().splitlines()[-1]
    assert "torchvision::nms does not exist" in err and "built for another torch" in err, err
    lazy = tmp_path / "zoo_lazy.py"  # a factory that imports the zoo when called
    lazy.write_text("def make():\n    raise RuntimeError('operator torchvision::nms does not exist')\n")
    r = run("audit", "--torch", f"{lazy}:make")
    err = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and "make() raised RuntimeError" in err and "built for another torch" in err, err
    other = tmp_path / "zoo_other.py"
    other.write_text("raise RuntimeError('something else')\n")
    r = run("audit", "--torch", f"{other}:make")
    assert r.returncode == 2 and "something else" in r.stderr and "another torch" not in r.stderr, r.stderr


def test_html_report_is_self_contained_with_figures(tmp_path):
    r = run("audit", "--example", "skip-dag", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("data:image/svg+xml;base64,") == 2
    assert "http" not in html.split("<body>", 1)[1]  # nothing loaded from elsewhere
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["singular_strata"]["complete"] and rep["singular_strata"]["strata"] == []
    assert sum(rep["balances"]["histogram"]["counts"]) == rep["network"]["n_constrained"]
    assert [p["layer"] for p in rep["balances"]["per_layer"]] == ["h"]
    r = run("audit", "--example", "skip-dag", "--max-strata", "-1")
    assert r.returncode == 2 and "--max-strata" in r.stderr


def test_zero_balance_units_are_reported_as_strata(tmp_path):
    spec = tmp_path / "z.yaml"
    spec.write_text("edges:\n  - [x, h, {weight: 1.0}]\n  - [x2, h, {weight: 0.0}]\n  - [h, y, {weight: -1.0}]\n"
                    "  - [x, g, {weight: 2.0}]\n  - [g, y, {weight: 1.0}]\n")
    r = run("audit", str(spec), "--out", str(tmp_path / "o"), "--format", "json,md")
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert [s["nodes"] for s in rep["singular_strata"]["strata"]] == [["h"]]
    assert "cut off `h`" in (tmp_path / "o" / "report.md").read_text()


def test_unsupported_layers_are_listed_in_the_report(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "gelu_mods.py").write_text(
        "import torch\n\ndef net():\n    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GELU(),"
        " torch.nn.Linear(4, 1))\n")
    cmd = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); from topo.cli import main; "
           "sys.exit(main(sys.argv[2:]))", str(tmp_path), "audit", "--torch", "gelu_mods:net", "--out",
           str(tmp_path / "o"), "--format", "json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["network"]["unsupported_layers"] == [{"type": "GELU", "name": "1"}]
    assert any(n.startswith("Not analysed: GELU (1)") for n in rep["notes"])
