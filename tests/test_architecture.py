"""Construction, views and input validation of Architecture."""

import json

import networkx as nx
import numpy as np
import pytest

import topo
from topo.errors import CycleError, GraphError, ParameterError


def test_mlp_structure_matches_linear_layers():
    arch = topo.Architecture.mlp([3, 4, 2])
    assert arch.n_params == 3 * 4 + 4 + 4 * 2 + 2
    assert arch.inputs == ["x0", "x1", "x2"] and arch.biases == ["b1", "b2"]
    assert arch.outputs == ["y0", "y1"]
    assert arch.constrained == [f"h1_{i}" for i in range(4)]
    # parameter order: W1 row-major (row = output unit), b1, W2, b2
    assert arch.edges[:4] == [("x0", "h1_0"), ("x1", "h1_0"), ("x2", "h1_0"), ("x0", "h1_1")]
    assert arch.edges[12:16] == [("b1", f"h1_{i}") for i in range(4)]
    assert arch.edges[-2:] == [("b2", "y0"), ("b2", "y1")]


@pytest.mark.parametrize("bad", [[3], [3, 0, 1], [2, -1], ["a", 2], []])
def test_mlp_rejects_bad_widths(bad):
    with pytest.raises(GraphError, match="widths"):
        topo.Architecture.mlp(bad)


def test_cycle_is_named():
    with pytest.raises(CycleError) as info:
        topo.Architecture.from_edges([("x", "a"), ("a", "b"), ("b", "c"), ("c", "a"), ("c", "y")])
    assert set(info.value.cycle) == {"a", "b", "c"}
    assert "'a' -> 'b' -> 'c' -> 'a'" in str(info.value) or "cycle" in str(info.value)


def test_cycle_message_lists_the_cycle_in_order():
    with pytest.raises(CycleError, match=r"'b' -> 'c' -> 'b'"):
        topo.Architecture.from_edges([("x", "b"), ("b", "c"), ("c", "b"), ("c", "y")])


@pytest.mark.parametrize(
    "edges, match",
    [
        ([("x", "h"), ("h", "h"), ("h", "y")], "self-loop on node 'h'"),
        ([("x", "h"), ("x", "h"), ("h", "y")], r"duplicated edge \('x', 'h'\)"),
        ([("x", "h", {"size": 0}), ("h", "y")], "size 0"),
        ([("x", "h", {"size": 1.5}), ("h", "y")], "must be a whole number, got 1.5"),
        ([("x", "h", {"colour": 1}), ("h", "y")], "unknown edge attribute"),
        ([("x",)], "an edge must be"),
    ],
)
def test_bad_edges(edges, match):
    with pytest.raises(GraphError, match=match):
        topo.Architecture.from_edges(edges)


def test_unknown_activation_is_an_error_but_free_names_are_accepted():
    with pytest.raises(GraphError, match="unknown activation 'rleu' for node 'h'"):
        topo.Architecture.from_edges([("x", "h"), ("h", "y")], activations={"h": "rleu"})
    arch = topo.Architecture.from_edges([("x", "h"), ("h", "y")], activations={"h": "free:layernorm"})
    assert arch.free == ["h"] and "not positively homogeneous" in arch.free_reasons["h"]


def test_hidden_node_without_path_is_rejected_with_explicit_roles():
    with pytest.raises(GraphError, match="hidden node 'h' is on no input->output path: it has no incoming"):
        topo.Architecture.from_edges([("h", "y"), ("x", "y")], roles={"h": "hidden"})
    with pytest.raises(GraphError, match="output node 'y' has an outgoing edge"):
        topo.Architecture.from_edges([("x", "y"), ("y", "z")], roles={"y": "output"})
    with pytest.raises(GraphError, match="input node 'x' has an incoming edge"):
        topo.Architecture.from_edges([("a", "x"), ("x", "y")], roles={"x": "input"})
    with pytest.raises(GraphError, match="has no edges"):
        topo.Architecture.from_edges([("x", "y")], nodes=["x", "y", "z"])


