"""Connected components of a fiber up to the symmetries of the network.

An automorphism ``g`` of the network (`topo.symmetry.automorphisms`) keeps the
function but moves the balances (``c ↦ g·c``).  Rescalings restore them: for
``θ`` of full support the balances of ``T_α θ`` are the gradient of the convex
function ``x ↦ ½ Σ_e q_e exp(2 (B̃ᵀx)_e)`` at ``x = log α``, and its gradient
reaches every ``c`` ([`restore_balances`][topo.symmetry.moves.restore_balances]).  So ``θ ↦ T_α(gθ)`` maps the
fiber ``H(c)`` to itself, keeps the function and moves components.

Components are labelled by the signs ``L`` of the frozen scalar edges ``F``.
``g`` carries component ``A`` to every ``B`` with ``L_B(f) = L_A(g⁻¹f)`` for
``f ∈ F`` with ``g⁻¹f ∈ F``: the image of a non-frozen edge can have either sign.
Consequently the sign of a frozen edge whose orbit under ``G`` leaves ``F`` can
be flipped alone (move it onto a non-frozen edge, flip it there, move it back),
and the classes are the orbits of ``G`` on the signs of ``F* = {f : G f ⊆ F}``.
They are counted exactly on independent parts of ``F*``: multisets for twin
units (``n`` twins with ``t`` frozen edges each give ``C(n + 2^t - 1, n)``),
union-find over all labels on small parts, Burnside's lemma over an enumerated
group otherwise.

References
----------
.. [1] M. Nurisso, P. Leroy, G. Petri, F. Vaccarino, "Topology and geometry of the
   learning space of ReLU networks: connectivity and singularities", ICLR 2026,
   arXiv:2602.00693 (and arXiv:2410.14837, NeurIPS 2024).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from topo.fiber.connectivity import REPORT, ConnectivityReport, report_for
from topo.graph.architecture import ARCH, Architecture
from topo.symmetry.automorphisms import AutomorphismGroup, automorphism_group, edge_permutation
from topo.symmetry.certificate import certify
from topo.symmetry.moves import SymmetryCertificate
from topo.utils.text import count_repr
from topo.utils.validation import COUNT_OR_ZERO, TOLERANCE, InstanceOf, NoneOr, validate_params

__all__ = ["SymmetryClasses", "components_up_to_symmetry"]

#: Parts of F* with at most this many edges are counted by union-find over all labels.
MAX_UNION_FIND_BITS = 20
#: Burnside's lemma enumerates groups up to this order.
MAX_BURNSIDE = 20_000
#: Parts with more classes list no representatives.
MAX_PART_REPS = 1000


# ----------------------------------------------------------------------------- counting


@dataclass(frozen=True)
class _Part:
    """An independent part of F*: positions (into F*), generator actions, count, representatives."""

    positions: tuple
    method: str
    n_classes: int | None
    representatives: list | None = field(default=None, repr=False)  # sign tuples over positions
    generators: tuple = field(default=(), repr=False)  # (generator index, permutation of 0..k-1)


def _union(parent, a, b):
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[rb] = ra


def _find(parent, a):
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


def _edge_orbit_closure(arch, group, start):
    """Union-find over the edges reached from ``start`` under the generators.

    Returns (reached edge indices, dict edge -> root, images per generator {edge: image})."""
    seen = {int(e): int(e) for e in start}
    frontier = np.asarray(sorted(seen), dtype=np.int64)
    images = [dict() for _ in group.generators]
    while len(frontier):
        new = []
        for gi, perm in enumerate(group.generators):
            img = edge_permutation(arch, perm, frontier)
            for e, f in zip(frontier.tolist(), img.tolist()):
                images[gi][e] = f
                if f not in seen:
                    seen[f] = f
                    new.append(f)
                _union(seen, e, f)
        frontier = np.asarray(new, dtype=np.int64)
    roots = {e: _find(seen, e) for e in seen}
    return roots, images


def _invariant_frozen(F: np.ndarray, roots: dict) -> np.ndarray:
    """F* = frozen edges whose whole orbit is frozen (orbits are the union-find classes)."""
    inF = set(F.tolist())
    bad = {r for e, r in roots.items() if e not in inF}
    return np.asarray([f for f in F.tolist() if roots[f] not in bad], dtype=np.int64)


def _restricted(group, images, Fstar):
    """Generators as permutations of positions in F*, dropping trivial ones.
    Returns list of (generator index, position permutation)."""
    pos = {int(f): i for i, f in enumerate(Fstar.tolist())}
    out = []
    for gi in range(len(group.generators)):
        p = np.asarray([pos[images[gi][f]] for f in Fstar.tolist()], dtype=np.int64)
        if not np.array_equal(p, np.arange(len(p))):
            out.append((gi, p))
    return out


def _parts(k: int, gens: list) -> list[tuple[list, list]]:
    """Split positions 0..k-1 into parts moved together; each part with its generators."""
    parent = list(range(k))
    for _, p in gens:
        moved = np.flatnonzero(p != np.arange(k)).tolist()
        for a in moved[1:]:
            _union(parent, moved[0], a)
    groups: dict[int, list] = {}
    for i in range(k):
        groups.setdefault(_find(parent, i), []).append(i)
    parts = []
    for pos in groups.values():
        pg = [(gi, p) for gi, p in gens if any(int(p[i]) != i for i in pos)]
        parts.append((pos, pg))
    return parts


def _local(pos: list, gens: list) -> list[np.ndarray]:
    """Generator permutations re-indexed to 0..len(pos)-1."""
    idx = {a: i for i, a in enumerate(pos)}
    return [np.asarray([idx[int(p[a])] for a in pos], dtype=np.int64) for _, p in gens]


def _count_union_find(perms: list[np.ndarray], k: int, want_reps: bool):
    """Orbits of the permutation group on {±1}^k by union-find over all 2^k labels.
    Bit j of a label is 1 when position j has sign -1."""
    x = np.arange(1 << k, dtype=np.int64)
    rows, cols = [], []
    for p in perms:
        img = np.zeros_like(x)
        for j in range(k):
            img |= ((x >> j) & 1) << int(p[j])
        rows.append(x)
        cols.append(img)
    r = np.concatenate(rows) if rows else x
    cc = np.concatenate(cols) if cols else x
    A = sp.coo_matrix((np.ones(len(r), dtype=np.int8), (r, cc)), shape=(1 << k, 1 << k))
    n, lab = connected_components(A, directed=False)
    reps = None
    if want_reps:
        first = np.full(n, -1, dtype=np.int64)
        first[lab[::-1]] = x[::-1]
        reps = [tuple(-1 if (int(v) >> j) & 1 else 1 for j in range(k)) for v in np.sort(first).tolist()]
    return int(n), reps


def _enumerate_group(perms: list[np.ndarray], k: int, cap: int):
    ident = tuple(range(k))
    seen = {ident}
    queue = deque([ident])
    gens = [tuple(int(a) for a in p) for p in perms]
    while queue:
        h = queue.popleft()
        for g in gens:
            gh = tuple(g[h[i]] for i in range(k))
            if gh not in seen:
                seen.add(gh)
                if len(seen) > cap:
                    return None
                queue.append(gh)
    return seen


def _cycles(p) -> int:
    seen, n = set(), 0
    for i in range(len(p)):
        if i not in seen:
            n += 1
            while i not in seen:
                seen.add(i)
                i = p[i]
    return n


def _count_burnside(perms, k):
    elems = _enumerate_group(perms, k, MAX_BURNSIDE)
    if elems is None:
        return None
    total = sum(2 ** _cycles(g) for g in elems)
    return total // len(elems)


def _block_part(arch, group, pos, gens, Fstar):
    """Multiset count when the part is n interchangeable blocks of t edges.

    Blocks are the branches the part's edges hang from (components of the moved nodes;
    one unit each for twins).  The count ``C(n + 2^t - 1, n)`` is exact when the
    generators permute whole blocks, the group induced on blocks and the group on the
    edges both have order ``n!`` (so the group is the symmetric group on blocks), and
    every orbit of edges meets every block once (no block is twisted by its stabiliser).
    Group orders by Schreier-Sims (sympy).  Returns (count, blocks, orbit index) or None.
    """
    moved = set()
    for gi, _ in gens:
        g = group.generators[gi]
        moved.update(np.flatnonzero(g != np.arange(len(g))).tolist())
    comp = {v: v for v in moved}
    for u, v in zip(arch.src.tolist(), arch.dst.tolist()):
        if u in comp and v in comp:
            _union(comp, u, v)
    edges = Fstar[list(pos)]
    ends = [int(arch.src[e]) if int(arch.src[e]) in comp else int(arch.dst[e]) for e in edges.tolist()]
    block_of = [_find(comp, v) for v in ends]
    ids = {b: i for i, b in enumerate(dict.fromkeys(block_of))}
    block = np.asarray([ids[b] for b in block_of], dtype=np.int64)
    n = len(ids)
    sizes = np.bincount(block, minlength=n)
    if n < 2 or np.any(sizes != sizes[0]):
        return None
    t = int(sizes[0])
    perms = _local(pos, gens)
    induced = []
    for p in perms:
        img = np.full(n, -1, dtype=np.int64)
        img[block] = block[p]
        if np.any(img[block] != block[p]) or len(set(img.tolist())) != n:
            return None  # not a block system
        induced.append(img)
    orbit = np.asarray(_orbits(perms, len(pos)), dtype=np.int64)
    if len(set(orbit.tolist())) != t or any(len(set(orbit[block == b].tolist())) != t for b in range(n)):
        return None
    from sympy.combinatorics import Permutation, PermutationGroup

    full = math.factorial(n)
    if PermutationGroup([Permutation(q.tolist()) for q in induced]).order() != full:
        return None
    if PermutationGroup([Permutation(q.tolist()) for q in perms]).order() != full:
        return None
    return math.comb(n + 2**t - 1, n), block, orbit, t


def _orbits(perms, k):
    parent = list(range(k))
    for p in perms:
        for j in range(k):
            _union(parent, j, int(p[j]))
    return [_find(parent, j) for j in range(k)]


def _block_representatives(block, orbit, t, limit):
    """Labels (signs over the part's positions) of the multisets of block patterns."""
    n = int(block.max()) + 1
    labels = {o: i for i, o in enumerate(dict.fromkeys(orbit.tolist()))}
    out = []
    for combo in itertools.combinations_with_replacement(range(2**t), n):
        signs = [1] * len(block)
        for j, (b, o) in enumerate(zip(block.tolist(), orbit.tolist())):
            signs[j] = -1 if (combo[b] >> labels[o]) & 1 else 1
        out.append(tuple(signs))
        if len(out) >= limit:
            break
    return out


def _count_part(arch, group, pos, gens, Fstar, want_reps):
    k = len(pos)
    perms = _local(pos, gens)
    local = tuple((gi, p) for (gi, _), p in zip(gens, perms))
    if not gens:
        reps = [(1,), (-1,)] if k == 1 else None
        return _Part(tuple(pos), "fixed", 2**k, reps, local)
    if k <= MAX_UNION_FIND_BITS:
        n, reps = _count_union_find(perms, k, want_reps)
        return _Part(tuple(pos), "union-find", n, reps, local)
    blocks = _block_part(arch, group, pos, gens, Fstar)
    if blocks is not None:
        count, block, orbit, t = blocks
        reps = _block_representatives(block, orbit, t, count) if want_reps and count <= MAX_PART_REPS else None
        return _Part(tuple(pos), "multisets of interchangeable blocks", count, reps, local)
    n = _count_burnside(perms, k)
    return _Part(tuple(pos), "burnside" if n is not None else "not computed", n, None, local)


# ----------------------------------------------------------------------------- result


@dataclass(frozen=True)
class SymmetryClasses:
    """Components of ``H(c)`` and their classes under the network's symmetries.

    Attributes
    ----------
    n_components : int
        ``2^|F|`` (F: frozen scalar edges).
    n_classes : int or None
        Number of classes; None when not computed (see ``reason``).
    group : AutomorphismGroup
    frozen_edges : list of (u, v)
        F, in parameter order: the positions of component labels.
    invariant_edges : list of (u, v)
        F*: frozen edges whose whole orbit under the group is frozen.  The other
        frozen edges can change sign by a symmetry without changing anything else.
    representatives : list of tuple or None
        One label (signs on ``frozen_edges``, as [`topo.component_label`][topo.fiber.connectivity.component_label]) per
        class, at most ``max_representatives``; None when not enumerable.
    methods : list of str
        How each independent part of F* was counted.
    """

    arch: Architecture = field(repr=False)
    c: np.ndarray = field(repr=False)
    connectivity: ConnectivityReport = field(repr=False)
    group: AutomorphismGroup = field(repr=False)
    n_components: int = 1
    n_classes: int | None = 1
    frozen_index: np.ndarray = field(default=None, repr=False)
    invariant_index: np.ndarray = field(default=None, repr=False)
    parts: tuple = field(default=(), repr=False)
    representatives: list | None = field(default=None, repr=False)
    representatives_truncated: bool = False
    reason: str = ""

    @property
    def group_order(self) -> int:
        return self.group.order

    @property
    def log10_group_order(self) -> float:
        return self.group.log10_order

    @property
    def generators(self) -> list[dict]:
        """Generators of the group as ``{node: image}`` over the nodes they move."""
        return self.group.named_generators()

    @property
    def frozen_edges(self) -> list:
        return self.arch.edge_names(self.frozen_index)

    @property
    def invariant_edges(self) -> list:
        return self.arch.edge_names(self.invariant_index)

    @property
    def methods(self) -> list:
        return [p.method for p in self.parts]

    @validate_params(max_listed=COUNT_OR_ZERO)
    def to_dict(self, *, max_listed: int = 100) -> dict:
        reps = self.representatives
        return {
            "n_components": count_repr(self.n_components),
            "n_classes": None if self.n_classes is None else count_repr(self.n_classes),
            "exact": self.exact,
            "reason": self.reason,
            "group": self.group.to_dict(),
            "n_invariant_frozen_edges": len(self.invariant_index),
            "invariant_frozen_edges": [[str(a) for a in e] for e in self.invariant_edges[:max_listed]],
            "methods": sorted(set(self.methods)),
            "representatives": None if reps is None else [list(r) for r in reps[:max_listed]],
            "representatives_truncated": reps is not None and (self.representatives_truncated or len(reps) > max_listed),
        }

    @property
    def exact(self) -> bool:
        """False when only part of the group was searched: ``n_classes`` is then an upper bound."""
        return self.group.computed and self.n_classes is not None

    def summary(self) -> str:
        """``"N components, K up to symmetry"`` (``"at most K"`` when only twin symmetries
        were searched; ``"not computed"`` with the reason when the count was not done)."""
        n = count_repr(self.n_components)
        comps = f"{n} component{'s' if self.n_components != 1 else ''}"
        if self.n_classes is None:
            return f"{comps}, classes up to symmetry not computed"
        bound = "" if self.group.computed else "at most "
        return f"{comps}, {bound}{count_repr(self.n_classes)} up to symmetry"

    @validate_params(rtol=TOLERANCE)
    def same_class(self, theta1: Any, theta2: Any, *, rtol: float = 1e-9) -> SymmetryCertificate:
        """Whether a symmetry carries ``theta1``'s component to ``theta2``'s, with a certificate.

        Both points must lie on this fiber.  When they are equivalent the
        certificate lists [`SymmetryStep`][topo.symmetry.moves.SymmetryStep] moves (sign flips of non-frozen
        edges, automorphisms, rescalings) ending at ``point``, which lies in
        ``theta2``'s component, has the balances of ``theta2``, and — step by
        step — computes the same function as the point it came from.
        """
        return certify(self, theta1, theta2, rtol)

    def __repr__(self) -> str:
        return f"SymmetryClasses({self.summary()})"


@validate_params(arch=ARCH, tol=NoneOr(TOLERANCE), max_representatives=COUNT_OR_ZERO,
                 group=NoneOr(InstanceOf(AutomorphismGroup, name="an AutomorphismGroup (topo.automorphism_group(arch))")),
                 connectivity=REPORT)
def components_up_to_symmetry(
    arch: Architecture,
    c: Any,
    *,
    tol: float | None = None,
    max_representatives: int = 1000,
    group: AutomorphismGroup | None = None,
    connectivity: ConnectivityReport | None = None,
) -> SymmetryClasses:
    """Connected components of the fiber ``H(c)`` up to the symmetries of the network.

    Parameters
    ----------
    arch : Architecture
    c : array_like or mapping
        Balances (as for [`topo.fiber.connectivity`][topo.fiber.connectivity.connectivity]).
    tol : float, optional
        Tolerance of the frozen-edge decision (see [`topo.fiber.connectivity`][topo.fiber.connectivity.connectivity]).
    max_representatives : int
        At most this many class representatives are listed.
    group : AutomorphismGroup, optional
        A precomputed [`topo.automorphism_group`][topo.symmetry.automorphisms.automorphism_group].
    connectivity : ConnectivityReport, optional
        The report of ``topo.connectivity(arch, c)`` when it is already computed (it is
        then not computed again).

    Returns
    -------
    SymmetryClasses

    Examples
    --------
    The 2-2-1 network of the 2024 paper with ``c = (-1, -2)``: both output weights
    are frozen, four components; swapping the hidden units (and rescaling back onto
    the fiber) identifies (+, -) with (-, +):

    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 2, 1])
    >>> sym = topo.components_up_to_symmetry(arch, [-1.0, -2.0])
    >>> sym.summary()
    '4 components, 3 up to symmetry'
    >>> sym.representatives, sym.group_order
    ([(1, 1), (-1, 1), (-1, -1)], 2)
    """
    rep = report_for(arch, c, tol=tol, connectivity=connectivity)
    G = automorphism_group(arch) if group is None else group
    idx = rep.frozen_index
    F = idx[arch.edge_sizes[idx] == 1] if len(idx) else np.zeros(0, dtype=np.int64)
    base = dict(arch=arch, c=rep.c, connectivity=rep, group=G, n_components=rep.n_components, frozen_index=F)
    if len(F) == 0:
        return SymmetryClasses(**base, n_classes=1, invariant_index=F, representatives=[()])
    roots, images = _edge_orbit_closure(arch, G, F)
    Fstar = _invariant_frozen(F, roots)
    gens = _restricted(G, images, Fstar)
    want = max_representatives > 0
    parts = tuple(_count_part(arch, G, pos, pg, Fstar, want) for pos, pg in _parts(len(Fstar), gens))
    counts = [p.n_classes for p in parts]
    n_classes = None if any(n is None for n in counts) else math.prod(counts)
    reason = "" if n_classes is not None else "a part of the frozen edges has too large a symmetry group for Burnside"
    if not G.computed:
        reason = (reason + "; " if reason else "") + "an upper bound: " + G.reason
    reps, trunc = _representatives(F, Fstar, parts, max_representatives)
    return SymmetryClasses(**base, n_classes=n_classes, invariant_index=Fstar, parts=parts,
                           representatives=reps, representatives_truncated=trunc, reason=reason)


def _representatives(F, Fstar, parts, limit):
    """The first ``limit`` labels (over F) of ``itertools.product`` of the parts' representatives,
    +1 off the parts' positions; and whether there are more.  Written as one sign matrix,
    part by part (the labels of a network with thousands of frozen edges are long)."""
    if limit <= 0 or any(p.representatives is None for p in parts):
        return None, False
    total = math.prod(len(p.representatives) for p in parts)
    n_out = min(limit, total)
    if n_out == 0:
        return [], total > 0
    where = {int(f): i for i, f in enumerate(F.tolist())}
    choice, rest = [], np.arange(n_out)
    for part in reversed(parts):  # the product's order: the last part varies fastest
        rest, pick = np.divmod(rest, len(part.representatives))
        choice.append(pick)
    labels = np.ones((n_out, len(F)), dtype=np.int8)
    for part, pick in zip(parts, reversed(choice)):  # in order: a later part's sign wins, as before
        cols = [where[int(Fstar[a])] for a in part.positions]
        signs = np.asarray(part.representatives, dtype=np.int8).reshape(len(part.representatives), len(cols))
        labels[:, cols] = signs[pick]
    return [tuple(r) for r in labels.tolist()], total > n_out
