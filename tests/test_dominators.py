"""Immediate dominators with twins merged (topo.fiber.dominators) against networkx's own
algorithm (Cooper-Harvey-Kennedy) on the full graph: an independent oracle."""

import networkx as nx
import numpy as np
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
