"""Certificates that two components of a fiber are equivalent under a symmetry.

`certify` carries ``θ1`` into the component of ``θ2`` by explicit moves:

1. one automorphism ``h`` (a word in the generators found by breadth-first search
   over the sign labels of the invariant frozen edges ``F*``), then the rescaling
   that restores the balances;
2. for every other frozen edge ``f`` whose sign is wrong: an automorphism ``k``
   carrying ``f`` onto a non-frozen edge, a sign flip there (which stays in the
   component), and ``k⁻¹``, each followed by its rescaling.

Every step keeps the function and the balances; the flips keep the component.
The tests re-check each step with [`topo.graph.forward`][topo.graph.forward.forward] and
[`topo.fiber.balance`][topo.fiber.balance.balance].
"""

from __future__ import annotations

from collections import deque

import numpy as np

from topo.errors import FiberError
from topo.fiber.balance import check_same_fiber, edge_norms
from topo.symmetry.automorphisms import edge_permutation
from topo.symmetry.moves import MAX_ORBIT, SymmetryCertificate, SymmetryStep, apply_automorphism, restore_balances

__all__ = ["certify"]


def _compose(perms: list[np.ndarray], n: int) -> np.ndarray:
    """The node permutation applying ``perms[0]`` first."""
    h = np.arange(n, dtype=np.int64)
    for g in perms:
        h = g[h]
    return h


def _orbit_word(gens, have: tuple, need: tuple, cap: int):
    """Shortest word (generator indices, applied left to right) carrying sign tuple
    ``have`` to ``need``; None when ``need`` is not in the orbit; "cutoff" beyond ``cap``."""
    parent = {have: None}
    queue = deque([have])
    while queue:
        s = queue.popleft()
        if s == need:
            word = []
            while parent[s] is not None:
                s, gi = parent[s]
                word.append(gi)
            return word[::-1]
        for gi, p in gens:
            t = [0] * len(s)
            for j, a in enumerate(s):
                t[int(p[j])] = a
            t = tuple(t)
            if t not in parent:
                parent[t] = (s, gi)
                if len(parent) > cap:
                    return "cutoff"
                queue.append(t)
    return None


def _word_to_frozen_free(arch, group, f: int, frozen: set):
    """Generator word carrying edge ``f`` onto an edge outside ``frozen`` (BFS over edges)."""
    parent = {f: None}
    queue = deque([f])
    while queue:
        e = queue.popleft()
        if e not in frozen:
            word = []
            while parent[e] is not None:
                e, gi = parent[e]
                word.append(gi)
            return word[::-1]
        for gi, perm in enumerate(group.generators):
            img = int(edge_permutation(arch, perm, [e])[0])
            if img not in parent:
                parent[img] = (e, gi)
                queue.append(img)
    return None


def _step(arch, theta, perm, target, flips=()):

    before = theta.copy()
    off = arch.edge_offsets
    for e in flips:
        before[off[e]:off[e + 1]] *= -1
    moved = apply_automorphism(arch, perm, before)
    after, x = restore_balances(arch, moved, target)
    names = arch.nodes
    mapping = {names[v]: names[int(perm[v])] for v in np.flatnonzero(perm != np.arange(len(perm))).tolist()}
    return SymmetryStep(tuple(arch.edge_names(list(flips))), mapping, x, before, after)


def _labels(arch, vec, F):
    return tuple(int(s) for s in np.sign(vec[arch.edge_offsets[F]]).tolist())


def certify(sym, theta1, theta2, rtol: float):

    arch = sym.arch
    v1 = arch.as_vector(theta1, name="theta1")
    v2 = arch.as_vector(theta2, name="theta2")
    target = check_same_fiber(arch, v1, v2, rtol)
    scale = max(float(np.max(edge_norms(arch, v1), initial=0.0)), 1e-300)
    if len(target) and float(np.max(np.abs(target - sym.c))) > max(rtol * scale, 1e-9 * float(np.max(np.abs(sym.c)))):
        raise FiberError("theta1 and theta2 do not lie on the fiber these classes were computed for")
    F, Fstar = sym.frozen_index, sym.invariant_index
    L1, L2 = _labels(arch, v1, F), _labels(arch, v2, F)
    if L1 == L2:
        return SymmetryCertificate(True, "same component", (), v1.copy())
    where = {int(f): i for i, f in enumerate(F.tolist())}
    word = []
    for part in sym.parts:
        have = tuple(L1[where[int(Fstar[a])]] for a in part.positions)
        need = tuple(L2[where[int(Fstar[a])]] for a in part.positions)
        if have == need:
            continue
        w = _orbit_word(part.generators, have, need, MAX_ORBIT)
        if w is None:
            edges = arch.edge_names(Fstar[list(part.positions)])
            return SymmetryCertificate(False, f"the signs on the invariant frozen edges {edges} lie in different orbits")
        if w == "cutoff":
            return SymmetryCertificate(None, f"orbit search stopped after {MAX_ORBIT} labels: undetermined")
        word.extend(w)
    gens = sym.group.generators
    n = arch.n_nodes
    steps = []
    point = v1.copy()
    if word:
        steps.append(_step(arch, point, _compose([gens[i] for i in word], n), target))
        point = steps[-1].after
    frozen = set(F.tolist())
    inv = set(Fstar.tolist())
    for f in F.tolist():
        if f in inv or np.sign(point[arch.edge_offsets[f]]) == L2[where[f]]:
            continue
        w = _word_to_frozen_free(arch, sym.group, f, frozen)
        K = _compose([gens[i] for i in w], n)
        steps.append(_step(arch, point, K, target))
        Kinv = np.argsort(K)
        img = int(edge_permutation(arch, K, [f])[0])
        steps.append(_step(arch, steps[-1].after, Kinv, target, flips=(img,)))
        point = steps[-1].after
    if _labels(arch, point, F) != L2:
        raise FiberError("internal error: the certificate does not reach theta2's component")
    return SymmetryCertificate(True, f"{len(steps)} step(s) of automorphisms and rescalings", tuple(steps), point)