def test_fixed_edges_join_units_into_one_rescaling_class():
    G = nx.DiGraph()
    G.add_edge("x", "h1")
    G.add_edge("h1", "h2", trainable=False)  # a fixed skip: h1 and h2 rescale together
    G.add_edge("h2", "y")
    G.add_edge("x", "h3")
    G.add_edge("h3", "y")
    arch = topo.Architecture.from_networkx(G)
    assert arch.free == [] and arch.constrained == ["h1", "h3"]
    assert arch.rescaling_classes == [["h1", "h2"], ["h3"]]
    assert arch.constrained_row("h2") == 0 and arch.n_shared == 1
    assert arch.class_members("h2") == ["h1", "h2"]


def test_a_class_touching_an_input_or_a_free_unit_is_free():
    G = nx.DiGraph()
    G.add_edge("x", "a", trainable=False)
    G.add_edge("a", "y")
    G.add_edge("x", "g")
    G.add_node("g", activation="gelu")
    G.add_edge("g", "b", trainable=False)
    G.add_edge("b", "y")
    arch = topo.Architecture.from_networkx(G)
    assert arch.constrained == []
    assert arch.free_reasons == {
        "a": "joined by fixed edges to input 'x'",
        "g": "activation 'gelu' is not positively homogeneous",
        "b": "class holds 'g' (gelu)",
    }


def test_from_networkx_rejects_multigraphs_and_undirected():
    with pytest.raises(GraphError, match="DiGraph"):
        topo.Architecture.from_networkx(nx.MultiDiGraph([("x", "y")]))
    with pytest.raises(GraphError, match="DiGraph"):
        topo.Architecture.from_networkx(nx.Graph([("x", "y")]))


def test_networkx_round_trip_and_parameters():
    G = nx.DiGraph()
    G.add_node("b", role="bias")
    G.add_edge("x", "h", size=2, weight=[1.0, 2.0])
    G.add_edge("b", "h", weight=0.5)
    G.add_edge("h", "y", weight=-1.0)
    arch = topo.Architecture.from_networkx(G)
    assert arch.edges == list(G.edges)  # parameter order is G.edges order
    assert arch.biases == ["b"] and arch.edge_sizes.tolist() == [1, 2, 1]
    assert topo.Architecture.from_networkx(arch.to_networkx()) == arch
    theta = arch.parameters_from_networkx(G)
    np.testing.assert_array_equal(theta, [0.5, 1.0, 2.0, -1.0])
    np.testing.assert_allclose(topo.balance(arch, theta), [1 + 4 + 0.25 - 1])


def test_nodes_are_reordered_topologically_and_edges_keep_parameter_order():
    arch = topo.Architecture.from_edges([("h", "y"), ("x", "h")])
    assert arch.nodes == ["x", "h", "y"]
    assert arch.edges == [("h", "y"), ("x", "h")]
    np.testing.assert_allclose(topo.balance(arch, [1.0, 3.0]), [9.0 - 1.0])


def test_as_vector_validation_names_the_problem():
    arch = topo.Architecture.from_edges([("x", "h", {"size": 3}), ("h", "y")])
    with pytest.raises(ParameterError, match=r"shape \(3,\) but the architecture has 4 parameters"):
        arch.as_vector(np.zeros(3))
    with pytest.raises(ParameterError, match=r"edge \('x', 'h'\) carries 3 weight\(s\).*got shape \(2, 2\)"):
        arch.as_vector({("x", "h"): np.zeros((2, 2)), ("h", "y"): 1.0})
    with pytest.raises(ParameterError, match="no value for 1 edge"):
        arch.as_vector({("x", "h"): np.zeros(3)})
    with pytest.raises(GraphError, match=r"\('y', 'x'\) is not an edge"):
        arch.as_vector({("x", "h"): np.zeros(3), ("h", "y"): 1.0, ("y", "x"): 2.0})
    with pytest.raises(ParameterError, match=r"inf at parameter 3 \(edge \('h', 'y'\)\)"):
        arch.as_vector([0, 0, 0, np.inf])
    with pytest.raises(ParameterError, match="cannot be read"):
        arch.as_vector(["a", "b", "c", "d"])
    m = arch.to_mapping(np.arange(4.0))
    np.testing.assert_array_equal(arch.as_vector(m), np.arange(4.0))


