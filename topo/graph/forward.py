"""Forward pass of a neuron-level network given as a DAG (numpy, vectorised).

Nodes are evaluated level by level (longest path from the sources); the
pre-activations of one level are a single sparse matrix product.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import erf

from topo.errors import ParameterError
from topo.graph.architecture import ARCH, Architecture
from topo.graph.nodes import BIAS, DEFAULT_LEAKY_SLOPE, INPUT, OUTPUT, negative_slope
from topo.utils.validation import BOOLEAN, validate_params

__all__ = ["forward", "check_inputs", "check_forward_support", "activation_fn", "ACTIVATIONS", "node_levels"]

_SQRT2 = np.sqrt(2.0)

#: Elementwise activations that `forward` evaluates (``leaky_relu`` uses
#: PyTorch's default slope 0.01).  ``maxpool``/``avgpool`` nodes take the max/mean
#: of their weighted inputs instead of the sum.
ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, DEFAULT_LEAKY_SLOPE * z),
    "linear": lambda z: z,
    "identity": lambda z: z,
    "sum": lambda z: z,
    "gelu": lambda z: 0.5 * z * (1.0 + erf(z / _SQRT2)),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "silu": lambda z: z / (1.0 + np.exp(-z)),
    "swish": lambda z: z / (1.0 + np.exp(-z)),
    "softplus": lambda z: np.logaddexp(0.0, z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "selu": lambda z: 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(np.minimum(z, 0))),
    "square": np.square,
    "sin": np.sin,
    "exp": np.exp,
    "softsign": lambda z: z / (1.0 + np.abs(z)),
    "hardtanh": lambda z: np.clip(z, -1.0, 1.0),
    "relu6": lambda z: np.clip(z, 0.0, 6.0),
    "hardsigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0),
    "hardswish": lambda z: z * np.clip(z / 6.0 + 0.5, 0.0, 1.0),
    "mish": lambda z: z * np.tanh(np.logaddexp(0.0, z)),
}


def activation_fn(name: str):
    """The elementwise numpy function of an activation name (``leaky_relu(<slope>)`` of any
    slope), or None when [`forward`][topo.graph.forward.forward] cannot evaluate it."""
    if name in ACTIVATIONS:
        return ACTIVATIONS[name]
    slope = negative_slope(name)
    if slope is not None:
        return lambda z: np.where(z > 0, z, slope * z)
    return None


@validate_params(arch=ARCH)
def node_levels(arch: Architecture) -> np.ndarray:
    """Longest-path level of every node (sources are level 0); computed once per architecture.

    Examples
    --------
    >>> import topo
    >>> node_levels(topo.Architecture.from_edges([("x", "h"), ("h", "y"), ("x", "y")])).tolist()
    [0, 1, 2]
    """
    return arch.derived("levels", lambda: _levels(arch))


def _levels(arch: Architecture) -> np.ndarray:
    n = arch.n_nodes
    level = [0] * n
    order = np.argsort(arch.dst, kind="stable")  # nodes are topologically ordered
    dst_sorted = arch.dst[order]
    src_sorted = arch.src[order].tolist()
    ptr = np.searchsorted(dst_sorted, np.arange(n + 1)).tolist()
    for v in range(n):
        preds = src_sorted[ptr[v]:ptr[v + 1]]
        if preds:
            level[v] = 1 + max(level[u] for u in preds)
    out = np.asarray(level, dtype=np.int64)
    out.flags.writeable = False
    return out


def check_forward_support(arch: Architecture) -> None:
    """Refuse (ParameterError) what [`forward`][topo.graph.forward.forward] cannot evaluate: group edges (channel
    level) and activations without an elementwise function."""
    if np.any(arch.edge_sizes > 1):
        e = int(np.argmax(arch.edge_sizes > 1))
        raise ParameterError(
            f"forward() evaluates neuron-level networks; edge {arch.edges[e]!r} carries a group of "
            f"{int(arch.edge_sizes[e])} weights (channel level): evaluate the original model instead"
        )
    for v in arch.hidden + arch.outputs:
        a = arch.activation(v)
        if activation_fn(a) is None and a not in ("maxpool", "avgpool"):
            raise ParameterError(f"forward() cannot evaluate node {v!r} with activation {a!r}")


def check_inputs(arch: Architecture, X: Any) -> np.ndarray:
    """Validate a data batch: float array of shape (n_points, len(arch.inputs)), finite."""
    try:
        Xa = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ParameterError(f"X cannot be read as a float array: {exc}") from None
    n_in = len(arch.inputs)
    if Xa.ndim == 1 and n_in == 1:
        Xa = Xa[:, None]
    if Xa.ndim != 2 or Xa.shape[1] != n_in:
        raise ParameterError(f"X has shape {Xa.shape} but the network has {n_in} inputs (expected (n_points, {n_in}))")
    if not np.all(np.isfinite(Xa)):
        i, j = np.argwhere(~np.isfinite(Xa))[0]
        raise ParameterError(f"X has a non-finite value at row {i}, column {j}")
    return Xa


@validate_params(arch=ARCH, return_hidden=BOOLEAN)
def forward(arch: Architecture, theta: Any, X: Any, *, return_hidden: bool = False):
    """Outputs of the network on a batch.

    Parameters
    ----------
    arch : Architecture
        A neuron-level network (every edge carries one weight).
    theta : array_like or mapping
        Parameters.
    X : array_like of shape (n_points, n_inputs)
        Column ``j`` feeds ``arch.inputs[j]``; bias nodes are constant 1.
    return_hidden : bool
        Also return the values of every node, shape (n_points, n_nodes), in
        ``arch.nodes`` order (post-activation).

    Returns
    -------
    numpy.ndarray of shape (n_points, n_outputs)
        Column ``k`` is ``arch.outputs[k]``.

    Examples
    --------
    >>> import numpy as np, topo
    >>> arch = topo.Architecture.mlp([2, 2, 1], bias=False)
    >>> theta = np.array([1.0, -1.0, -1.0, 1.0, 2.0, 3.0])   # h0 = relu(x0 - x1), h1 = relu(x1 - x0)
    >>> topo.forward(arch, theta, [[3.0, 1.0], [0.0, 2.0]])   # y = 2 h0 + 3 h1
    array([[4.],
           [6.]])
    """
    vec = arch.as_vector(theta)
    check_forward_support(arch)
    Xa = check_inputs(arch, X)
    n_pts = Xa.shape[0]
    H = np.zeros((n_pts, arch.n_nodes))
    role_codes = arch.role_codes
    H[:, np.flatnonzero(role_codes == INPUT)] = Xa
    H[:, np.flatnonzero(role_codes == BIAS)] = 1.0
    levels = node_levels(arch)
    acts = arch.activations
    src, dst = arch.src, arch.dst
    edge_level = levels[dst]
    for lv in range(1, int(levels.max(initial=0)) + 1):
        nodes = np.flatnonzero(levels == lv)
        es = np.flatnonzero(edge_level == lv)
        col = np.searchsorted(nodes, dst[es])
        W = sp.csc_matrix((vec[es], (src[es], col)), shape=(arch.n_nodes, len(nodes)))
        Z = np.asarray((W.T @ H.T).T)
        for a in set(acts[i] for i in nodes.tolist()):
            sel = np.asarray([acts[i] == a for i in nodes.tolist()])
            if a in ("maxpool", "avgpool"):
                for j in np.flatnonzero(sel).tolist():
                    e_in = es[col == j]
                    terms = H[:, src[e_in]] * vec[e_in]
                    Z[:, j] = terms.max(axis=1) if a == "maxpool" else terms.mean(axis=1)
            else:
                Z[:, sel] = activation_fn(a)(Z[:, sel])
        H[:, nodes] = Z
    out = H[:, np.flatnonzero(role_codes == OUTPUT)]
    return (out, H) if return_hidden else out
