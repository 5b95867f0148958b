"""The vectorised edge -> parameter index behind [`topo.BalanceMonitor`][topo.nn.monitor.BalanceMonitor].

[`topo.from_torch`][topo.nn.trace.from_torch] records where every trainable edge's weights live in the
model ([`EdgeSources`][topo.nn.result.EdgeSources]: one block per layer parameter, edge
``e`` of a block holding the flat slice ``[off·k, (off+1)·k)`` of the parameter).
`ParameterIndex` turns those blocks into a few index tensors, once, so that
the balances of the *current* parameters are one pass over the parameter tensors:

* a Linear or Conv weight whose edges are laid out row by row (unit ``j`` of the
  layer receives row ``j``, input unit ``i`` sends column ``i``) is reduced with two
  reshaped sums: the squared norm of each row enters its unit, that of each column
  leaves its input unit;
* any other block (biases, grouped convolutions, edges dropped by the import) is
  reduced per edge and scattered with ``index_add``.

The per-unit sums are then added into the rows of
[`Architecture.node_row`][topo.graph.architecture.Architecture.node_row] (so a rescaling class with several members gets
one row): ``c = B̃ q`` without the sparse matrix.  The same reduction of ``θ ⊙ g`` or ``g ⊙ g`` gives the Euler
identity's terms and the gradient part of the SGD law.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from topo.errors import GraphError
from topo.fiber.balance import edge_norms
from topo.nn.result import TorchImport

__all__ = ["ParameterIndex"]


@dataclass
class _Block:
    """One parameter's edges: the reduction that gives its per-unit sums."""

    param: Any  # torch.nn.Parameter
    name: str
    fast: bool  # row/column layout: reshaped sums (else one value per edge)
    view: tuple  # (rows, cols, k) when fast
    n_full: int  # edges of the parameter before the import dropped any (slow path)
    k: int
    keep: Any  # torch long tensor of kept edge offsets, or None (slow path)
    head_nodes: np.ndarray  # node of each head value (fast: per row; slow: per edge)
    tail_nodes: np.ndarray


def _layout(arch, a: int, z: int, kind: str, n_cols: int, k: int, offs, numel: int):
    """``(fast, rows, head nodes, tail nodes)`` of the block of edges ``[a, z)``."""
    src, dst, row = arch.src[a:z], arch.dst[a:z], arch.node_row
    n = z - a
    if kind in ("dense", "conv") and offs is None and n % n_cols == 0 and n * k == numel:
        rows = n // n_cols
        d2, s2 = dst.reshape(rows, n_cols), src.reshape(rows, n_cols)
        internal = (row[src] == row[dst]) & (row[dst] >= 0)
        if (d2 == d2[:, :1]).all() and (s2 == s2[:1]).all() and not internal.any():
            return True, rows, d2[:, 0].copy(), s2[0].copy()
    return False, 0, dst.copy(), src.copy()


