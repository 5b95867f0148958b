"""Output varieties of ReLU networks on a fixed data set.

Fix data ``X = (x_1..x_m)`` and an *activation pattern* ``A`` (which ReLU unit is
active at which point).  With ``A`` fixed, the outputs ``(f(x_1), .., f(x_m))``
are a polynomial, multilinear function ``φ_A`` of the parameters; the *pattern
variety* ``V_A`` is the Zariski closure of its image, and ``dim V_A`` is the
generic rank of the Jacobian of ``φ_A``.  topo computes that rank exactly: at
random parameters in GF(p) for 60-bit primes ``p`` (the data, dyadic rationals,
map exactly into GF(p)), with FLINT's modular linear algebra; the largest rank
over a few primes and points is the generic rank with overwhelming probability
(a rank mod p never exceeds the rank over the rationals).

References
----------
.. [1] Y. Alexandr, G. Montúfar, "Constraining the outputs of ReLU neural
   networks", arXiv:2508.03867, 2025.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from topo.errors import ParameterError
from topo.graph.architecture import ARCH, Architecture
from topo.graph.forward import check_inputs
from topo.graph.initializers import SCHEME
from topo.graph.nodes import BIAS, HIDDEN, INPUT, OUTPUT
from topo.utils.text import short
from topo.utils.validation import COUNT, COUNT_OR_ZERO, SEED, TOLERANCE, InstanceOf, Interval, NoneOr, validate_params

__all__ = [
    "PRIMES",
    "pattern_units",
    "activation_patterns",
    "realized_patterns",
    "PatternVariety",
    "pattern_variety",
    "FunctionalDimension",
    "functional_dimension",
    "modular_rank",
    "Invariant",
    "output_invariants",
    "batch_values",
    "pattern_gates",
    "pattern_jacobian",
    "unpack_pattern",
]

#: The largest primes below 2**60, used for exact ranks.
PRIMES = (1152921504606846883, 1152921504606846869, 1152921504606846803, 1152921504606846797)
_GATED = ("relu", "leaky_relu")
_LINEAR = ("linear", "identity", "sum")
_LEAKY = Fraction(1, 100)  # PyTorch's default negative slope


@validate_params(p=Interval(int, 2))
def modular_rank(M: Any, p: int = PRIMES[0]) -> int:
    """Rank of an integer matrix modulo the prime ``p`` (FLINT ``nmod_mat``).

    Examples
    --------
    >>> from topo.varieties import modular_rank
    >>> modular_rank([[1, 2], [2, 4]]), modular_rank([[1, 2], [3, 4]]), modular_rank([[2, 0], [0, 3]], p=3)
    (1, 2, 1)
    """
    import flint

    try:
        arr = np.asarray(M) if not isinstance(M, np.ndarray) else M
    except (TypeError, ValueError, OverflowError):
        raise ParameterError(f"modular_rank needs an integer matrix, got {short(M)}") from None
    if arr.ndim != 2 or arr.size == 0:
        return 0
    if arr.dtype.kind not in "iu" and arr.dtype != object:
        raise ParameterError(f"modular_rank needs an integer matrix, got dtype {arr.dtype}")
    flint.ctx.threads = 2
    # numpy -> fmpz_mat (exact integers, fastest conversion) -> reduction mod p in C
    F = flint.fmpz_mat(arr.shape[0], arr.shape[1], arr.ravel().tolist())
    return int(flint.nmod_mat(F, p).rank())


def _float_rank(M: np.ndarray, rtol: float = 1e-10) -> int:
    """Numerical rank: singular values above ``rtol`` times the largest."""
    if M.size == 0:
        return 0
    s = np.linalg.svd(M, compute_uv=False)
    return int(np.sum(s > rtol * s[0])) if s[0] > 0 else 0


@validate_params(arch=ARCH)
def pattern_units(arch: Architecture) -> list:
    """The hidden units an activation pattern refers to: ReLU and leaky-ReLU nodes.

    Other hidden nodes must be linear for the variety functions (their value is
    not piecewise linear with a single kink otherwise).
    """
    units = []
    for v in arch.hidden:
        a = arch.activation(v)
        if a in _GATED:
            units.append(v)
        elif a not in _LINEAR:
            raise ParameterError(
                f"node {v!r} has activation {a!r}: output varieties need ReLU, leaky ReLU or linear hidden units"
            )
    if np.any(arch.edge_sizes > 1):
        e = int(np.argmax(arch.edge_sizes > 1))
        raise ParameterError(f"output varieties need neuron-level networks; edge {arch.edges[e]!r} is a group")
    return units


def _check_pattern(arch: Architecture, X: np.ndarray, pattern: Any) -> np.ndarray:
    units = pattern_units(arch)
    try:
        A = np.asarray(pattern)
    except (TypeError, ValueError, OverflowError):
        A = None
    if A is None or A.dtype.kind not in "biu":
        raise ParameterError(f"pattern must be an array of booleans (n_points, n_relu_units), got {short(pattern)}")
    A = A.astype(bool)
    if A.shape != (len(X), len(units)):
        raise ParameterError(
            f"pattern has shape {A.shape}, expected (n_points, n_relu_units) = {(len(X), len(units))}"
        )
    return A


def batch_values(arch: Architecture, thetas: np.ndarray, X: np.ndarray, gates: np.ndarray | None = None):
    """Node values for many parameter vectors: (S, m, n_nodes) pre- and post-activations.

    With ``gates`` (m, n_nodes) the ReLU units use those 0/1 gates instead of
    the sign of their pre-activation (the fixed-pattern map φ_A).
    """
    S, m = thetas.shape[0], X.shape[0]
    n = arch.n_nodes
    H = np.zeros((S, m, n))
    Z = np.zeros((S, m, n))
    role = arch.role_codes
    H[:, :, np.flatnonzero(role == INPUT)] = X[None, :, :]
    H[:, :, np.flatnonzero(role == BIAS)] = 1.0
    order = np.argsort(arch.dst, kind="stable")
    ptr = np.searchsorted(arch.dst[order], np.arange(n + 1))
    src = arch.src
    for v in range(n):
        es = order[ptr[v]:ptr[v + 1]]
        if len(es) == 0:
            continue
        z = np.einsum("se,sme->sm", thetas[:, es], H[:, :, src[es]])
        Z[:, :, v] = z
        a = arch.activations[v]
        if role[v] == HIDDEN and a in _GATED:
            g = (z > 0) if gates is None else gates[None, :, v].astype(bool)
            slope = 0.0 if a == "relu" else float(_LEAKY)
            H[:, :, v] = np.where(g, z, slope * z)
        else:
            H[:, :, v] = z
    return Z, H


@validate_params(arch=ARCH)
def activation_patterns(arch: Architecture, theta: Any, X: Any) -> np.ndarray:
    """Boolean pattern (n_points × n_relu_units): which ReLU unit is active where.

    Columns follow `pattern_units` (for an MLP: ``arch.hidden``).  A unit
    is active when its pre-activation is > 0.

    Examples
    --------
    >>> import numpy as np, topo
    >>> arch = topo.Architecture.mlp([1, 2, 1], bias=False)
    >>> topo.activation_patterns(arch, [1.0, -1.0, 1.0, 1.0], [[2.0], [-3.0]])
    array([[ True, False],
           [False,  True]])
    """
    vec = arch.as_vector(theta)
    Xa = check_inputs(arch, X)
    units = pattern_units(arch)
    Z, _ = batch_values(arch, vec[None, :], Xa)
    idx = [arch.node_index(v) for v in units]
    return Z[0][:, idx] > 0


@validate_params(arch=ARCH, n_samples=COUNT_OR_ZERO, seed=SEED, scheme=SCHEME, batch=COUNT)
def realized_patterns(
    arch: Architecture, X: Any, *, n_samples: int = 10_000, seed: int | None = 0, scheme: str = "normal",
    batch: int = 4096,
) -> dict:
    """Distinct patterns realised by random parameters, with their counts.

    Returns ``{pattern_bytes: count}`` where ``pattern_bytes`` is
    ``np.packbits(pattern).tobytes()``; use `unpack_pattern` for arrays.
    A pattern never drawn may still be realisable (rarely).

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([1, 1, 1])
    >>> counts = topo.realized_patterns(arch, [[1.0], [-1.0]], n_samples=2000, seed=0)
    >>> len(counts)          # one unit, two points: all four patterns occur
    4
    """
    Xa = check_inputs(arch, X)
    units = pattern_units(arch)
    idx = np.asarray([arch.node_index(v) for v in units], dtype=np.int64)
    rng = np.random.default_rng(seed)
    counts: dict[bytes, int] = {}
    done = 0
    while done < n_samples:
        s = min(batch, n_samples - done)
        thetas = np.stack([arch.init(scheme, seed=rng) for _ in range(s)])
        Z, _ = batch_values(arch, thetas, Xa)
        pats = Z[:, :, idx] > 0
        packed = np.packbits(pats.reshape(s, -1), axis=1)
        uniq, cnt = np.unique(packed, axis=0, return_counts=True)
        for row, k in zip(uniq, cnt.tolist()):
            key = row.tobytes()
            counts[key] = counts.get(key, 0) + k
        done += s
    return counts


@validate_params(key=InstanceOf(bytes, name="bytes (a key of realized_patterns)"), n_points=COUNT_OR_ZERO,
                 n_units=COUNT_OR_ZERO)
def unpack_pattern(key: bytes, n_points: int, n_units: int) -> np.ndarray:
    """Inverse of the keys of [`realized_patterns`][topo.varieties.patterns.realized_patterns]."""
    bits = np.unpackbits(np.frombuffer(key, dtype=np.uint8))[: n_points * n_units]
    return bits.reshape(n_points, n_units).astype(bool)


def _to_mod(x: float, p: int) -> int:
    fr = Fraction(x)
    return fr.numerator % p * pow(fr.denominator % p, -1, p) % p


def pattern_gates(arch: Architecture, A: np.ndarray, units: list) -> np.ndarray:
    """(m, n_nodes) multipliers: pattern bits for ReLU units, 1 elsewhere."""
    g = np.ones((A.shape[0], arch.n_nodes), dtype=object)
    for j, v in enumerate(units):
        i = arch.node_index(v)
        slope = 0 if arch.activations[i] == "relu" else _LEAKY
        g[:, i] = [1 if a else slope for a in A[:, j].tolist()]
    return g


def pattern_jacobian(arch: Architecture, X, theta, gates, ring) -> np.ndarray:
    """Jacobian of the fixed-pattern outputs: rows (point, output), columns parameters.

    ``ring`` maps a number into the working ring (identity for floats, ``% p``
    for GF(p)); entries of ``J[(i, k), e]`` are ``G[i, k, head(e)] * H[i, tail(e)]``
    with ``H`` the gated node values and ``G`` the gated output sensitivities.
    """
    m = len(X)
    n = arch.n_nodes
    dtype = object if ring is not None else np.float64
    red = (lambda a: a) if ring is None else ring
    H = np.zeros((m, n), dtype=dtype)
    role = arch.role_codes
    for j, v in enumerate(np.flatnonzero(role == INPUT).tolist()):
        H[:, v] = X[:, j]
    H[:, np.flatnonzero(role == BIAS)] = 1
    src, dst = arch.src, arch.dst
    order = np.argsort(dst, kind="stable")
    ptr = np.searchsorted(dst[order], np.arange(n + 1))
    for v in range(n):
        es = order[ptr[v]:ptr[v + 1]]
        if len(es):
            z = H[:, src[es]] @ theta[es] if ring is None else red(H[:, src[es]].dot(theta[es]))
            H[:, v] = red(z * gates[:, v]) if ring is not None else z * gates[:, v].astype(np.float64)
    outs = np.flatnonzero(role == OUTPUT)
    G = np.zeros((m, len(outs), n), dtype=dtype)
    for k, o in enumerate(outs.tolist()):
        G[:, k, o] = 1
    order_s = np.argsort(src, kind="stable")
    ptr_s = np.searchsorted(src[order_s], np.arange(n + 1))
    for v in range(n - 1, -1, -1):
        if role[v] != HIDDEN:
            continue
        es = order_s[ptr_s[v]:ptr_s[v + 1]]
        acc = G[:, :, dst[es]].dot(theta[es])
        g = gates[:, v] if ring is not None else gates[:, v].astype(np.float64)
        G[:, :, v] = red(acc * g[:, None])
    J = G[:, :, dst] * H[:, None, src]
    return red(J.reshape(m * len(outs), arch.n_edges))


@dataclass(frozen=True)
class PatternVariety:
    """Dimension data of the pattern variety V_A.

    Attributes
    ----------
    dimension : int
        Generic rank of the Jacobian of φ_A (exact; max over ``trials``).
    ambient_dimension : int
        ``n_outputs * n_points``.
    expected_dimension : int
        ``min(ambient, N - k)``, N parameters, one rescaling per constrained class (here, with
        every edge trainable, per ReLU / linear hidden unit).
    is_defective : bool
        ``dimension < expected_dimension``.
    float_rank : int or None
        Numerical rank of the Jacobian at a real parameter realising the pattern,
        when one was found.
    trials : list of (prime, rank)
    realizing_theta : ndarray or None
    """

    dimension: int
    ambient_dimension: int
    expected_dimension: int
    float_rank: int | None
    trials: list = field(repr=False)
    realizing_theta: np.ndarray | None = field(default=None, repr=False)

    @property
    def is_defective(self) -> bool:
        return self.dimension < self.expected_dimension

    def to_dict(self) -> dict:
        return {
            "dimension": self.dimension,
            "ambient_dimension": self.ambient_dimension,
            "expected_dimension": self.expected_dimension,
            "is_defective": self.is_defective,
            "float_rank": self.float_rank,
            "trials": [{"prime": p, "rank": r} for p, r in self.trials],
        }


def _n_symmetries(arch: Architecture) -> int:
    """Dimension of the rescaling symmetry in the trainable coordinates: one direction per
    constrained rescaling class (THEORY.md §1), less one per group of classes that no trainable
    edge ties to a free node (their Euler vectors are then dependent): the rank of B̃, by a
    component count on the quotient graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    k = arch.n_constrained
    if k == 0:
        return 0
    row = np.where(arch.node_row >= 0, arch.node_row, k)  # every free node is one ground vertex k
    e = arch.quotient_edges
    a, b = row[arch.src[e]], row[arch.dst[e]]
    graph = coo_matrix((np.ones(len(e)), (a, b)), shape=(k + 1, k + 1))
    _, comp = connected_components(graph, directed=False)
    floating = np.setdiff1d(np.unique(comp[:k]), [comp[k]])
    return k - len(floating)


