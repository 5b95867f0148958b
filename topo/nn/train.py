"""Training runs that record parameters and balances (PyTorch autograd).

[`train`][topo.nn.train.train] runs gradient descent (or SGD / Adam) on a neuron-level network
given as an [`Architecture`][topo.graph.architecture.Architecture], using PyTorch's autograd for the
gradients, and returns the trajectory of parameters, balances and losses.  With
small steps the balances stay put (drift ``O(lr)``); with weight decay ``λ`` they
decay like ``c(t) = exp(-2 λ t) c(0)``, ``t = lr · step``, which drives the
network towards the pruned strata of `topo.fiber.singular`.  Balances are
those of the rescaling classes (one per constrained class, shared by every unit of a
residual stream channel); fixed edges are part of the architecture and are never
updated (the class invariance needs them constant).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from topo.errors import ParameterError
from topo.fiber.balance import balance
from topo.graph.architecture import ARCH, Architecture
from topo.graph.forward import check_forward_support, check_inputs, node_levels
from topo.graph.nodes import BIAS, DEFAULT_LEAKY_SLOPE, INPUT, OUTPUT, negative_slope
from topo.utils.text import short
from topo.utils.validation import (
    COUNT,
    COUNT_OR_ZERO,
    POSITIVE,
    TOLERANCE,
    Interval,
    IsCallable,
    NoneOr,
    Options,
    validate_params,
)

__all__ = ["Trajectory", "train", "TORCH_SEED"]

#: A seed of a torch generator (``torch.Generator().manual_seed``): None or an integer in [0, 2^64).
TORCH_SEED = NoneOr(Interval(int, 0, 2**64 - 1))


@dataclass(frozen=True)
class Trajectory:
    """What [`train`][topo.nn.train.train] recorded.

    Attributes
    ----------
    steps : ndarray of int, shape (n_records,)
    times : ndarray, shape (n_records,)
        ``lr * step``: the gradient-flow time of each record.
    thetas : ndarray, shape (n_records, n_params)
    balances : ndarray, shape (n_records, n_constrained)
    losses : ndarray, shape (n_records,)
        Data loss (without the penalties) at each record.
    """

    steps: np.ndarray
    times: np.ndarray
    thetas: np.ndarray
    balances: np.ndarray
    losses: np.ndarray

    @property
    def theta(self) -> np.ndarray:
        """The final parameters."""
        return self.thetas[-1]

    def balance_drift(self) -> float:
        """Largest change of any balance over the run."""
        return float(np.abs(self.balances - self.balances[0]).max(initial=0.0))


def _import_torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - CI installs torch
        raise ImportError(
            "topo.train needs PyTorch: pip install torch, or pip install '.[torch]' from a topo checkout"
        ) from None
    return torch


def _functional(name: str):
    return lambda t, z: getattr(t.nn.functional, name)(z)


#: The torch function of every activation name `train` evaluates.
_TORCH_ACTS = {
    "relu": lambda t, z: t.relu(z),
    "leaky_relu": lambda t, z: t.nn.functional.leaky_relu(z, DEFAULT_LEAKY_SLOPE),
    "linear": lambda t, z: z,
    "identity": lambda t, z: z,
    "sum": lambda t, z: z,
    "tanh": lambda t, z: t.tanh(z),
    "sigmoid": lambda t, z: t.sigmoid(z),
    "swish": _functional("silu"),
    "square": lambda t, z: z * z,
    "sin": lambda t, z: t.sin(z),
    "exp": lambda t, z: t.exp(z),
} | {name: _functional(name) for name in ("gelu", "silu", "softplus", "elu", "selu", "softsign", "hardtanh",
                                         "relu6", "hardswish", "hardsigmoid", "mish")}


def _torch_act(name: str):
    """The torch function of an activation name (``leaky_relu(<slope>)`` of any slope)."""
    if name in _TORCH_ACTS:
        return _TORCH_ACTS[name]
    slope = negative_slope(name)
    return lambda t, z: t.nn.functional.leaky_relu(z, slope)


class _TorchNet:
    """The DAG as a differentiable function of a flat parameter tensor."""

    def __init__(self, arch: Architecture, torch):
        check_forward_support(arch)
        self.t = torch
        self.arch = arch
        levels = node_levels(arch)
        acts = arch.activations
        self.n_nodes = arch.n_nodes
        self.inputs = torch.as_tensor(np.flatnonzero(arch.role_codes == INPUT))
        self.biases = torch.as_tensor(np.flatnonzero(arch.role_codes == BIAS))
        self.outputs = torch.as_tensor(np.flatnonzero(arch.role_codes == OUTPUT))
        self.plan = []
        for lv in range(1, int(levels.max(initial=0)) + 1):
            nodes = np.flatnonzero(levels == lv)
            es = np.flatnonzero(levels[arch.dst] == lv)
            col = np.searchsorted(nodes, arch.dst[es])
            groups = {}
            for j, v in enumerate(nodes.tolist()):
                groups.setdefault(acts[v], []).append(j)
            self.plan.append((
                torch.as_tensor(nodes), torch.as_tensor(es), torch.as_tensor(arch.src[es]),
                torch.as_tensor(col), {a: torch.as_tensor(js) for a, js in groups.items()},
            ))

    def __call__(self, theta, X):
        t = self.t
        n = X.shape[0]
        H = t.zeros(n, self.n_nodes, dtype=X.dtype)
        H = H.index_copy(1, self.inputs, X)
        if len(self.biases):
            H = H.index_copy(1, self.biases, t.ones(n, len(self.biases), dtype=X.dtype))
        for nodes, es, src, col, groups in self.plan:
            contrib = None
            if self.n_nodes * len(nodes) <= 50_000_000:  # dense weight block: one matmul
                W = t.zeros(self.n_nodes, len(nodes), dtype=X.dtype).index_put((src, col), theta[es])
                Z = H @ W
            else:  # very wide level: gather and scatter the edge contributions
                contrib = H[:, src] * theta[es]
                Z = t.zeros(n, len(nodes), dtype=X.dtype).index_add(1, col, contrib)
            for a, js in groups.items():
                if a in ("maxpool", "avgpool"):
                    if contrib is None:
                        contrib = H[:, src] * theta[es]
                    reduce = "amax" if a == "maxpool" else "mean"
                    pooled = t.zeros(n, len(nodes), dtype=X.dtype).scatter_reduce(
                        1, col.expand(n, -1), contrib, reduce=reduce, include_self=False)
                    Z = Z.index_copy(1, js, pooled[:, js])
                elif a not in ("linear", "identity", "sum"):
                    Z = Z.index_copy(1, js, _torch_act(a)(t, Z[:, js]))
            H = H.index_copy(1, nodes, Z)
        return H[:, self.outputs]


def _loss_and_targets(torch, loss: str, ya: np.ndarray, n_out: int):
    """The loss function and the target tensor for ``loss`` (shapes and labels checked)."""
    if loss == "mse":
        shape = ya.shape
        ya = ya.reshape(len(ya), -1).astype(np.float64)
        if ya.shape[1] != n_out:
            raise ParameterError(f"y has shape {shape} but the network has {n_out} outputs")
        loss_fn = lambda out, target: torch.mean((out - target) ** 2)  # noqa: E731
        yt = torch.as_tensor(ya)
    elif loss == "bce":
        if n_out != 1:
            raise ParameterError(f"loss='bce' needs one output (a logit), the network has {n_out}")
        yt = torch.as_tensor(ya.reshape(-1, 1).astype(np.float64))
        loss_fn = torch.nn.functional.binary_cross_entropy_with_logits
    elif loss == "ce":
        yt = torch.as_tensor(ya.astype(np.int64).reshape(-1))
        if yt.numel() and (int(yt.min()) < 0 or int(yt.max()) >= n_out):
            raise ParameterError(f"class labels must lie in [0, {n_out}) for loss='ce'")
        loss_fn = torch.nn.functional.cross_entropy
    else:
        raise ParameterError(LOSS.message("loss", loss))
    return loss_fn, yt


def _optimizer(torch, optimizer: str, param, lr: float):
    """The torch optimizer named ``optimizer`` (``"gd"`` and ``"sgd"`` are both plain SGD)."""
    if optimizer in ("gd", "sgd"):
        return torch.optim.SGD([param], lr=lr)
    elif optimizer == "adam":
        return torch.optim.Adam([param], lr=lr)
    else:
        raise ParameterError(OPTIMIZER.message("optimizer", optimizer))


class _FullParameters:
    """The trainable weights as one torch leaf ``param``; calling gives the flat parameter
    tensor of ``arch`` with the fixed edges' weights kept constant (they get no gradient,
    no weight decay and no L1: a fixed weight is part of the architecture)."""

    def __init__(self, torch, arch: Architecture, vec: np.ndarray):
        free = np.repeat(arch.edge_trainable, arch.edge_sizes)  # one flag per parameter
        self.all_trainable = bool(free.all())
        self.param = torch.tensor(vec[free], dtype=torch.float64, requires_grad=True)
        self.index = torch.as_tensor(np.flatnonzero(free))
        self.const = torch.as_tensor(np.where(free, 0.0, vec))

    def __call__(self):
        if self.all_trainable:
            return self.param
        return self.const.index_put((self.index,), self.param)


LOSS = Options("mse", "bce", "ce", unknown="loss")
OPTIMIZER = Options("gd", "sgd", "adam", unknown="optimizer")


def _targets(y: Any) -> np.ndarray:
    """``y`` as an array of numbers or booleans with one row per point."""
    try:
        ya = np.asarray(y)
    except (TypeError, ValueError, OverflowError):
        ya = None
    if ya is None or ya.ndim == 0 or ya.dtype.kind not in "biuf":
        raise ParameterError(f"y must be an array of numbers with one row per point, got {short(y)}")
    return ya


@validate_params(arch=ARCH, loss=LOSS, optimizer=OPTIMIZER, lr=POSITIVE, steps=COUNT_OR_ZERO, weight_decay=TOLERANCE,
                 l1=TOLERANCE, penalty=NoneOr(IsCallable()), batch_size=COUNT, seed=TORCH_SEED, record_every=COUNT)
def train(
    arch: Architecture,
    theta: Any,
    X: Any,
    y: Any,
    *,
    loss: str = "mse",
    optimizer: str = "gd",
    lr: float = 1e-2,
    steps: int = 1000,
    weight_decay: float = 0.0,
    l1: float = 0.0,
    penalty: Callable | None = None,
    batch_size: int = 32,
    seed: int | None = 0,
    record_every: int = 10,
) -> Trajectory:
    """Train with PyTorch autograd and record the trajectory.

    Minimises ``loss(f(X), y) + weight_decay/2 · ||θ||² + l1 · ||θ||₁ + penalty(θ)``
    over the trainable weights: fixed (non-trainable) edges keep their weights of
    ``theta`` throughout, and the norms run over trainable weights only.  The recorded
    balances are those of the rescaling classes ([`topo.balance`][topo.fiber.balance.balance], one per row of
    [`constrained`][topo.graph.architecture.Architecture.constrained]): along a residual stream the balance of the
    whole channel drifts by ``O(lr)`` and decays like ``exp(-2 λ t)``.

    Parameters
    ----------
    arch, theta
        A neuron-level network and its initial parameters.
    X : array_like (n_points, n_inputs)
    y : array_like
        Targets: ``(n_points, n_outputs)`` or ``(n_points,)`` for ``"mse"``; labels
        in {0, 1} for ``"bce"`` (one output, a logit); integer classes for ``"ce"``
        (one output per class, logits).
    loss : {"mse", "bce", "ce"}
    optimizer : {"gd", "sgd", "adam"}
        ``"gd"`` uses the whole batch (the closest to gradient flow), ``"sgd"``
        mini-batches of ``batch_size`` drawn with ``seed``.
    lr, steps : float, int
    weight_decay, l1 : float
        Penalties (``weight_decay`` is the ``λ`` of ``c(t) = exp(-2λt) c(0)``).
    penalty : callable, optional
        Any other penalty: a function of the flat parameter tensor (torch, float64)
        returning a scalar tensor, e.g. from [`topo.experiments.penalty`][topo.experiments.regularizers.penalty].
    record_every : int
        Record every this many steps (the first and last step are always kept).

    Examples
    --------
    >>> import numpy as np, topo
    >>> arch = topo.Architecture.mlp([2, 4, 1])
    >>> X = np.random.default_rng(0).standard_normal((32, 2)); y = X[:, 0] - X[:, 1]
    >>> traj = topo.train(arch, arch.init(seed=0), X, y, lr=1e-3, steps=200, record_every=50)
    >>> traj.steps.tolist(), bool(traj.losses[-1] < traj.losses[0]), traj.balance_drift() < 1e-2
    ([0, 50, 100, 150, 200], True, True)
    """
    vec = arch.as_vector(theta)  # the inputs are checked before torch is needed
    Xa = check_inputs(arch, X)
    ya = _targets(y)
    if len(ya) != len(Xa):
        raise ParameterError(f"X has {len(Xa)} rows but y has {len(ya)}")
    torch = _import_torch()
    net = _TorchNet(arch, torch)
    loss_fn, yt = _loss_and_targets(torch, loss, ya, len(arch.outputs))

    Xt = torch.as_tensor(Xa)
    full = _FullParameters(torch, arch, vec)
    param = full.param
    opt = _optimizer(torch, optimizer, param, lr)
    gen = torch.Generator().manual_seed(int(seed) if seed is not None else 0)

    def data_loss():
        with torch.no_grad():
            return float(loss_fn(net(full(), Xt), yt))

    rec_steps, thetas, losses = [], [], []

    def record(step):
        rec_steps.append(step)
        thetas.append(full().detach().numpy().copy())
        losses.append(data_loss())

    record(0)
    n = len(Xa)
    for step in range(1, steps + 1):
        opt.zero_grad()
        theta_t = full()
        if optimizer == "sgd" and batch_size < n:
            idx = torch.randperm(n, generator=gen)[:batch_size]
            obj = loss_fn(net(theta_t, Xt[idx]), yt[idx])
        else:
            obj = loss_fn(net(theta_t, Xt), yt)
        if weight_decay:
            obj = obj + 0.5 * weight_decay * torch.sum(param * param)
        if l1:
            obj = obj + l1 * torch.sum(torch.abs(param))
        if penalty is not None:
            obj = obj + penalty(theta_t)
        obj.backward()
        opt.step()
        if step % record_every == 0 or step == steps:
            record(step)
    thetas_a = np.stack(thetas)
    return Trajectory(
        steps=np.asarray(rec_steps),
        times=np.asarray(rec_steps, dtype=np.float64) * lr,
        thetas=thetas_a,
        balances=np.stack([balance(arch, t) for t in thetas_a]),
        losses=np.asarray(losses),
    )
