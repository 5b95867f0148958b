"""Maximum-weight closures inside bottleneck regions.

For an in-bottleneck ``v`` we need ``max Σ_{w∈S} c_w`` over sets ``S`` of
constrained nodes that contain ``v`` and are closed under predecessors (every
predecessor of a node of ``S`` other than ``v`` is in ``S``).  Such sets live in
the region of ``v``.  Regions form a laminar forest, processed bottom-up:

* a region whose nodes all have a single predecessor (a tree, e.g. a chain of
  bottlenecks) is solved by the dynamic programme
  ``best(v) = c_v + Σ_children max(0, best(x))``, linear overall;
* a region containing *merge* nodes (several predecessors, all inside) is solved
  as a minimum s-t cut (Picard's reduction), after contracting every sub-region
  that no merge node of the region depends on into one node of weight
  ``best(x)``.

References
----------
.. [1] J.-C. Picard, "Maximal closure of a graph and applications to combinatorial
   problems", Management Science 22(11), 1976.
"""

from __future__ import annotations

import networkx as nx

from topo.fiber.decompose import RegionForest

__all__ = ["RegionClosures"]


class RegionClosures:
    """Best closure weight of every bottleneck of one forest, with witnesses.

    Parameters
    ----------
    forest : RegionForest
    weights : sequence of float
        Weight of each constrained row (``c`` for "in", ``-c`` for "out").
    """

    def __init__(self, forest: RegionForest, weights):
        w = list(map(float, weights))
        best = [0.0] * forest.m
        plans: dict[int, tuple[list[int], list[int]]] = {}
        children = forest.children
        merges = forest.merge_members
        coupler = forest.coupler_depth
        depth = forest.depth
        for v in reversed(forest.roots):
            kids = children.get(v, ())
            dv = depth[v]
            if v not in merges and v not in forest.back and all(coupler[x] < dv for x in kids):
                total = w[v]
                for x in kids:
                    if best[x] > 0.0:
                        total += best[x]
                best[v] = total
            else:
                best[v], plans[v] = self._cut(forest, v, w, best)
        self.forest = forest
        self.best = best
        self.plans = plans

    @staticmethod
    def _cut(forest: RegionForest, v: int, w: list, best: list) -> tuple[float, tuple[list, list]]:
        dv = forest.depth[v]
        G = nx.DiGraph()
        weight: dict[int, float] = {}
        contracted: set[int] = set()
        stack = [v]
        while stack:
            r = stack.pop()
            weight[r] = w[r]
            for p in forest.requires(r, v):
                G.add_edge(r, p)
            for y in forest.merge_members.get(r, ()):
                weight[y] = w[y]
                for p in forest.neighbours(y):
                    G.add_edge(y, p)
            for x in forest.children.get(r, ()):
                if forest.coupler_depth[x] >= dv:
                    stack.append(x)
                elif best[x] > 0.0:
                    weight[x] = best[x]
                    contracted.add(x)
                    G.add_edge(x, forest.entry_tail[x])
        G.add_node("s")
        G.add_node("t")
        for i, wi in weight.items():
            if wi > 0:
                G.add_edge("s", i, capacity=wi)
            elif wi < 0:
                G.add_edge(i, "t", capacity=-wi)
            else:
                G.add_node(i)
        _, (side, _) = nx.minimum_cut(G, "s", "t")
        closure = [i for i in side if i != "s"]
        if v not in closure:  # the empty closure is optimal
            return 0.0, ([], [])
        total = sum(weight[i] for i in closure)
        direct = [i for i in closure if i not in contracted]
        return total, (direct, [i for i in closure if i in contracted])

    def witness(self, v: int) -> list[int]:
        """Rows of an optimal closed set containing bottleneck row ``v``."""
        out: list[int] = []
        stack = [v]
        children = self.forest.children
        while stack:
            x = stack.pop()
            plan = self.plans.get(x)
            if plan is None:
                out.append(x)
                stack.extend(k for k in children.get(x, ()) if self.best[k] > 0.0)
            else:
                direct, contracted = plan
                out.extend(direct)
                stack.extend(contracted)
        return out
