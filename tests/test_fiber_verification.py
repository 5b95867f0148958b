"""Acceptance of verify_topology (issue 9): exact counts vs persistent homology of sampled
factors, on random DAGs generated with a seed that was never used to tune the sampler,
plus the oracles behind the construction (LP frozen edges, points on the fiber)."""

import warnings

import numpy as np
import pytest

import topo
from tests.fiber_cases import fiber_cases
from tests.oracles import lp_frozen_edges, random_dag
from topo.sampling.factors import sample_factor
from topo.sampling.persistence import UndeterminedWarning, estimate_betti, persistence, read_bars
from topo.sampling.polytope import factor_edges, positive_flow

FRESH_SEED = 91_250_000  # not used while developing (that was 5000.. and 7000..)


def test_300_random_dags_agree_and_are_never_confidently_wrong():
    cases = fiber_cases(300, start=FRESH_SEED)
    agree = confident_wrong = 0
    b0, groups, free = [], 0, 0
    for seed, arch, c in cases:
        res = topo.verify_topology(arch, c, seed=seed)
        exact = topo.connectivity(arch, c).n_components
        assert res.theory_b0 == exact
        agree += res.agree
        if res.confident:
            confident_wrong += res.ph_b0 != exact
            assert res.status == "agree", (seed, res)
        b0.append(exact)
        groups += bool(np.any(arch.edge_sizes > 1))
        free += bool(arch.free)
    assert confident_wrong == 0
    assert agree >= 0.99 * len(cases), agree
    # the kinds of the issue are all there
    assert sum(b == 1 for b in b0) >= 30 and sum(b >= 16 for b in b0) >= 10 and groups >= 30 and free >= 20


@pytest.mark.parametrize("seed", range(12))
def test_faces_reached_exactly_where_the_lp_oracle_says_edges_can_vanish(seed):
    rng = np.random.default_rng(seed + 300)
    G = random_dag(rng, p_group=0.2)
    arch = topo.Architecture.from_networkx(G)
    c = rng.integers(-2, 3, size=arch.n_constrained).astype(float)
    frozen, _ = lp_frozen_edges(G, dict(zip(arch.constrained, c)))
    d = topo.decompose(arch)
    fe = factor_edges(arch, d.factor_labels, d.n_factors)
    rows = [np.flatnonzero(d.factor_labels == f) for f in range(d.n_factors)]
    z = positive_flow(arch)
    B = topo.incidence_matrix(arch)
    for f in range(d.n_factors):
        for kind in ("skeleton", "cloud"):
            s = sample_factor(arch, c, rows[f], fe[f], fe[f], 200, kind=kind, z=z, rng=np.random.default_rng(seed))
            for e, how in s.faces.items():
                assert (how == "empty") == (arch.edges[e] in frozen), (arch.edges[e], how)
            # every point lies on the factor's fiber; every reachable face carries points
            params = np.concatenate([np.arange(arch.edge_offsets[e], arch.edge_offsets[e + 1]) for e in fe[f]])
            pe = np.searchsorted(fe[f], arch.param_edge[params])
            Q = np.stack([np.bincount(pe, weights=p * p, minlength=len(fe[f])) for p in s.points])
            scale = max(1.0, float(Q.max()))
            assert np.abs(Q @ B[rows[f]][:, fe[f]].T.toarray() - c[rows[f]]).max() <= 1e-9 * scale
            for i, e in enumerate(fe[f].tolist()):
                if s.faces[e] != "empty":
                    assert np.any(Q[:, i] <= 1e-12 * scale), arch.edges[e]


@pytest.mark.parametrize("seed", range(8))
def test_positive_flow_is_a_positive_circulation(seed):
    arch = topo.Architecture.from_networkx(random_dag(np.random.default_rng(seed)))
    z = positive_flow(arch)
    assert z.min() >= 1
    assert np.abs(topo.incidence_matrix(arch) @ z).max(initial=0) <= 1e-9 * z.max()


@pytest.mark.parametrize("c, expected", [([1.0], [1, 1]), ([2.0, -1.0], [2, 2]), ([1.5, 0.7, -1.0], [2, 4])])
def test_b1_per_factor_matches_betti_numbers_on_circle_factors(c, expected):
    arch = topo.Architecture.mlp([2, len(c), 1], bias=False)
    exact = topo.betti_numbers(arch, c)
    res = topo.verify_topology(arch, c, n_samples=800, seed=1, coordinates="all", max_dimension=1)
    assert res.exact_betti == exact.betti[:2] + [0] * (2 - len(exact.betti[:2])) or res.exact_betti == exact.betti
    assert res.compared == [0, 1] and res.status == "agree", [(f.ph_betti, f.reason) for f in res.factors]
    assert res.estimate.betti == expected
    for f in res.factors:  # each neuron: a circle (c > 0) or two points (c < 0)
        assert f.ph_betti == f.exact_betti
        assert f.exact_betti == ([1, 1] if c[arch.constrained.index(f.nodes[0])] > 0 else [2, 0])


