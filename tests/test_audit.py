"""topo.audit and the Audit object: every kind of target, the tidy tables against
brute-force oracles (LP frozen edges, balances by hand), saving, and what a
notebook displays."""

import json
from html.parser import HTMLParser

import networkx as nx
import numpy as np
import pytest

import topo
from topo.errors import TargetError
from tests.oracles import check_witness, class_balances, lp_frozen_edges, random_dag


def balances_by_hand(G: nx.DiGraph, theta: np.ndarray) -> dict:
    """c of every constrained class (by its first member): squared norms of the trainable edges
    entering the class minus those leaving it, from the graph and the flat θ in edge order."""
    q, pos = {}, 0
    for u, v, d in G.edges(data=True):
        k = d.get("size", 1)
        q[(u, v)] = float(np.sum(theta[pos:pos + k] ** 2))
        pos += k
    return class_balances(G, q)


@pytest.mark.parametrize("seed", range(12))
def test_tables_match_oracles_on_random_dags(seed):
    rng = np.random.default_rng(1000 + seed)
    G = random_dag(rng)
    arch = topo.Architecture.from_networkx(G)
    theta = rng.standard_normal(arch.n_params) * rng.uniform(0.3, 2.0, arch.n_params)
    a = topo.audit(arch, theta, max_listed=1)
    c = balances_by_hand(G, theta)
    rows = a.balances(records=True)
    assert [r["node"] for r in rows] == list(arch.constrained) and set(c) == set(arch.constrained)
    for r in rows:
        assert r["balance"] == pytest.approx(c[r["node"]], abs=1e-9)
        assert r["sign"] == ("positive" if c[r["node"]] > 1e-9 else "negative" if c[r["node"]] < -1e-9 else "zero")
    frozen, _ = lp_frozen_edges(G, c)
    table = a.frozen_edges(records=True)
    assert {(r["source"], r["target"]) for r in table} == frozen  # all of them, although max_listed=1
    for r in table:
        check_witness(G, c, (r["source"], r["target"]), r["kind"], r["witness"], r["sum_c"])
        assert r["size"] == G.edges[r["source"], r["target"]].get("size", 1)
    n_scalar = sum(1 for r in table if r["size"] == 1)
    assert a.n_components == 2**n_scalar == 2 ** a.to_dict()["connectivity"]["log2_n_components"]
    assert len(a.to_dict()["connectivity"]["frozen_edges"]) == min(1, len(frozen))


def test_targets_widths_architecture_spec_example(tmp_path):
    by_widths = topo.audit([3, 4, 2], seed=5)
    arch = topo.Architecture.mlp([3, 4, 2])
    by_arch = topo.audit(arch, arch.init("kaiming", seed=5))
    assert np.array_equal(by_widths.theta, by_arch.theta) and by_widths.name == "mlp-3-4-2"
    assert by_widths.to_dict()["balances"] == by_arch.to_dict()["balances"]
    spec = tmp_path / "chain.yaml"
    spec.write_text("edges:\n  - [x, h, {weight: 1.0}]\n  - [h, y, {weight: 3.0}]\n")
    a = topo.audit(spec)  # a path object works like a string
    assert a.frozen_edges(records=True) == [
        {"source": "h", "target": "y", "size": 1, "kind": "out", "witness": ("h",), "sum_c": -8.0}]
    theta = np.array([3.0, 1.0])  # replaces the spec's weights: c = 8 > 0, the edge into h is frozen
    assert [r["kind"] for r in topo.audit(str(spec), theta).frozen_edges(records=True)] == ["in"]
    ex = topo.catalog.get("shallow")
    a = topo.audit("shallow")
    assert np.array_equal(a.theta, ex.theta) and a.name == "shallow"


def test_bad_targets_and_options_name_the_problem(tmp_path):
    with pytest.raises(TargetError, match="cannot audit a dict"):
        topo.audit({"edges": []})
    with pytest.raises(TypeError, match="layer widths"):
        topo.audit(3.5)
    with pytest.raises(topo.SpecError, match="cannot read spec file"):
        topo.audit(str(tmp_path / "nope.yaml"))
    with pytest.raises(ValueError, match="sample must be an integer >= 0"):
        topo.audit([2, 1], sample=-1)
    with pytest.raises(topo.ParameterError):
        topo.audit(topo.Architecture.mlp([2, 1]), np.zeros(5))


def test_torch_module_and_import_targets():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    with torch.no_grad():
        m[2].weight.copy_(torch.tensor([[5.0, -4.0]]))  # large output weights: c < 0 for both units
    a = topo.audit(m)
    assert a.n_components == 4 and a.name == "Sequential"
    table = a.frozen_edges(records=True)
    assert [(r["module"], r["parameter"], r["index"]) for r in table] == [("2", "weight", (0, 0)),
                                                                         ("2", "weight", (0, 1))]
    b = topo.audit(topo.from_torch(m))
    assert b.to_dict()["connectivity"] == a.to_dict()["connectivity"]
    with pytest.raises(TypeError, match="load the weights into the module"):
        topo.audit(m, np.zeros(9))
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8, 1))
    c = topo.audit(conv, example_input=(1, 1, 4, 4))  # an input shape instead of a tensor
    assert c.report["network"]["n_constrained"] == 2 and "channel level" in c.report["network"]["source"]


def test_progress_reports_each_stage_in_order():
    seen = []
    topo.audit("shallow", sample=200, progress=seen.append)
    assert seen == ["connectivity", "symmetry", "strata", "sampling"]


def test_save_writes_what_to_dict_holds(tmp_path):
    a = topo.audit("skip-dag")
    paths = a.save(tmp_path / "out")
    assert [p.name for p in paths] == ["report.json", "report.md", "report.html"]
    assert json.loads(paths[0].read_text()) == a.to_dict()
    assert paths[1].read_text().startswith("# topo audit: skip-dag")
    d = a.to_dict()
    d["network"]["name"] = "changed"
    assert a.name == "skip-dag"  # to_dict is a copy
    assert a.summary() == topo.report.render_text(a.report)


def test_tables_are_dataframes_with_pandas():
    pd = pytest.importorskip("pandas")
    a = topo.audit("shallow")
    df = a.frozen_edges()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["source", "target", "size", "kind", "witness", "sum_c"]
    assert len(df) == 3 and (df["sum_c"] < 0).all()
    bal = a.balances()
    assert list(bal.columns) == ["node", "layer", "balance", "sign"]
    assert (bal["sign"] == "negative").sum() == a.report["balances"]["n_negative"] == 3


class _Balanced(HTMLParser):
    """Checks that every element is closed in order (void elements excepted)."""

    VOID = {"meta", "img", "br", "hr", "input", "link", "source", "wbr", "col", "area", "base"}

    def __init__(self):
        super().__init__()
        self.stack, self.problems, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if not self.stack or self.stack[-1] != "style":
            self.text.append(data)


def test_notebook_display_is_valid_html_with_the_component_count():
    a = topo.audit("shallow")
    html = a._repr_html_()
    p = _Balanced()
    p.feed(html)
    p.close()
    assert p.problems == [] and p.stack == []
    text = " ".join(" ".join(p.text).split())
    assert a.n_components == 8 and "8 (= 2 3 ) connected components of the fiber" in text and "`" not in text
    # what Jupyter does with the object: IPython's display formatter picks _repr_html_
    ip = pytest.importorskip("IPython.core.formatters")
    data, _ = ip.DisplayFormatter().format(a)
    assert data["text/html"] == html and data["text/plain"].startswith("<Audit 'shallow'")
