"""Spec files: reading, writing and errors."""

import json

import numpy as np
import pytest

import topo
from topo.errors import SpecError


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_yaml_spec_with_nodes_edges_and_weights(tmp_path):
    p = _write(tmp_path, "net.yaml", """
version: 1
name: small
activation: relu
nodes:
  - {id: x, role: input}
  - {id: b, role: bias}
  - {id: g, activation: gelu}
  - h
edges:
  - [x, h, {weight: 1.0}]
  - [b, h, {weight: 0.5}]
  - {source: h, target: g, size: 2, weight: [1.0, -1.0]}
  - [g, y, {weight: 2.0}]
""")
    spec = topo.read_spec(p)
    arch = spec.architecture
    assert spec.name == "small"
    assert arch.biases == ["b"] and arch.free == ["g"] and arch.constrained == ["h"]
    np.testing.assert_allclose(topo.balance(arch, spec.theta), [1.0 + 0.25 - 2.0])
    assert topo.read_spec(p).architecture == arch  # (Architecture.from_spec was removed: graph.architecture is below graph.spec)


def test_mlp_shorthand_and_round_trip(tmp_path):
    p = _write(tmp_path, "m.json", json.dumps({"mlp": {"widths": [2, 3, 1], "bias": False}}))
    arch = topo.read_spec(p).architecture
    assert arch == topo.Architecture.mlp([2, 3, 1], bias=False)
    for suffix in ("json", "yaml"):
        out = tmp_path / f"out.{suffix}"
        theta = arch.init(seed=1)
        topo.write_spec(out, arch, theta)
        back = topo.read_spec(out)
        assert back.architecture == arch
        np.testing.assert_array_equal(back.theta, theta)


def test_group_edges_and_trainable_round_trip(tmp_path):
    arch = topo.Architecture.from_edges([("x", "h", {"size": 4}), ("h", "y", {"trainable": False})])
    out = tmp_path / "g.yaml"
    topo.write_spec(out, arch)
    back = topo.read_spec(out)
    assert back.architecture == arch and back.theta is None


@pytest.mark.parametrize(
    "name, text, match",
    [
        ("a.json", "{not json", "invalid JSON at line 1"),
        ("a.yaml", "edges: [[x, h]\n", "invalid YAML"),
        ("a.yaml", "- 1\n- 2\n", "mapping at top level"),
        ("a.yaml", "nodes: [x]\n", "needs 'edges'"),
        ("a.yaml", "edges: [[x, h], [h, y]]\nlayers: 3\n", "unknown top-level key"),
        ("a.yaml", "version: 7\nedges: [[x, y]]\n", "unsupported spec version 7"),
        ("a.yaml", "edges: [[x, h, {weight: 1}], [h, y]]\n", "some edges have a 'weight'"),
        ("a.yaml", "edges: [[x, h], [h, x], [h, y]]\n", "directed cycle"),
        ("a.yaml", "edges: [[x, h], [h, y]]\nnodes: [{id: h, activation: rleu}]\n", "unknown activation"),
        ("a.yaml", "edges: [[x, h, {weight: .nan}], [h, y, {weight: 1}]]\n", "non-finite"),
        ("a.yaml", "edges: [x]\n", "an edge must be"),
        ("a.yaml", "mlp: [2, 0, 1]\n", "widths"),
    ],
)
def test_bad_specs_name_the_file_and_problem(tmp_path, name, text, match):
    p = _write(tmp_path, name, text)
    with pytest.raises(SpecError, match=match) as info:
        topo.read_spec(p)
    assert str(p) in str(info.value)


def test_missing_file():
    with pytest.raises(SpecError, match="cannot read spec file"):
        topo.read_spec("/nonexistent/net.yaml")