def _trainable_columns(arch: Architecture) -> np.ndarray:
    """Columns of the pattern Jacobian (one per edge) that are parameters of the network."""
    return np.flatnonzero(arch.edge_trainable)


def _n_trainable(arch: Architecture) -> int:
    return int(arch.edge_sizes[arch.edge_trainable].sum())


@validate_params(arch=ARCH, seed=SEED, n_primes=Interval(int, 1, len(PRIMES)), n_points=COUNT,
                 search=COUNT_OR_ZERO)
def pattern_variety(
    arch: Architecture,
    X: Any,
    pattern: Any,
    *,
    seed: int | None = 0,
    n_primes: int = 2,
    n_points: int = 1,
    search: int = 2000,
) -> PatternVariety:
    """Dimension of the pattern variety V_A of ``arch`` on data ``X``.

    Parameters
    ----------
    arch : Architecture
        Neuron-level, ReLU / leaky-ReLU / linear hidden units.
    X : array_like (n_points, n_inputs)
    pattern : array_like of bool (n_points, n_relu_units)
    seed : int
        Seeds the random parameters in GF(p) and the realisation search.
    n_primes, n_points : int
        Number of primes and of random parameter points per prime.
    search : int
        Random real parameters tried to realise the pattern (for ``float_rank``).

    Examples
    --------
    One region (every unit active at every point) of a 2-3-2 network on 5 points:
    ``dim = n_L + r (n_0 + n_L - r) = 2 + 2 * 2 = 6`` with ``r = 2``.

    >>> import numpy as np, topo
    >>> arch = topo.Architecture.mlp([2, 3, 2])
    >>> X = np.random.default_rng(0).standard_normal((5, 2))
    >>> V = topo.pattern_variety(arch, X, np.ones((5, 3), bool))
    >>> V.dimension, V.ambient_dimension, V.expected_dimension, V.is_defective
    (6, 10, 10, True)
    """
    fixed = np.flatnonzero(~arch.edge_trainable)
    if len(fixed):
        u, v = arch.edges[int(fixed[0])]
        raise ParameterError(
            f"pattern_variety draws generic values for every edge, but {len(fixed)} edge(s) are fixed "
            f"(non-trainable), e.g. {short(u)} -> {short(v)}, and their values are part of the network: use "
            "functional_dimension(arch, theta, X) at parameters that hold them")
    Xa = check_inputs(arch, X)
    units = pattern_units(arch)
    A = _check_pattern(arch, Xa, pattern)
    gates = pattern_gates(arch, A, units)
    rng = np.random.default_rng(seed)
    trials = []
    n_out = len(arch.outputs)
    for p in PRIMES[:n_primes]:
        Xp = np.array([[_to_mod(x, p) for x in row] for row in Xa.tolist()], dtype=object).reshape(Xa.shape)
        gp = np.vectorize(lambda g: _to_mod(g, p) if isinstance(g, Fraction) else int(g) % p, otypes=[object])(gates)
        for _ in range(n_points):
            theta = np.array([int(x) for x in rng.integers(1, 1 << 62, size=arch.n_params)], dtype=object)
            theta = theta % p
            J = pattern_jacobian(arch, Xp, theta, gp, lambda a, p=p: a % p)
            trials.append((p, modular_rank(J, p)))
    dimension = max(r for _, r in trials)
    ambient = n_out * len(Xa)
    expected = min(ambient, arch.n_params - _n_symmetries(arch))
    theta_real = _realize(arch, Xa, A, units, rng, search)
    float_rank = None
    if theta_real is not None:
        Jf = pattern_jacobian(arch, Xa, theta_real, gates, None)
        float_rank = _float_rank(Jf)
    return PatternVariety(dimension, ambient, expected, float_rank, trials, theta_real)


