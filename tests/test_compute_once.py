"""The audit builds each structural result once and hands it down: one connectivity report per
audit (symmetry, strata, sampled topology and the Audit object's tables all reuse it), one
decomposition per architecture, one tolerance for every section."""

from __future__ import annotations

import numpy as np
import pytest

import topo
from topo.fiber import connectivity as connectivity_module
from topo.fiber import decompose as decompose_module


@pytest.fixture
def counts(monkeypatch):
    seen = {"connectivity": 0, "decomposition": 0}
    init = connectivity_module.ConnectivityReport.__init__
    build = decompose_module._decompose

    def counting_init(self, *args, **kwargs):
        seen["connectivity"] += 1
        init(self, *args, **kwargs)

    def counting_build(arch):
        seen["decomposition"] += 1
        return build(arch)

    monkeypatch.setattr(connectivity_module.ConnectivityReport, "__init__", counting_init)
    monkeypatch.setattr(decompose_module, "_decompose", counting_build)
    return seen


def _spec(tmp_path):
    path = tmp_path / "chain.yaml"
    path.write_text("edges:\n  - [x, h, {weight: 1.0}]\n  - [x2, h, {weight: 0.5}]\n"
                    "  - [h, y, {weight: 3.0}]\n")
    return path


def test_one_connectivity_report_per_audit_of_a_spec(tmp_path, counts):
    a = topo.audit(str(_spec(tmp_path)), sample=200, seed=1)
    assert a.n_components == 2
    a.frozen_edges(records=True), a.balances(records=True), a.summary()
    assert counts["connectivity"] == 1
    assert counts["decomposition"] == 1


def test_one_connectivity_report_per_audit_of_widths(counts):
    # negative last-layer units: frozen edges, so the symmetry group and the classes are computed
    arch = topo.Architecture.mlp([2, 3, 1])
    theta = arch.init(seed=0)
    theta[-4:-1] = [3.0, 3.0, 0.1]
    a = topo.audit(arch, theta, sample=300)
    a.frozen_edges(records=True)
    assert a.n_components >= 4 and a.report["connectivity"]["symmetry"]["computed"]
    assert counts["connectivity"] == 1
    a2 = topo.audit([2, 4, 1], seed=3)
    a2.frozen_edges(records=True)
    assert counts["connectivity"] == 2


def test_one_connectivity_report_per_audit_of_a_torch_model(counts):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    with torch.no_grad():
        net[2].weight.mul_(5.0)  # large output weights: negative balances, frozen output edges
    a = topo.audit(net, sample=300)
    a.frozen_edges(records=True)
    assert a.n_components > 1
    assert counts["connectivity"] == 1


def test_sampled_topology_uses_the_audits_tolerance(monkeypatch):
    """The topology section reads the audit's own frozen edges: same tolerance, same count."""
    seen = []
    import topo.sampling.verification as verification

    original = verification.verify_topology

    def spy(arch, c, **kwargs):
        seen.append(kwargs.get("connectivity"))
        return original(arch, c, **kwargs)

    monkeypatch.setattr("topo.report.build.verify_topology", spy)
    a = topo.audit("shallow", sample=400)
    assert seen and seen[0] is a.connectivity
    assert a.report["topology"]["theory_b0"] == a.n_components


def test_a_report_of_another_fiber_is_refused():
    arch = topo.Architecture.mlp([2, 2, 1])
    rep = topo.connectivity(arch, [1.0, -1.0])
    with pytest.raises(topo.ParameterError, match="other balances"):
        topo.components_up_to_symmetry(arch, [1.0, -2.0], connectivity=rep)
    with pytest.raises(topo.ParameterError, match="another architecture"):
        topo.betti_numbers(topo.Architecture.mlp([2, 3, 1]), [1.0, 1.0, 1.0], connectivity=rep)
    with pytest.raises(topo.ParameterError, match="tol"):
        topo.components_up_to_symmetry(arch, [1.0, -1.0], tol=0.5, connectivity=rep)
    # the same fiber: the given report is used, and the answers agree with a fresh computation
    got = topo.components_up_to_symmetry(arch, [1.0, -1.0], connectivity=rep)
    assert got.connectivity is rep
    assert got.n_classes == topo.components_up_to_symmetry(arch, [1.0, -1.0]).n_classes
    np.testing.assert_array_equal(topo.betti_numbers(arch, rep.c, connectivity=rep).betti,
                                  topo.betti_numbers(arch, rep.c).betti)
