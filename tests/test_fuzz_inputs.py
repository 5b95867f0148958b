"""Fuzzing the boundary (issue 11): whatever ``from_edges``, ``from_arrays``, ``parse_spec``,
``read_spec`` and the CLI argument parser are given, they return a valid result or raise a
``TopoError`` (a ``ValueError``), within a time bound.  Derandomised (see conftest.py).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import topo
from topo.errors import TopoError, UsageError
from topo.report import audit

_BOUND = 5.0  # seconds per call: far above the ~ms a valid small input takes
_FUZZ = settings(max_examples=500, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _bounded(fn, *args, **kwargs):
    """Call ``fn``; return its result or the TopoError it raised; fail on anything else
    (the exception propagates) and on a call slower than the bound."""
    t0 = time.perf_counter()
    try:
        out = fn(*args, **kwargs)
    except TopoError as exc:
        assert isinstance(exc, ValueError)
        message = str(exc)
        assert "\n" not in message and len(message) < 2000, message[:300]
        out = exc
    assert time.perf_counter() - t0 < _BOUND
    return out


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 12), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1.0, 2.0, 0.5, 1e-170, 1e170, -1.0]),
    st.text(max_size=6), st.sampled_from(["x", "h", "y", "b", "relu", "gelu", "bias", "input", "output",
                                          "hidden", "true", "false", "no", "1", "x -> h", "h -> y", "$x$"]),
)
_json = st.recursive(_scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                      st.dictionaries(st.text(max_size=5), kids, max_size=4)),
                     max_leaves=12)
_names = st.one_of(st.sampled_from(["x", "x2", "h", "g", "y", "b", 1, 2, "true"]), _scalars,
                   st.lists(st.integers(0, 2), max_size=2), st.tuples(st.integers(0, 2)))
_keys = st.one_of(st.sampled_from(["x", "x2", "h", "g", "y", "b", 1, 2, "true"]), _scalars,
                  st.tuples(st.integers(0, 2)))
_attr_keys = st.sampled_from(["size", "trainable", "weight", "colour"])
_attrs = st.dictionaries(_attr_keys, st.one_of(_scalars, st.lists(_scalars, max_size=3)), max_size=3)
_edge = st.one_of(
    st.tuples(_names, _names),
    st.tuples(_names, _names, _attrs),
    st.lists(_names, max_size=4),
    _scalars,
)
_spec_edge = st.one_of(
    st.lists(_names, min_size=2, max_size=2),
    st.tuples(_names, _names, _attrs).map(list),
    st.fixed_dictionaries({"source": _names, "target": _names}, optional={"size": _scalars, "weight": _scalars,
                                                                          "trainable": _scalars}),
    _json,
)
_node_entry = st.one_of(_names, st.fixed_dictionaries({"id": _names}, optional={
    "role": st.one_of(st.sampled_from(["input", "bias", "hidden", "output", "boss"]), _scalars),
    "activation": st.one_of(st.sampled_from(["relu", "gelu", "linear", "free:x", "rleu"]), _scalars)}))
_spec_doc = st.one_of(
    st.fixed_dictionaries({"edges": st.lists(_spec_edge, max_size=6)}, optional={
        "nodes": st.one_of(st.lists(_node_entry, max_size=4), _json),
        "name": st.one_of(st.text(max_size=8), _json),
        "version": st.one_of(st.just(1), _scalars),
        "activation": st.one_of(st.sampled_from(["relu", "tanh"]), _scalars),
        "weights": st.one_of(st.lists(_scalars, max_size=6), st.dictionaries(
            st.sampled_from(["x -> h", "h -> y", "x", "1 -> 2"]), _scalars, max_size=3), _json),
    }),
    st.fixed_dictionaries({"mlp": st.one_of(
        st.lists(st.one_of(st.integers(-2, 5), _scalars), max_size=4),
        st.fixed_dictionaries({"widths": st.one_of(st.lists(st.integers(-1, 4), max_size=4), _json)},
                              optional={"bias": _scalars, "extra": _scalars}),
        _json)}),
    _json,
)


@_FUZZ
@given(doc=_spec_doc)
def test_parse_spec_gives_a_spec_or_a_spec_error(doc):
    out = _bounded(topo.graph.spec.parse_spec, doc)
    if isinstance(out, TopoError):
        assert isinstance(out, topo.SpecError)
    else:
        arch = out.architecture
        assert isinstance(arch, topo.Architecture)
        assert out.theta is None or (out.theta.shape == (arch.n_params,) and np.all(np.isfinite(out.theta)))


@_FUZZ
@given(edges=st.lists(_edge, max_size=7), roles=st.one_of(st.none(), st.dictionaries(_keys, _scalars, max_size=2)))
def test_from_edges_gives_an_architecture_or_a_topo_error(edges, roles):
    out = _bounded(topo.Architecture.from_edges, edges, roles=roles)
    if isinstance(out, topo.Architecture):
        assert out.n_edges == len(edges)
        order = {v: i for i, v in enumerate(out.nodes)}
        assert all(order[u] < order[v] for u, v in out.edges)  # stored in topological order


_ints_or_junk = st.one_of(
    st.lists(st.integers(-2, 7), max_size=8),
    st.lists(st.floats(-2, 7), max_size=8),
    st.lists(st.sampled_from([0, 1, 2, 0.5, "1", True, None, 2**70]), max_size=5),
    _json,
)


@_FUZZ
@given(src=_ints_or_junk, dst=_ints_or_junk,
       nodes=st.one_of(st.none(), st.integers(-1, 9), st.floats(0, 9), st.lists(_names, max_size=8)),
       sizes=st.one_of(st.none(), _ints_or_junk), trainable=st.one_of(st.none(), _ints_or_junk))
def test_from_arrays_gives_an_architecture_or_a_topo_error(src, dst, nodes, sizes, trainable):
    out = _bounded(topo.Architecture.from_arrays, src, dst, nodes=nodes, sizes=sizes, trainable=trainable)
    if isinstance(out, topo.Architecture):
        assert np.array_equal(np.sort(out.edge_sizes), np.sort(out.edge_sizes)) and out.n_edges == len(src)
        assert np.all(np.asarray(src) == np.floor(np.asarray(src, dtype=float)))  # nothing was truncated


_tokens = st.one_of(
    st.sampled_from(["audit", "examples", "--mlp", "--example", "--seed", "--sample", "--max-listed",
                     "--max-strata", "--format", "--out", "--init", "--level", "--no-bias", "-q", "--weights",
                     "--random-weights", "2,8,1", "2,-8,1", "-1", "0", "3", "1e3", "json", "md,html", "",
                     ",", "shallow", "kaiming", "--mlp=-2,8,1", "--seed=-1", "x.yaml"]),
    st.text(max_size=8),
)


@_FUZZ
@given(argv=st.lists(_tokens, max_size=8))
def test_cli_parser_gives_arguments_or_a_usage_error(argv):
    from topo.cli import parse_args

    out = _bounded(parse_args, argv)
    if isinstance(out, TopoError):
        assert isinstance(out, UsageError)
    elif out.command == "audit":
        assert out.seed >= 0 and out.sample >= 0 and out.max_listed >= 0 and out.max_strata >= 0
        assert out.formats and set(out.formats) <= {"json", "md", "html"}
        assert out.widths is None or (len(out.widths) >= 2 and min(out.widths) >= 1)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=st.one_of(st.text(max_size=80), st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
                      st.lists(st.sampled_from(["edges:", " - [x, y]", "&a", "*a", "[", "{", "}", "]", ":",
                                                "- ", "size: 2", "weight: .nan", "\t", "!!python/object",
                                                "trainable: no", "mlp: [2, 1]", "\n", "<<: *a"]),
                               max_size=12).map(" ".join)),
       suffix=st.sampled_from([".yaml", ".json"]))
def test_read_spec_on_arbitrary_text(tmp_path_factory, text, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"s{suffix}"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass") if suffix == ".yaml" else
                     text.encode("latin-1", errors="replace"))
    out = _bounded(topo.read_spec, path)
    assert isinstance(out, (topo.graph.spec.Spec, topo.SpecError))
    assert [p.name for p in path.parent.iterdir()] == [path.name]


# ----------------------------------------------------------------------------- θ -> 2^k θ
@settings(max_examples=80, deadline=None, derandomize=True)
@given(widths=st.lists(st.integers(1, 3), min_size=3, max_size=4), seed=st.integers(0, 10**6),
       k=st.integers(-540, 500), bias=st.booleans())
def test_balances_and_frozen_edges_are_invariant_under_power_of_two_scaling(widths, seed, k, bias):
    arch = topo.Architecture.mlp(widths, bias=bias)
    theta = arch.init("normal", seed=seed)
    scaled = np.ldexp(theta, k)
    c0, e0 = topo.scaled_balance(arch, theta)
    c1, e1 = topo.scaled_balance(arch, scaled)
    np.testing.assert_array_equal(c0, c1)  # exact: only the exponent moves
    assert e1 == e0 + 2 * k
    assert topo.component_label(arch, scaled) == topo.component_label(arch, theta)
    rep0 = audit(arch, theta, max_strata=0)
    rep1 = audit(arch, scaled, max_strata=0)
    for key in ("n_components", "n_frozen_edges", "n_frozen_scalar_edges"):
        assert rep0["connectivity"][key] == rep1["connectivity"][key]
    assert [w["edge"] for w in rep0["connectivity"]["frozen_edges"]] == \
        [w["edge"] for w in rep1["connectivity"]["frozen_edges"]]
    if -400 < k < 400:  # representable: the plain balances scale exactly too
        np.testing.assert_array_equal(topo.balance(arch, scaled), np.ldexp(topo.balance(arch, theta), 2 * k))


@pytest.mark.parametrize("k", [-600, -540, 480])
def test_balance_has_no_spurious_nan_or_zero(k):
    arch = topo.Architecture.mlp([1, 1, 1], bias=False)
    theta = np.ldexp(np.array([1.0, 1.0]), k)  # balanced: c = 0 exactly, |θ|² outside the float range
    c, e = topo.scaled_balance(arch, theta)
    assert c.tolist() == [0.0] and not np.isnan(topo.balance(arch, theta)).any()
    theta = np.ldexp(np.array([1.0, 2.0]), k)
    c, e = topo.scaled_balance(arch, theta)
    assert c[0] < 0 and np.ldexp(c[0], e - 2 * k) == -3.0