def test_mlp_64_128_128_1_with_three_negative_last_units():
    arch = topo.Architecture.mlp([64, 128, 128, 1])
    rng = np.random.default_rng(3)
    c = rng.uniform(0.5, 2, size=arch.n_constrained)
    for i in (5, 60, 100):
        c[arch.constrained_row(f"h2_{i}")] *= -1
    res = topo.verify_topology(arch, c)
    assert res.theory_b0 == 8 and res.ph_b0 == 8 and res.status == "agree" and res.confident
    assert res.factors[0].n_coordinates == 128


def _two_factor_arch():
    edges = [(x, f"a1_{i}") for x in ("x0", "x1") for i in range(3)]
    edges += [(f"a1_{i}", f"a2_{j}") for i in range(3) for j in range(2)] + [(f"a2_{j}", "y") for j in range(2)]
    edges += [(x, f"b1_{i}") for x in ("x0", "x1") for i in range(2)] + [(f"b1_{i}", "b2") for i in range(2)]
    edges += [("b2", "y")]
    return topo.Architecture.from_edges(edges)


def test_two_independent_factors_with_four_and_two_components():
    arch = _two_factor_arch()
    c = {v: 1.0 for v in arch.constrained} | {"a2_0": -1.0, "a2_1": -2.0, "b2": -1.5}
    res = topo.verify_topology(arch, c)
    assert topo.decompose(arch).n_factors == 2
    assert res.theory_b0 == 8 and res.ph_b0 == 8 and res.agree and res.confident
    assert sorted(f.ph_betti[0] for f in res.factors) == [2, 4]
    d = res.to_dict()
    assert d["status"] == "agree" and len(d["factors"]) == 2 and d["ph_b0"] == 8


def test_too_many_components_is_not_checkable_and_says_why():
    arch = topo.Architecture.mlp([3, 4, 3, 1])
    c = -np.ones(arch.n_constrained)   # the three last-layer units freeze their output weight
    res = topo.verify_topology(arch, c, n_samples=100)
    assert res.theory_b0 == 8
    assert res.status == "not checkable" and res.ph_b0 is None and not res.agree and not res.confident
    assert "fewer than 20" in res.factors[0].reason


def test_no_bottleneck_edge_means_nothing_to_sample():
    arch = topo.Architecture.mlp([3, 4, 4, 2])
    res = topo.verify_topology(arch, np.linspace(-1, 1, arch.n_constrained))
    assert res.factors == [] and res.n_trivial_factors == 1 and res.agree and res.ph_b0 == 1


@pytest.mark.parametrize("per_cluster", [3, 10, 30])
def test_estimate_betti_is_right_or_says_it_cannot_tell(per_cluster):
    # 32 clusters; as the noise grows they stop being separable by single linkage
    rng = np.random.default_rng(per_cluster)
    centres = np.array(np.meshgrid(*[[0.0, 1.0]] * 5)).reshape(5, -1).T
    for sd in (0.02, 0.05, 0.08, 0.1, 0.12, 0.15):
        X = np.vstack([cc + rng.normal(0, sd, (per_cluster, 5)) for cc in centres])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = estimate_betti(persistence(X, max_dimension=0))
        assert est.betti == [32] or not est.confident[0], (sd, est)
        assert est.confident[0] == (not any(issubclass(w.category, UndeterminedWarning) for w in caught))
    assert est.betti == [1] or not est.confident[0]


def test_noise_gaps_far_below_the_real_gap_do_not_count():
    # the case: real separation 1.465, then noise bars 0.0048, 0.0016, ...
    bars = [1.465, 0.0048, 0.0016] + list(np.linspace(0.0015, 0.0005, 200))
    r = read_bars(bars)
    assert r.count == 1 and r.confident and r.margin > 50
    # two comparable gaps: not confident whichever count is chosen
    assert not read_bars([4.0, 1.0] + [0.25] * 50).confident
    # no gap at all but long bars against the cloud's size: undetermined
    flat = np.linspace(1.0, 0.8, 30)
    assert read_bars(flat).confident and not read_bars(flat, scale=2.0).confident


def test_audit_of_lenet_with_2000_samples_agrees_with_the_exact_count(tmp_path):
    pytest.importorskip("torch")
    import json
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "topo.cli", "audit", "--torch", "topo.zoo:lenet", "--sample", "2000",
                        "--out", str(tmp_path), "--format", "json", "-q"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    t = rep["topology"]
    assert t["status"] == "agree" and t["confident"]
    assert t["ph_b0"] == t["theory_b0"] == rep["connectivity"]["n_components"]
    assert t["n_trivial_factors"] + t["n_factors_sampled"] == rep["decomposition"]["n_factors"]
