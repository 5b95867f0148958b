"""A second oracle for ``topo.fiber.dominators.immediate_dominators``: networkx's dominators on
random (not layered) digraphs with cycles, repeated edges and groups of twins (nodes that read
exactly the same predecessors, which the implementation merges)."""

import networkx as nx
import numpy as np
import pytest

from topo.fiber.dominators import immediate_dominators


def _random_digraph(rng):
    m = int(rng.integers(3, 40))
    # groups of twins: heads that read exactly the same set of tails (as the channels of a conv do)
    twins = {}
    for _ in range(int(rng.integers(1, 5))):
        group = rng.choice(m, size=int(rng.integers(2, min(6, m) + 1)), replace=False)
        feed = rng.choice(m + 1, size=int(rng.integers(2, 5)), replace=False).tolist()
        twins.update({v: feed for v in group.tolist()})
    tails, heads = [m] * 2, [0, 1]  # the root m reaches every node below
    for v in range(m):
        preds = twins.get(v) or [int(rng.integers(0, m + 1)) if rng.random() < 0.85 else m
                                 for _ in range(int(rng.integers(1, 4)))]
        tails += preds
        heads += [v] * len(preds)
    t, h = np.asarray(tails), np.asarray(heads)
    G = nx.DiGraph()
    G.add_nodes_from(range(m + 1))
    G.add_edges_from(zip(t.tolist(), h.tolist()))
    reach = nx.descendants(G, m)
    nodes = sorted(reach)  # every node must be reachable: relabel the reachable ones
    new = {v: i for i, v in enumerate(nodes)} | {m: len(nodes)}
    pairs = [(new[u], new[v]) for u, v in zip(t.tolist(), h.tolist()) if u in new and v in new]
    return len(nodes), np.asarray([p[0] for p in pairs]), np.asarray([p[1] for p in pairs])


@pytest.mark.parametrize("seed", range(200))
def test_immediate_dominators_match_networkx(seed):
    rng = np.random.default_rng(5150 + seed)
    m, t, h = _random_digraph(rng)
    G = nx.DiGraph()
    G.add_nodes_from(range(m + 1))
    G.add_edges_from(zip(t.tolist(), h.tolist()))
    G.remove_edges_from(nx.selfloop_edges(G))
    expected = nx.immediate_dominators(G, m)
    idom = immediate_dominators(m, t, h)
    assert len(idom) == m + 1 and idom[m] == m
    expected[m] = m  # networkx 3.6 leaves the root out
    assert {v: int(idom[v]) for v in range(m + 1)} == {v: expected[v] for v in range(m + 1)}


def test_the_hub_path_was_exercised():
    from topo.fiber.dominators import _hub_edges

    hubs = 0
    for seed in range(200):
        m, t, h = _random_digraph(np.random.default_rng(5150 + seed))
        _, n = _hub_edges(m, *_csr(m, t, h))
        hubs += n > m + 1
    assert hubs >= 100, hubs


@pytest.mark.parametrize("seed", range(60))
def test_a_colliding_hash_is_caught_by_the_exact_check(seed, monkeypatch):
    """Every predecessor list hashed to the same key: only the exact comparison of the lists can
    keep nodes with different predecessors out of one hub, and the dominators must still match."""
    import topo.fiber.dominators as dominators

    def collide(m, t, ptr, deg):
        return np.zeros(len(deg), dtype=np.uint64), np.uint64(0)

    monkeypatch.setattr(dominators, "_segment_hash", collide)
    rng = np.random.default_rng(90210 + seed)
    m, t, h = _random_digraph(rng)
    G = nx.DiGraph()
    G.add_nodes_from(range(m + 1))
    G.add_edges_from(zip(t.tolist(), h.tolist()))
    G.remove_edges_from(nx.selfloop_edges(G))
    expected = nx.immediate_dominators(G, m)
    expected[m] = m
    idom = immediate_dominators(m, t, h)
    assert {v: int(idom[v]) for v in range(m + 1)} == {v: expected[v] for v in range(m + 1)}


def _csr(m, t, h):
    inner = (t < m) & (h < m)
    order = np.argsort(h[inner], kind="stable")
    ptr = np.searchsorted(h[inner][order], np.arange(m + 1))
    rooted = np.zeros(m, dtype=bool)
    rooted[h[t == m]] = True
    return t[inner][order], ptr, rooted