def _realize(arch, Xa, A, units, rng, n_tries, batch=512):
    idx = np.asarray([arch.node_index(v) for v in units], dtype=np.int64)
    done = 0
    while done < n_tries:
        s = min(batch, n_tries - done)
        thetas = np.stack([arch.init("normal", seed=rng) for _ in range(s)])
        Z, _ = batch_values(arch, thetas, Xa)
        ok = np.all((Z[:, :, idx] > 0) == A[None], axis=(1, 2))
        if ok.any():
            return thetas[int(np.argmax(ok))]
        done += s
    return None


@dataclass(frozen=True)
class FunctionalDimension:
    """Rank of the batch Jacobian at given parameters, with its bounds."""

    rank: int
    bound: int
    ambient_dimension: int


@validate_params(arch=ARCH, tol=NoneOr(TOLERANCE))
def functional_dimension(arch: Architecture, theta: Any, X: Any, *, tol: float | None = None) -> FunctionalDimension:
    """Functional dimension of a network on a batch: rank of d(outputs)/d(θ).

    Singular values below ``tol`` (default ``1e-10``) times the largest count as zero.

    Only trainable edges are parameters (a fixed edge, such as a residual skip, is a constant).
    The bound is ``N - k``: ``N`` trainable parameters, ``k`` rescaling symmetries, one per
    constrained rescaling class (a hidden unit, or a residual stream channel with the units
    its fixed edges join); the ambient dimension ``n_outputs * n_points``.

    Examples
    --------
    >>> import numpy as np, topo
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> X = np.random.default_rng(1).standard_normal((40, 2))
    >>> fd = topo.functional_dimension(arch, arch.init(seed=0), X)
    >>> fd.rank <= fd.bound == 13 - 3
    True
    """
    vec = arch.as_vector(theta)
    Xa = check_inputs(arch, X)
    units = pattern_units(arch)
    A = activation_patterns(arch, vec, Xa)
    gates = pattern_gates(arch, A, units)
    J = pattern_jacobian(arch, Xa, vec, gates, None)[:, _trainable_columns(arch)]
    rank = _float_rank(J, 1e-10 if tol is None else tol)
    return FunctionalDimension(rank, _n_trainable(arch) - _n_symmetries(arch), len(arch.outputs) * len(Xa))


