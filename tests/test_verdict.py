"""The verdict-first summary, the per-layer table and prunable units mapped to model
parameters (issue 21), in every rendering: terminal, Markdown, HTML, Audit.summary(),
_repr_html_, Audit.layers(), Audit.prunable()."""

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import topo
from topo.cli import main
from topo.report import render_html, render_markdown
from topo.report.verdict import GLOSSARY

SHALLOW_VERDICT = [
    "  verdict",
    "  - The fiber has 8 connected components (2^3), one per sign pattern of the locked weights.",
    "  - 3 weights are locked in sign (gradient flow from these weights can never change their sign): "
    "h1_0 -> y0, h1_4 -> y0, h1_5 -> y0",
    "  - No unit is prunable: no unit's weights can all reach 0 on this fiber.",
    "  - All 6 hidden units carry a conserved balance.",
    f"  {GLOSSARY}",
    "  details",
]


def test_summary_starts_with_the_verdict_and_the_glossary():
    a = topo.audit("shallow")
    lines = a.summary().splitlines()
    assert lines[0] == "topo audit: shallow"
    assert lines[1:8] == SHALLOW_VERDICT
    # the frozen edges named in the verdict are those of the connectivity report
    frozen = {f"{u} -> {v}" for u, v in a.connectivity.frozen_edges}
    assert frozen == {"h1_0 -> y0", "h1_4 -> y0", "h1_5 -> y0"}


def test_connected_fiber_says_so():
    a = topo.audit([2, 3, 1], seed=0)
    text = a.summary()
    assert a.n_components == 1
    assert "  - The fiber is connected (1 component): these balances do not split the parameter space." in text
    assert "  - No weight is locked in sign." in text


def _locked_and_prunable_model():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    with torch.no_grad():  # unit 1: c = 0.5^2 - 0.5^2 = 0 (prunable); unit 2: c < 0 (its output weight locked)
        net[0].weight.copy_(torch.tensor([[1.0, 0.5], [0.5, 0.0], [0.3, -0.2]]))
        net[0].bias.copy_(torch.tensor([0.1, 0.0, 0.2]))
        net[2].weight.copy_(torch.tensor([[0.4, 0.5, 2.0]]))
    return net


LOCKED = "1 weight is locked in sign (gradient flow from these weights can never change its sign): 2.weight[0, 2]"
PRUNABLE = ("1 unit is prunable (the fiber holds points where all its weights are 0, and there removing it leaves "
            "the function unchanged): 0.1 (zeroes 0.weight[1, :], 0.bias[1], 2.weight[0, 1])")


def test_torch_verdict_names_model_parameters_in_every_rendering():
    net = _locked_and_prunable_model()
    a = topo.audit(net)
    text = a.summary()
    assert f"  - {LOCKED}" in text.splitlines() and f"  - {PRUNABLE}" in text.splitlines()
    md = render_markdown(a.report)
    assert md.index("## Verdict") < md.index("## Layers") < md.index("## Network")
    assert "`2.weight[0, 2]`" in md and "`0.weight[1, :]`" in md
    for html in (render_html(a.report), a._repr_html_()):
        assert html.index("Verdict") < html.index("Connectivity")
        assert "<code>2.weight[0, 2]</code>" in html and "<code>0.weight[1, :]</code>" in html
        assert "no unit is prunable" not in html.lower()


def test_prunable_parameters_cut_the_unit_off():
    """Zeroing exactly the entries the audit names cuts the unit off (checked on the re-imported model)."""
    torch = pytest.importorskip("torch")
    net = _locked_and_prunable_model()
    rows = topo.audit(net).prunable(records=True)
    assert rows == [{"units": ("0.1",), "layer": "0", "n_boundary_edges": 4,
                     "parameters": ("0.weight[1, :]", "0.bias[1]", "2.weight[0, 1]")}]
    with torch.no_grad():
        net[0].weight[1, :] = 0
        net[0].bias[1] = 0
        net[2].weight[0, 1] = 0
    imp = topo.from_torch(net)
    assert topo.floating_clusters(imp.architecture, imp.theta) == [["0.1"]]


def test_layers_table_adds_up():
    a = topo.audit("skip-dag")
    rows = a.layers(records=True)
    net, con = a.report["network"], a.report["connectivity"]
    arch = a.architecture
    assert sum(r["parameters"] for r in rows) == int(arch.edge_sizes[arch.edge_trainable].sum())
    assert sum(r["constrained"] for r in rows) == net["n_constrained"]
    assert sum(r["frozen_edges"] for r in rows) == con["n_frozen_edges"]
    assert sum(r["n_negative"] for r in rows) == a.report["balances"]["n_negative"]
    for r in rows:
        if r["constrained"]:
            cs = [float(x) for v, x in zip(a.architecture.constrained, a.c) if topo.report.schema.layer_key(v) == r["layer"]]
            assert (r["balance_min"], r["balance_max"]) == (min(cs), max(cs))


def test_layers_dataframe_or_records(monkeypatch):
    pd = pytest.importorskip("pandas")
    a = topo.audit("shallow")
    df = a.layers()
    assert isinstance(df, pd.DataFrame) and list(df["layer"]) == ["x", "h1", "y"]
    monkeypatch.setitem(sys.modules, "pandas", None)  # pandas missing: records
    assert a.layers() == a.layers(records=True)
    assert isinstance(a.prunable(), list)