def _blocks(model, imp: TorchImport) -> list[_Block]:
    arch = imp.architecture
    out = []
    covered = 0
    for a, z, qual, pname, kind, n_cols, k, note, offs in imp.edge_source.blocks():
        if note is not None:
            raise GraphError(f"BalanceMonitor reads the balances from the model's parameters, but the edges of "
                             f"{qual!r} carry derived values ({note}); build the model without BatchNorm "
                             "(e.g. topo.zoo.resnet18(batchnorm=False)) to monitor it")
        try:
            param = model.get_parameter(f"{qual}.{pname}")
        except AttributeError:
            raise GraphError(f"the import's edge map names {qual}.{pname}, which is not a parameter of the "
                             "model (pass the model that was imported)") from None
        size = int(arch.edge_sizes[a])
        fast, rows, heads, tails = _layout(arch, a, z, kind, n_cols, size, offs, param.numel())
        n_full = (z - a) if offs is None else int(param.numel() // size)
        keep = None if offs is None else offs
        out.append(_Block(param, f"{qual}.{pname}", fast, (rows, n_cols, size), n_full, size, keep, heads, tails))
        covered += z - a
    if covered != int(arch.edge_trainable.sum()):
        raise GraphError(f"the import maps {covered} edges to parameters but the architecture has "
                         f"{int(arch.edge_trainable.sum())} trainable edges")
    return out


class ParameterIndex:
    """Per-unit sums of ``x ⊙ y`` over the trainable edges, ``x, y`` parameter-shaped tensors.

    Parameters
    ----------
    model : torch.nn.Module
        The model that ``imp`` was imported from (its parameters are read in place).
    imp : TorchImport

    Examples
    --------
    >>> import torch, topo
    >>> from topo.nn.monitor_index import ParameterIndex
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    >>> imp = topo.from_torch(net)
    >>> idx = ParameterIndex(net, imp)
    >>> c, _ = idx.rows(*idx.sums())
    >>> bool(abs(c.numpy() - topo.balance(imp.architecture, imp.theta)).max() < 1e-6)
    True
    """

    def __init__(self, model, imp: TorchImport):
        import torch

        arch = imp.architecture
        self.arch = arch
        self.blocks = _blocks(model, imp)
        self.params = [b.param for b in self.blocks]
        device = self.params[0].device if self.params else torch.device("cpu")
        for b in self.blocks:
            if b.keep is not None:
                b.keep = torch.as_tensor(b.keep, dtype=torch.long, device=device)
        m = arch.n_constrained
        row = np.where(arch.node_row >= 0, arch.node_row, m)  # free nodes go to a dummy row m
        heads = [row[b.head_nodes] for b in self.blocks]
        tails = [row[b.tail_nodes] for b in self.blocks]
        for b, h, t in zip(self.blocks, heads, tails):
            if not b.fast:  # an edge inside one class neither enters nor leaves it
                inside = (h == t) & (h < m)
                h[inside] = m
                t[inside] = m
        # a side whose units are all free (inputs, outputs, biases) is not reduced at all
        self.sides = [(bool((h < m).any()), bool((t < m).any())) for h, t in zip(heads, tails)]
        heads = [h if need else h[:0] for h, (need, _) in zip(heads, self.sides)]
        tails = [t if need else t[:0] for t, (_, need) in zip(tails, self.sides)]
        self.head_rows = torch.as_tensor(np.concatenate(heads or [np.zeros(0, np.int64)]), device=device)
        self.tail_rows = torch.as_tensor(np.concatenate(tails or [np.zeros(0, np.int64)]), device=device)
        self.head_block = torch.as_tensor(np.repeat(np.arange(len(heads)), [len(h) for h in heads]), device=device)
        self.tail_block = torch.as_tensor(np.repeat(np.arange(len(tails)), [len(t) for t in tails]), device=device)
        self.device = device
        self.fixed_c, self.fixed_boundary = self._fixed(imp)

    def _fixed(self, imp: TorchImport) -> tuple[np.ndarray, np.ndarray]:
        """Balances and boundary norms contributed by the fixed (non-trainable) edges: constants."""
        arch = self.arch
        q = edge_norms(arch, imp.theta) * ~arch.edge_trainable
        row = arch.node_row
        h, t = row[arch.dst], row[arch.src]
        inside = h == t
        m = arch.n_constrained
        mh, mt = (h >= 0) & ~inside, (t >= 0) & ~inside
        plus = np.bincount(h[mh], weights=q[mh], minlength=m)
        minus = np.bincount(t[mt], weights=q[mt], minlength=m)
        return plus - minus, plus + minus

    # -- the reductions
    def _block_sums(self, b: _Block, x, y, need: tuple[bool, bool]):
        """(head values, tail values) of one block: per row and column, or per edge; a side
        that is not needed is an empty tensor."""
        import torch

        need_head, need_tail = need
        empty = x.new_zeros(0)
        if b.fast:
            rows, cols, k = b.view
            if not need_tail:  # one pass, no temporary for the squares
                X = x.reshape(rows, cols * k)
                head = torch.linalg.vector_norm(X, dim=1).square() if y is None else (X * y.reshape(rows, -1)).sum(1)
                return head, empty
            P = x.square() if y is None else x * y
            P = P.reshape(rows, cols) if k == 1 else P.reshape(rows, cols, k)
            tail = P.sum(dim=0) if k == 1 else P.sum(dim=(0, 2))
            if not need_head:
                return empty, tail
            return (P.sum(dim=1) if k == 1 else P.sum(dim=(1, 2))), tail
        P = x.square() if y is None else x * y
        per_edge = P.reshape(-1) if b.k == 1 and b.n_full == P.numel() else \
            P.reshape(-1)[: b.n_full * b.k].reshape(b.n_full, b.k).sum(dim=1)
        if b.keep is not None:
            per_edge = per_edge.index_select(0, b.keep)
        return (per_edge if need_head else empty), (per_edge if need_tail else empty)

    def sums(self, xs=None, ys=None):
        """``(H, T)``: per head and tail entry, the sums of ``x ⊙ y`` (``x ⊙ x`` when ``ys`` is None).

        ``xs`` defaults to the parameters themselves; an entry of ``xs`` or ``ys``
        that is None (a parameter without a gradient) counts as zeros.
        """
        import torch

        xs = self.params if xs is None else xs
        square = ys is None
        ys = [None] * len(xs) if square else ys
        heads, tails = [], []
        with torch.no_grad():
            for b, x, y, need in zip(self.blocks, xs, ys, self.sides):
                if not (need[0] or need[1]):
                    continue
                x = torch.zeros_like(b.param) if x is None else x.detach()
                if not square:
                    y = torch.zeros_like(b.param) if y is None else y.detach()
                h, t = self._block_sums(b, x, y, need)
                heads.append(h)
                tails.append(t)
            if not heads:
                z = torch.zeros(0, dtype=torch.float64, device=self.device)
                return z, z
            return torch.cat(heads).double(), torch.cat(tails).double()

    def rows(self, H, T, head_weight=None, tail_weight=None):
        """``(signed, boundary)``: per balance row ``Σ_in − Σ_out`` and ``Σ_in + Σ_out`` (torch, float64).

        ``head_weight`` / ``tail_weight`` multiply the entries first (per-parameter
        factors expanded with `expand`).
        """
        import torch

        m = self.arch.n_constrained
        if head_weight is not None:
            H, T = H * head_weight, T * tail_weight
        with torch.no_grad():
            plus = torch.zeros(m + 1, dtype=torch.float64, device=self.device).index_add_(0, self.head_rows, H)
            minus = torch.zeros(m + 1, dtype=torch.float64, device=self.device).index_add_(0, self.tail_rows, T)
        return (plus - minus)[:m], (plus + minus)[:m]

    def expand(self, per_block):
        """Per-block factors (a sequence, one per parameter block) as per-entry weights ``(head, tail)``."""
        import torch

        w = torch.as_tensor(np.asarray(per_block, dtype=np.float64), device=self.device)
        return w[self.head_block], w[self.tail_block]

    def grads(self) -> list:
        """The ``.grad`` of every block's parameter (None where there is none)."""
        return [b.param.grad for b in self.blocks]