# ----------------------------------------------------------------------------- invariants


@dataclass(frozen=True)
class Invariant:
    """A necessary condition on the outputs: a matrix built from Y has rank <= bound
    (all its (bound+1)-minors vanish).

    ``kind`` is one of ``"affine"``, ``"rank"`` (one region), ``"region-rank"``,
    ``"stacked-columns"``, ``"stacked-rows"``, ``"difference"`` (two regions).
    ``caveat`` flags conditions that hold only under extra hypotheses (none of the
    conditions topo lists: each is proved in ``docs/varieties.md``).
    """

    name: str
    kind: str
    bound: int
    points: tuple
    regions: tuple = ()
    caveat: str = ""

    def matrix(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return _invariant_matrix(self, X, Y)


def _regions(A: np.ndarray) -> list[tuple[tuple, np.ndarray]]:
    keys = {}
    for i, row in enumerate(A.tolist()):
        keys.setdefault(tuple(row), []).append(i)
    return [(k, np.asarray(v)) for k, v in keys.items()]


def _linear_rank(arch: Architecture, gates_row: np.ndarray, seed: int = 0) -> int:
    """Generic rank of the linear part x -> f(x) - f(0) with fixed gates."""
    rng = np.random.default_rng(seed)
    n_in = len(arch.inputs)
    Xe = np.vstack([np.zeros(n_in), np.eye(n_in)])
    g = np.tile(gates_row, (len(Xe), 1))
    best = 0
    for _ in range(3):
        theta = arch.init("normal", seed=rng)
        _, H = batch_values(arch, theta[None], Xe, gates=g)
        outs = H[0][:, np.flatnonzero(arch.role_codes == OUTPUT)]
        best = max(best, _float_rank(outs[1:] - outs[0]))
    return best


def _region_map(X: np.ndarray, Y: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Least-squares affine map ``x -> M x + beta`` of one region, if it is determined."""
    Xr = np.hstack([X[pts], np.ones((len(pts), 1))])
    if np.linalg.matrix_rank(Xr) < Xr.shape[1]:
        return None
    coef, *_ = np.linalg.lstsq(Xr, Y[pts], rcond=None)
    return coef[:-1].T, coef[-1]


def _invariant_matrix(inv: Invariant, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    pts = np.asarray(inv.points)
    if inv.kind in ("affine", "region-affine"):
        return np.vstack([Y[pts].T, X[pts].T, np.ones((1, len(pts)))])
    if inv.kind == "rank":
        return (Y[pts[1:]] - Y[pts[0]]).T
    maps = [_region_map(X, Y, np.asarray(r)) for r in inv.regions]
    if inv.kind == "region-rank":
        return maps[0][0]
    (M1, b1), (M2, b2) = maps
    if inv.kind == "stacked-columns":
        return np.hstack([M1, M2, (b1 - b2)[:, None]])
    if inv.kind == "stacked-rows":
        return np.hstack([M1.T, M2.T])
    return np.hstack([M1 - M2, (b1 - b2)[:, None]])


@validate_params(arch=ARCH)
def output_invariants(arch: Architecture, X: Any, pattern: Any) -> list[Invariant]:
    """Necessary rank conditions on outputs ``Y`` produced with ``pattern`` on ``X``.

    * One region (all points share a pattern): the outputs are ``M x + b`` with
      ``rank M <= r`` (``r`` = generic rank of the gated linear map, for an MLP
      ``min(n_0, n_L, active widths)``): ``[Y; X; 1]`` has rank ``<= n_0 + 1``
      (``"affine"``, when ``m > n_0 + 1``) and the centred outputs rank ``<= r``
      (``"rank"``).
    * Two regions of a shallow network ``n_0 -> n_1 -> n_2`` (each region with at
      least ``n_0 + 1`` affinely independent points, so that its map
      ``f_k(x) = M_k x + b_k`` is determined): the outputs of each region are affine
      (``"region-affine"``), ``rank M_k <= r_k``, ``rank [M_1 | M_2 | b_1 - b_2] <= n_1``,
      ``rank [M_1^T | M_2^T] <= n_1`` and ``rank [M_1 - M_2 | b_1 - b_2] <= r_1 + r_2 - 2s``
      with ``r_k`` the number of *active units* of region ``k`` and ``s`` the number
      active in both (``docs/varieties.md`` has the proof; with ``r_k = rank M_k`` the
      last bound is false).

    Examples
    --------
    >>> import numpy as np, topo
    >>> arch = topo.Architecture.mlp([2, 1, 2])
    >>> X = np.random.default_rng(0).standard_normal((5, 2))
    >>> [(inv.kind, inv.bound) for inv in topo.output_invariants(arch, X, np.ones((5, 1), bool))]
    [('affine', 3), ('rank', 1)]
    """
    Xa = check_inputs(arch, X)
    units = pattern_units(arch)
    A = _check_pattern(arch, Xa, pattern)
    n0, nL = len(arch.inputs), len(arch.outputs)
    gates = pattern_gates(arch, A, units).astype(np.float64)
    regs = _regions(A)
    invs: list[Invariant] = []
    if len(regs) == 1:
        pts = tuple(range(len(Xa)))
        if len(Xa) > n0 + 1:
            invs.append(Invariant("outputs are affine in the data", "affine", n0 + 1, pts))
        r = _linear_rank(arch, gates[0])
        if r < min(nL, len(Xa) - 1):
            invs.append(Invariant(f"centred outputs have rank <= {r}", "rank", r, pts))
        return invs
    shallow = len(units) == len(arch.hidden) and _is_shallow(arch)
    if len(regs) == 2 and shallow:
        invs += _two_region_invariants(Xa, regs, gates, units, arch, n0, nL)
    return invs


def _two_region_invariants(Xa, regs, gates, units, arch, n0, nL) -> list[Invariant]:
    """Conditions on the region maps ``f_k(x) = M_k x + beta_k`` of a shallow network.

    With ``D_k`` the diagonal gates of region ``k`` (1 active, 0 or the leaky slope
    inactive): ``[M_k | beta_k - b_2] = W_2 D_k [W_1 | b_1]``, so
    ``rank M_k <= rank D_k``, ``[M_1 | M_2 | beta_1 - beta_2]`` lies in the column space
    of ``W_2`` (rank ``<= n_1``), ``[M_1^T | M_2^T]`` in the column space of ``W_1^T``,
    and ``[M_1 - M_2 | beta_1 - beta_2] = W_2 (D_1 - D_2) [W_1 | b_1]`` has rank
    ``<= rank(D_1 - D_2) = #{units whose gate differs} = r_1 + r_2 - 2s`` for ReLU units
    (``r_k`` active units, ``s`` active in both): for every parameter, not only generic ones.
    """
    (k1, p1), (k2, p2) = regs
    n1 = len(units)
    idx = [arch.node_index(v) for v in units]
    g1, g2 = gates[p1[0], idx], gates[p2[0], idx]
    determined = all(
        np.linalg.matrix_rank(np.hstack([Xa[p], np.ones((len(p), 1))])) == n0 + 1 for p in (p1, p2)
    )
    if not determined:
        return []
    both = (tuple(p1.tolist()), tuple(p2.tolist()))
    allp = tuple(range(len(Xa)))
    invs = []
    for reg in both:
        if len(reg) > n0 + 1:
            invs.append(Invariant("outputs of one region are affine in the data", "region-affine", n0 + 1, reg))
    for reg, g in ((both[0], g1), (both[1], g2)):
        rk = int(np.count_nonzero(g))
        if rk < min(n0, nL):
            invs.append(Invariant(f"region map has rank <= {rk}", "region-rank", rk, allp, (reg,)))
    if n1 < min(nL, 2 * n0 + 1):
        invs.append(Invariant(f"[M1 | M2 | b1 - b2] has rank <= {n1}", "stacked-columns", n1, allp, both))
    if n1 < min(n0, 2 * nL):
        invs.append(Invariant(f"[M1^T | M2^T] has rank <= {n1}", "stacked-rows", n1, allp, both))
    t = int(np.count_nonzero(g1 != g2))
    if t < min(nL, n0 + 1):
        invs.append(Invariant(f"[M1 - M2 | b1 - b2] has rank <= {t}", "difference", t, allp, both))
    return invs


def _is_shallow(arch: Architecture) -> bool:
    """Inputs -> one hidden layer -> outputs, no input -> output skip edge (biases allowed)."""
    from topo.graph.forward import node_levels

    lv = node_levels(arch)
    hid = [arch.node_index(v) for v in arch.hidden]
    skip = np.any((arch.role_codes[arch.src] == INPUT) & (arch.role_codes[arch.dst] == OUTPUT))
    return (bool(hid) and not skip and all(lv[i] == 1 for i in hid)
            and all(lv[arch.node_index(o)] == 2 for o in arch.outputs))