def test_torch_layers_have_types_shapes_and_free_reasons():
    pytest.importorskip("torch")
    import torch
    from torch import nn
    from topo import zoo
    from topo.nn.result import UnsupportedLayerWarning

    model, x = zoo.residual_mlp(width=5, depth=2)
    a = topo.audit(model, example_input=x, max_strata=0)
    rows = {r["layer"]: r for r in a.layers(records=True)}
    assert rows["blocks.0.fc1"]["type"] == "Linear" and rows["blocks.0.fc1"]["output_shape"][-1] == 5
    assert rows["blocks.0.fc1"]["constrained"] == 5 and rows["blocks.0.fc1"]["shared"] == 0
    # the stream: the projections and the adds belong to the classes of the input layer's units
    for name in ("inp", "blocks.0.fc2", "add", "blocks.1.fc2", "add_1"):
        assert rows[name]["constrained"] == rows[name]["shared"] == 5 and rows[name]["free"] == 0, rows[name]
        assert rows[name]["balance_min"] <= rows[name]["balance_max"]
    # trainable weights only: the residual adds' fixed edges count nowhere
    assert sum(r["parameters"] for r in rows.values()) == sum(p.numel() for p in model.parameters())
    assert rows["add"]["parameters"] == 0
    assert "All 35 hidden units carry a conservation law, in 15 conserved balances, 5 of them shared" in a.summary()
    # free units, with the reason the analysis gives
    torch.manual_seed(0)
    gelu = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 2))
    with pytest.warns(UnsupportedLayerWarning):
        b = topo.audit(gelu, example_input=torch.randn(2, 3), max_strata=0)
    rows = {r["layer"]: r for r in b.layers(records=True)}
    reasons = b.architecture.free_reasons  # the reason text belongs to the analysis, not to this test
    free = [r for r in rows.values() if r["free"]]
    assert free and all(r["free_reason"] in set(reasons.values()) for r in free)
    top = max(set(reasons.values()), key=list(reasons.values()).count)
    assert f"are free (mostly: {top})" in b.summary()


def test_cli_layers_flag(capsys, tmp_path, monkeypatch):
    rc = main(["audit", "--example", "shallow", "--layers"])
    out = capsys.readouterr().out
    assert rc == 0
    table = out[out.index("\n  layers\n"):].splitlines()[2:]
    # a spec network has no output shapes and every unit is constrained: those two columns are left out
    assert table[0].split() == ["layer", "type", "parameters", "units", "constrained", "shared",
                                "free", "balance", "range", "c", "<", "0", "frozen", "edges", "prunable"]
    assert table[2].split()[:3] == ["h1", "relu", "18"]
    rc = main(["audit", "--example", "shallow"])
    assert "\n  layers\n" not in capsys.readouterr().out
    pytest.importorskip("torch")
    rc = main(["audit", "--torch", "topo.zoo:mlp", "-q"])
    assert rc == 0
    rc = main(["audit", "--torch", "topo.zoo:mlp"])
    assert "\n  layers\n" in capsys.readouterr().out
    rc = main(["audit", "--torch", "topo.zoo:mlp", "--no-layers"])
    assert "\n  layers\n" not in capsys.readouterr().out


def test_html_has_verdict_first_and_layers_table():
    a = topo.audit("shallow")
    html = render_html(a.report)
    assert html.index("<h2>Verdict</h2>") < html.index("<h2>Layers</h2>") < html.index("<h2>Connectivity</h2>")
    assert "<code>h1_0 → y0</code>" in html  # edges written as in the page's tables
    assert "8 connected components (2<sup>3</sup>)" in html
    assert sum(r["parameters"] for r in a.layers(records=True)) == a.architecture.n_params  # all trainable


def test_html_layers_table_groups_counts_and_leaves_out_empty_columns():
    """The HTML table writes counts as the cards do (thin-space groups) and shows no column that is
    empty in every row (a widths network has no output shapes, and no free unit to explain)."""
    from topo.report.verdict import layers_html

    a = topo.audit([40, 30, 1])
    row = next(r for r in a.layers(records=True) if r["layer"] == "h1")
    assert row["parameters"] == 40 * 30 + 30
    table = layers_html(a.report)
    assert "<td class='num'>1\u2009230</td>" in table
    assert "output shape" not in table and "free because" not in table and "<th>shared</th>" in table


def test_strata_sections_name_the_entries_pruning_zeroes():
    """Not only the verdict: the Singular strata sections of the Markdown and HTML reports list the
    model entries each stratum zeroes."""
    a = topo.audit(_locked_and_prunable_model())
    md = render_markdown(a.report)
    strata = md[md.index("## Singular strata"):]
    assert "- cut off `0.1` (boundary: " in strata and "; zeroes `0.weight[1, :]`, `0.bias[1]`, `2.weight[0, 1]`)" in strata
    html = render_html(a.report)
    strata = html[html.index("<h2>Singular strata</h2>"):]
    assert "<th>weights pruning them zeroes</th>" in strata and "<code>0.bias[1]</code>" in strata


def test_html_writes_group_orders_as_powers():
    """A group order too large to print is ``≈ 10^k``; the page shows it as a power, like 2^k."""
    arch = topo.Architecture.mlp([2, 12, 1])
    theta = arch.init("kaiming", seed=0)
    theta[[i for i, (u, v) in enumerate(arch.edges) if v == "y0" and u != "b2"]] *= 10  # out-weights: c < 0
    a = topo.audit(arch, theta)
    assert a.report["connectivity"]["symmetry"]["group"]["log10_order"] > 6  # S_12 and more: above 10^6
    html = render_html(a.report)
    assert "10^" not in html and "automorphism group of order ≈ 10<sup>" in html


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab._19٣", max_size=8) | st.integers(-20, 2000))
def test_layer_key_strips_one_trailing_index(name):
    """The layer of a unit by its definition (a regex): the name without a trailing ``[._]?<digits>``,
    or the name itself when nothing would remain (ASCII digits: topo's unit names)."""
    import re

    s = str(name)
    expected = re.sub(r"[._]?[0-9]+\Z", "", s) or s
    assert topo.report.schema.layer_key(name) == expected