def _true_classes(m, t, ptr, rooted):
    """Brute force: the live heads (two predecessors or more) partitioned by (list in order, rooted)."""
    classes: dict = {}
    for v in range(m):
        lst = tuple(t[ptr[v]:ptr[v + 1]].tolist())
        if len(lst) + rooted[v] >= 2:
            classes.setdefault((lst, bool(rooted[v])), []).append(v)
    return sorted(sorted(c) for c in classes.values() if len(c) >= 2)


def _found(group):
    out: dict = {}
    for v, g in enumerate(group.tolist()):
        if g >= 0:
            out.setdefault(g, []).append(v)
    assert all(g == min(vs) for g, vs in out.items())  # a group is named by its first head
    return sorted(sorted(vs) for vs in out.values())


@pytest.mark.parametrize("chunk", [1, 3, 1 << 20])
@pytest.mark.parametrize("seed", range(40))
def test_twin_groups_are_exactly_the_heads_with_equal_lists(seed, chunk, monkeypatch):
    """Brute-force oracle for the twin grouping (adjacent runs compared in chunks of every size,
    then the runs' first heads merged by hash and exact check); layered graphs give long runs."""
    import topo.fiber.dominators as dominators
    from tests.test_dominators import _layered

    monkeypatch.setattr(dominators, "_CHUNK", chunk)
    rng = np.random.default_rng(4040 + seed)
    if seed % 2:
        m, t, h = _random_digraph(rng)
    else:
        widths = rng.integers(1, 7, size=int(rng.integers(1, 6))).tolist()
        m, t, h = _layered(rng, widths, float(rng.random()), 0.2, 0.3)
        keep = t != h
        t, h = t[keep], h[keep]
    tt, ptr, rooted = _csr(m, t, h)
    group = dominators._twin_groups(m, tt, ptr.astype(np.int64), np.diff(ptr).astype(np.int64), rooted)
    assert _found(group) == _true_classes(m, tt, ptr, rooted)


@pytest.mark.parametrize("seed", range(40))
def test_twin_groups_under_colliding_hashes_stay_inside_the_true_classes(seed, monkeypatch):
    import topo.fiber.dominators as dominators

    monkeypatch.setattr(dominators, "_segment_hash",
                        lambda m, t, ptr, deg: (np.zeros(len(deg), dtype=np.uint64), np.uint64(0)))
    m, t, h = _random_digraph(np.random.default_rng(777 + seed))
    tt, ptr, rooted = _csr(m, t, h)
    group = dominators._twin_groups(m, tt, ptr.astype(np.int64), np.diff(ptr).astype(np.int64), rooted)
    true = _true_classes(m, tt, ptr, rooted)
    member = {v: i for i, c in enumerate(true) for v in c}
    for g in _found(group):
        assert len({member.get(v, -1 - v) for v in g}) == 1, g


@pytest.mark.parametrize("reduced", [0.5, 1.0])
@pytest.mark.parametrize("chunk", [2, 1 << 20])
@pytest.mark.parametrize("seed", range(30))
def test_factor_labels_are_scipys_components_of_the_whole_graph(seed, chunk, reduced, monkeypatch):
    """The components found on the graph with each run of twin rows reduced to one edge per row
    equal scipy's on the whole graph (count and labels), on layered and random graphs, with the
    default choice of graph and with the reduced graph always used."""
    import topo.fiber.decompose as decompose

    monkeypatch.setattr(decompose, "REDUCED_AT_MOST", reduced)
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    import topo.fiber.dominators as dominators
    from tests.test_dominators import _layered
    from topo.fiber.decompose import factor_labels

    monkeypatch.setattr(dominators, "_CHUNK", chunk)
    rng = np.random.default_rng(6060 + seed)
    if seed % 3:
        widths = rng.integers(1, 9, size=int(rng.integers(2, 7))).tolist()
        m, t, h = _layered(rng, widths, float(rng.random()), 0.1, 0.2)
    else:
        m, t, h = _random_digraph(rng)
    inner = (t < m) & (h < m)
    g = sp.csr_matrix((np.ones(int(inner.sum()), dtype=np.int8), (h[inner], t[inner])), shape=(m, m))
    g = sp.csr_matrix((g.data, g.indices, g.indptr), shape=(m, m))
    n, labels = factor_labels(g)
    n_ref, ref = connected_components(g.astype(np.float64), directed=False)
    assert n == n_ref and labels.tolist() == ref.tolist()
