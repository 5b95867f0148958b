"""Immediate dominators with twins merged (topo.fiber.dominators) against networkx's own
algorithm (Cooper-Harvey-Kennedy) on the full graph: an independent oracle."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topo.fiber.dominators import immediate_dominators


def _oracle(m: int, tails: np.ndarray, heads: np.ndarray) -> list:
    g = nx.DiGraph()
    g.add_nodes_from(range(m + 1))
    g.add_edges_from(zip(tails.tolist(), heads.tolist()))
    idom = nx.immediate_dominators(g, m)
    return [idom.get(v, m) for v in range(m + 1)]  # networkx leaves the root out


def _layered(rng, widths, p_dense, p_back, p_skip):
    """Layers of nodes (many twins: dense layers), skip edges, back edges (cycles) and parallel edges."""
    starts = np.concatenate([[0], np.cumsum(widths)])
    m = int(starts[-1])
    tails, heads = [], []
    for i, w in enumerate(widths):
        layer = np.arange(starts[i], starts[i + 1])
        if i == 0:
            prev = np.array([m])
        else:
            prev = np.arange(starts[i - 1], starts[i])
        for v in layer:
            if rng.random() < p_dense:
                ps = prev
            else:
                ps = rng.choice(prev, size=rng.integers(1, len(prev) + 1), replace=False)
            tails.extend(ps.tolist())
            heads.extend([v] * len(ps))
            if rng.random() < p_skip:
                tails.append(int(rng.integers(0, m + 1)))
                heads.append(v)
            if rng.random() < p_back and i > 0:
                tails.append(int(rng.integers(starts[i], m)))
                heads.append(int(rng.integers(0, starts[i])))
    tails.extend(tails[: len(tails) // 10])  # parallel edges
    heads.extend(heads[: len(heads) // 10])
    return m, np.asarray(tails), np.asarray(heads)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), widths=st.lists(st.integers(1, 6), min_size=1, max_size=6),
       p_dense=st.floats(0, 1), p_back=st.floats(0, 0.5), p_skip=st.floats(0, 0.5))
def test_dominators_match_networkx(seed, widths, p_dense, p_back, p_skip):
    rng = np.random.default_rng(seed)
    m, tails, heads = _layered(rng, widths, p_dense, p_back, p_skip)
    keep = tails != heads
    tails, heads = tails[keep], heads[keep]
    assert immediate_dominators(m, tails, heads).tolist() == _oracle(m, tails, heads)


def test_a_dense_layer_is_merged_and_its_twins_dominate_nothing():
    # root 4 -> 0, 1 (twins) -> 2, 3 (twins, each entered by both): every idom is the root
    tails = np.array([4, 4, 0, 0, 1, 1])
    heads = np.array([0, 1, 2, 3, 2, 3])
    assert immediate_dominators(4, tails, heads).tolist() == [4, 4, 4, 4, 4]
    # the same with 1 -> 3 removed: 0 alone enters 3, so it dominates it (negative control of the merge)
    keep = ~((tails == 1) & (heads == 3))
    assert immediate_dominators(4, tails[keep], heads[keep]).tolist() == [4, 4, 4, 0, 4]


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), widths=st.lists(st.integers(1, 6), min_size=1, max_size=6),
       p_dense=st.floats(0.5, 1), p_back=st.floats(0, 0.5), p_skip=st.floats(0, 0.8), min_run=st.sampled_from([2, 3]))
def test_dominators_with_runs_fed_through_hubs_match_networkx(seed, widths, p_dense, p_back, p_skip, min_run):
    """Short runs forced through hubs (MIN_RUN 2 or 3): dense lists with extra edges share runs."""
    import topo.fiber.dominators as dominators

    rng = np.random.default_rng(seed)
    m, tails, heads = _layered(rng, widths, p_dense, p_back, p_skip)
    keep = tails != heads
    tails, heads = tails[keep], heads[keep]
    saved, dominators.MIN_RUN = dominators.MIN_RUN, min_run
    try:
        assert immediate_dominators(m, tails, heads).tolist() == _oracle(m, tails, heads)
    finally:
        dominators.MIN_RUN = saved


def _mixer(width, depth, own):
    """ConvMixer-like quotient: each node of a layer reads every node of the layer before (a run)
    and, with ``own``, one node of a side chain of its own (so no two are twins)."""
    m = width * depth + (width * depth if own else 0)
    tails, heads = [], []
    for i in range(depth):
        for j in range(width):
            v = i * width + j
            prev = [m] if i == 0 else list(range((i - 1) * width, i * width))
            tails += prev
            heads += [v] * len(prev)
            if own:
                side = width * depth + v
                tails += [m if i == 0 else (i - 1) * width + j, side]
                heads += [side, v]
    return m, np.asarray(tails), np.asarray(heads)


@pytest.mark.parametrize("own", [True, False])
@pytest.mark.parametrize("width,depth", [(8, 3), (12, 4), (9, 2)])
def test_a_mixer_layer_shares_its_run_through_a_hub(width, depth, own):
    """The dominators of a graph whose lists differ by one extra node each (no twins) equal networkx's,
    and its dense runs went through hubs: the graph given to igraph is small."""
    from tests.test_dominators_random import _csr
    from topo.fiber.dominators import _hub_edges

    m, tails, heads = _mixer(width, depth, own)
    assert immediate_dominators(m, tails, heads).tolist() == _oracle(m, tails, heads)
    edges, n = _hub_edges(m, *_csr(m, tails, heads))
    assert n > m + 1 and len(edges) < 0.6 * len(tails)


def _bottlenecked_mixer(width, blocks):
    """Blocks behind bottlenecks d_k: d_k -> A_k (width nodes) and S_k (side nodes); B_k[j] reads all of
    A_k (a run) and S_k[j]; d_{k+1} reads all of B_k.  Every node of block k is dominated by d_k."""
    ids = iter(range(10**6))
    d, tails, heads = [next(ids)], [], []
    for _ in range(blocks):
        A, S, B = ([next(ids) for _ in range(width)] for _ in range(3))
        for j in range(width):
            tails += [d[-1], d[-1]] + A + [S[j]]
            heads += [A[j], S[j]] + [B[j]] * (width + 1)
        d.append(next(ids))
        tails += B
        heads += [d[-1]] * width
    m = d[-1] + 1
    tails = [m] + tails  # the root enters d_0
    heads = [d[0]] + heads
    return m, np.asarray(tails), np.asarray(heads)


@pytest.mark.parametrize("width,blocks", [(8, 2), (10, 3), (16, 2)])
def test_runs_of_different_blocks_keep_their_own_hubs(width, blocks):
    """Each block's run has its own hub: the nodes reading it are dominated by their own block's
    bottleneck (a run fed through another block's hub would move their dominator)."""
    m, tails, heads = _bottlenecked_mixer(width, blocks)
    idom = immediate_dominators(m, tails, heads).tolist()
    assert idom == _oracle(m, tails, heads)
    assert len(set(idom)) >= blocks + 1  # a nontrivial tree: one bottleneck per block