@pytest.mark.parametrize("scheme", ["kaiming", "xavier", "normal", "uniform"])
def test_init_is_deterministic_and_scaled(scheme):
    arch = topo.Architecture.mlp([50, 40, 3])
    a, b = arch.init(scheme, seed=3), arch.init(scheme, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, arch.init(scheme, seed=4))
    first = a[: 50 * 40]  # fan_in 51 (50 inputs + bias)
    expected_std = {"kaiming": np.sqrt(2 / 51), "xavier": np.sqrt(2 / (51 + 40)), "normal": 1.0,
                    "uniform": 1 / np.sqrt(51) / np.sqrt(3)}[scheme]
    assert abs(first.std() / expected_std - 1) < 0.1
    with pytest.raises(ValueError, match="unknown init scheme"):
        arch.init("he")


def test_induced_subarchitecture():
    arch = topo.Architecture.mlp([2, 3, 1])
    sub = arch.induced([v for v in arch.nodes if v != "h1_1"])
    assert "h1_1" not in sub.nodes and sub.n_edges == arch.n_edges - 4
    assert sub.role("b1") == "bias"
    with pytest.raises(GraphError, match="no input->output path"):
        arch.induced(["x0", "h1_0"])


def test_views_and_lookups():
    arch = topo.Architecture.from_edges([("x", "h", {"size": 2}), ("h", "y")])
    assert arch.edge_slice(("h", "y")) == slice(2, 3)
    assert arch.param_edge.tolist() == [0, 0, 1]
    assert arch.role("x") == "input" and arch.activation("h") == "relu"
    assert arch.constrained_row("h") == 0
    with pytest.raises(GraphError, match="not constrained"):
        arch.constrained_row("x")
    with pytest.raises(GraphError, match="unknown node 'z'"):
        arch.role("z")
    assert "constrained=1" in repr(arch)
    json.dumps(topo.decompose(arch).to_dict())


def test_from_arrays_validates_indices():
    with pytest.raises(GraphError, match="node indices"):
        topo.Architecture.from_arrays([0, 1], [1, 5], nodes=3)
    with pytest.raises(GraphError, match="listed twice"):
        topo.Architecture.from_arrays([0], [1], nodes=["a", "a"])


@pytest.mark.parametrize("seed", range(5))
def test_from_arrays_without_a_copy_takes_the_arrays_over(seed):
    rng = np.random.default_rng(seed)
    widths = rng.integers(2, 6, size=4).tolist()
    ref = topo.Architecture.mlp(widths)
    src, dst = np.array(ref.src, dtype=np.int64), np.array(ref.dst, dtype=np.int64)
    sizes = rng.integers(1, 4, size=len(src)).astype(np.int64)
    trainable = rng.random(len(src)) < 0.8
    arrays = (src, dst, sizes, trainable)
    copied = topo.Architecture.from_arrays(*arrays[:2], nodes=ref.nodes, sizes=sizes, trainable=trainable)
    assert all(a.flags.writeable for a in arrays)  # the default copies: the caller's arrays are untouched
    owned = topo.Architecture.from_arrays(*arrays[:2], nodes=ref.nodes, sizes=sizes, trainable=trainable,
                                          copy=False)
    assert all(np.shares_memory(getattr(owned, k), a) for k, a in
               zip(("src", "dst", "edge_sizes", "edge_trainable"), arrays))  # taken over, not copied
    assert not np.shares_memory(copied.src, src) and not owned.src.flags.writeable
    for name in ("src", "dst", "edge_sizes", "edge_trainable", "node_row"):
        assert np.array_equal(getattr(owned, name), getattr(copied, name)), name
    assert owned.constrained == copied.constrained
