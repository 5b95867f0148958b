"""Components up to symmetry on networks with fixed edges (rescaling classes, THEORY.md §3b).

Random symmetric DAGs whose motifs carry fixed edges (the same in every replica, so
residual-like classes of several members appear in each replica) and replicated residual
branches: the automorphism group by brute-force enumeration, every automorphism maps
rescaling classes to classes (fixed edges to fixed edges), the frozen edges by one LP per
edge on the quotient, the classes of components by union-find over every automorphism,
and certificates re-checked step by step (outputs, balances, fixed weights unchanged).
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

import topo
from tests.oracles import (
    brute_force_automorphisms,
    brute_force_symmetry_classes,
    constrained_classes,
    lp_frozen_edges,
    random_symmetric_dag,
    union_find_classes,
)
from topo.symmetry import apply_automorphism, restore_balances

SEEDS = range(60_221, 60_221 + 70)  # fresh seeds, not used while writing the code


def _residual_branches(rng: np.random.Generator) -> nx.DiGraph:
    """Identical residual branches x -> r_i -> a_i -> s_i -> y with a fixed skip r_i -> s_i
    (class {r_i, s_i}), sometimes a second stage, sometimes an asymmetric extra edge."""
    G = nx.DiGraph()
    xs = [f"x{i}" for i in range(int(rng.integers(1, 3)))]
    for x in xs:
        G.add_node(x, role="input")
    G.add_node("y", role="output")
    reps, stages = int(rng.integers(2, 4)), int(rng.integers(1, 3))
    w = float(rng.choice([1.0, 0.5, -1.0]))
    for r in range(reps):
        prev = f"r{r}"
        G.add_node(prev, activation="relu")
        for x in xs:
            G.add_edge(x, prev)
        for k in range(stages):
            a, s = f"a{r}_{k}", f"s{r}_{k}"
            G.add_node(a, activation="relu")
            G.add_node(s, activation="sum")
            G.add_edge(prev, a)
            G.add_edge(a, s)
            G.add_edge(prev, s, trainable=False, weight=w)
            prev = s
        G.add_edge(prev, "y")
    if rng.random() < 0.3:
        G.add_edge(xs[0], "s0_0")
    return G


def _case(seed: int):
    rng = np.random.default_rng(seed)
    G = _residual_branches(rng) if seed % 2 else random_symmetric_dag(rng, p_fixed=0.35)
    arch = topo.Architecture.from_networkx(G)
    reps = [k[0] for k in constrained_classes(G)]
    c = {v: float(rng.choice([-2.0, -1.0, 1.0, 2.0])) for v in reps}
    return rng, G, arch, c


@pytest.fixture(scope="module")
def tally():
    return {"shared": 0, "nontrivial": 0, "merged": 0, "certified": 0}


@pytest.mark.parametrize("seed", SEEDS)
def test_components_up_to_symmetry_with_classes_match_brute_force(seed, tally):
    rng, G, arch, c = _case(seed)
    autos = brute_force_automorphisms(G)
    assert topo.automorphism_group(arch).order == len(autos)
    # every automorphism maps rescaling classes to classes
    cls = union_find_classes(G)
    for pi in autos:
        for k in set(cls.values()):
            assert tuple(sorted(pi[v] for v in k)) == tuple(sorted(cls[pi[k[0]]]))
    label = arch.class_label
    for g in topo.automorphism_group(arch).generators:
        assert len(set(zip(label.tolist(), label[g].tolist()))) == len(set(label.tolist()))
    frozen_all, _ = lp_frozen_edges(G, c)
    frozen = sorted((e for e in frozen_all if G.edges[e].get("size", 1) == 1), key=arch.edge_index)
    roots = brute_force_symmetry_classes(G, frozen, autos)
    sym = topo.components_up_to_symmetry(arch, c)
    assert sym.frozen_edges == frozen
    assert sym.n_classes == len(set(roots.values()))
    assert sorted(roots[r] for r in sym.representatives) == sorted(set(roots.values()))
    tally["shared"] += arch.n_shared > 0
    tally["nontrivial"] += len(autos) > 1 and len(frozen) > 0
    tally["merged"] += sym.n_classes < sym.n_components
    if arch.n_constrained == 0 or not all(arch.edge_sizes == 1):
        return
    cvec = np.array([c[v] for v in arch.constrained])
    start = arch.init("normal", seed=seed)
    fixed = np.repeat(~arch.edge_trainable, arch.edge_sizes)
    start[fixed] = 1.0  # every fixed weight equal, so that automorphisms keep them
    theta, _ = restore_balances(arch, start, cvec)
    np.testing.assert_array_equal(theta[fixed], 1.0)  # rescalings never touch a fixed edge
    off = arch.edge_offsets
    F = np.array([arch.edge_index(e) for e in frozen], dtype=np.int64)
    X = rng.standard_normal((6, len(arch.inputs)))
    for _ in range(3):
        theta2 = theta * np.where(rng.random(arch.n_params) < 0.3, -1.0, 1.0)
        theta2[fixed] = 1.0
        theta2[off[F]] = np.abs(theta2[off[F]]) * rng.choice([-1.0, 1.0], size=len(F))
        L1 = tuple(int(s) for s in np.sign(theta[off[F]]))
        L2 = tuple(int(s) for s in np.sign(theta2[off[F]]))
        cert = sym.same_class(theta, theta2)
        assert cert.equivalent == (roots[L1] == roots[L2])
        if not cert.equivalent:
            continue
        tally["certified"] += len(cert.steps) > 0
        c1 = topo.balance(arch, theta)
        out = topo.forward(arch, theta, X)
        for step in cert.steps:
            np.testing.assert_array_equal(step.after[fixed], 1.0)
            np.testing.assert_allclose(topo.forward(arch, step.after, X), topo.forward(arch, step.before, X),
                                       rtol=0, atol=1e-11 * max(1.0, np.abs(out).max()))
            assert np.max(np.abs(topo.balance(arch, step.after) - c1), initial=0) <= 1e-11 * max(1.0, np.abs(theta).max() ** 2)
        assert np.array_equal(np.sign(cert.point[off[F]]), np.sign(theta2[off[F]]))


def test_the_symmetry_oracle_was_exercised(tally):
    if not tally["shared"]:
        pytest.skip("run together with the oracle test above")
    assert tally["shared"] >= 30 and tally["nontrivial"] >= 15 and tally["merged"] >= 10, tally
    assert tally["certified"] >= 10, tally


@pytest.mark.parametrize("seed", range(25))
def test_automorphisms_keep_the_weights_of_fixed_edges(seed):
    """Two mirrored residual branches whose skips have weights w1, w2: the swap is a symmetry of the
    network only when w1 == w2. With the audited θ the group says so, and every generator keeps the
    function (an independent numpy forward of the permuted weights)."""
    from tests.oracles_classes import forward

    rng = np.random.default_rng(90_210 + seed)
    w1 = float(rng.choice([1.0, 0.5, -2.0]))
    w2 = w1 if rng.random() < 0.5 else float(rng.choice([v for v in (1.0, 0.5, -2.0) if v != w1]))
    G = nx.DiGraph()
    G.add_node("x", role="input")
    G.add_node("y", role="output")
    for i, w in enumerate((w1, w2)):
        G.add_edge("x", f"a{i}")
        G.add_edge(f"a{i}", f"h{i}")
        G.add_edge(f"a{i}", f"s{i}", trainable=False, weight=w)
        G.add_edge(f"h{i}", f"s{i}")
        G.add_edge(f"s{i}", "y")
    nx.set_node_attributes(G, {v: "sum" for v in G if v.startswith("s")}, "activation")
    arch = topo.Architecture.from_networkx(G)
    t = rng.standard_normal(arch.n_params)
    for e in arch.edges:
        if not G.edges[e].get("trainable", True):
            t[arch.edge_slice(e)] = G.edges[e]["weight"]
    group = topo.automorphism_group(arch, fixed_weights=t)
    assert group.order == (2 if w1 == w2 else 1)
    assert topo.automorphism_group(arch).order == 2  # the architecture alone: skips taken alike
    X = rng.standard_normal((7, 1))
    theta = dict(zip(arch.edges, t))
    fixed = np.concatenate([np.arange(arch.n_params)[arch.edge_slice(e)] for e in arch.edges
                            if not G.edges[e].get("trainable", True)])

    def moved_by(perm):  # the weights moved by perm; the fixed edges keep theirs (they are the network)
        out = apply_automorphism(arch, perm, t)
        out[fixed] = t[fixed]
        return out

    for perm in group.generators:
        moved = moved_by(perm)
        np.testing.assert_allclose(forward(G, dict(zip(arch.edges, moved)), X, ["x"], ["y"]),
                                   forward(G, theta, X, ["x"], ["y"]), rtol=1e-12, atol=1e-12)
    if w1 != w2:  # negative control: the swap the bare architecture allows changes the function
        moved = moved_by(topo.automorphism_group(arch).generators[0])
        gap = np.abs(forward(G, dict(zip(arch.edges, moved)), X, ["x"], ["y"]) - forward(G, theta, X, ["x"], ["y"]))
        assert gap.max() > 1e-6


def _representatives_by_product(F, Fstar, parts, limit):
    """The reference: labels written one sign at a time over ``itertools.product``."""
    import itertools

    where = {int(f): i for i, f in enumerate(F.tolist())}
    out = []
    for combo in itertools.product(*[p.representatives for p in parts]):
        label = [1] * len(F)
        for part, signs in zip(parts, combo):
            for a, s in zip(part.positions, signs):
                label[where[int(Fstar[a])]] = s
        out.append(tuple(label))
        if len(out) >= limit:
            break
    return out, math.prod(len(p.representatives) for p in parts) > len(out)


@pytest.mark.parametrize("seed", range(40))
def test_representatives_are_the_product_of_the_parts(seed):
    """The sign matrix of `_representatives` against the product written sign by sign, on random
    parts (overlapping positions included: a later part's sign wins in both)."""
    from topo.symmetry.classes import _Part, _representatives

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    F = np.sort(rng.choice(100, size=n, replace=False))
    Fstar = F[rng.permutation(n)[: int(rng.integers(1, n + 1))]]
    parts = []
    for _ in range(int(rng.integers(1, 4))):
        pos = tuple(int(a) for a in rng.choice(len(Fstar), size=int(rng.integers(1, len(Fstar) + 1)), replace=False))
        reps = [tuple(int(s) for s in rng.choice([-1, 1], size=len(pos))) for _ in range(int(rng.integers(0, 4)))]
        parts.append(_Part(positions=pos, method="test", n_classes=len(reps), representatives=reps))
    limit = int(rng.integers(1, 30))
    assert _representatives(F, Fstar, parts, limit) == _representatives_by_product(F, Fstar, parts, limit)
