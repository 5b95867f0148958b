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
from topo.nn.result import TorchImport, parameter_name

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

    def __post_init__(self):
        self.param_numel = int(self.param.numel())  # to see a parameter reshaped through .data


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
                             f"{qual!r} carry derived values ({note}); import it with "
                             "from_torch(model, x, batch_statistics=True), or let the monitor import it")
        try:
            param = model.get_parameter(parameter_name(qual, pname))
        except AttributeError:
            raise GraphError(f"the import's edge map names {parameter_name(qual, pname)}, which is not a parameter "
                             "of the model (pass the model that was imported)") from None
        size = int(arch.edge_sizes[a])
        fast, rows, heads, tails = _layout(arch, a, z, kind, n_cols, size, offs, param.numel())
        n_full = (z - a) if offs is None else int(param.numel() // size)
        keep = None if offs is None else offs
        out.append(_Block(param, parameter_name(qual, pname), fast, (rows, n_cols, size), n_full, size, keep,
                          heads, tails))
        covered += z - a
    if covered != int(arch.edge_trainable.sum()):
        raise GraphError(f"the import maps {covered} edges to parameters but the architecture has "
                         f"{int(arch.edge_trainable.sum())} trainable edges")
    return out


def _held(model, name: str):
    """``model.get_parameter(name)`` by plain dictionary lookups (a few per parameter, no string
    work beyond one split: this runs at every record), None when the model has no such parameter."""
    *path, attr = name.split(".")
    mod = model
    for p in path:
        mod = mod._modules.get(p) if hasattr(mod, "_modules") else None
        if mod is None:
            return None
    return mod._parameters.get(attr) if hasattr(mod, "_parameters") else None


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
    >>> c = idx.reduce(idx.entries())[0, 0] + idx.fixed_c
    >>> bool(abs(c - topo.balance(imp.architecture, imp.theta)).max() < 1e-6)
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
        self.device = device
        self._layout(heads, tails)
        #: ``[fixed_c; fixed_boundary]``, shape ``(2, m)``: added to a reduction's ``(2, m)`` rows at once
        self.fixed_rows = np.stack(self._fixed(imp))
        self.fixed_c, self.fixed_boundary = self.fixed_rows  # views of its rows

    def check_model(self, model) -> None:
        """Raise a `GraphError` naming the first parameter that ``model`` no longer holds as it did
        when the index was built (replaced by another tensor, or reshaped): the index reads the tensors
        it was built on, so its sums would silently describe the old ones."""
        for b in self.blocks:
            now = _held(model, b.name)
            if now is not b.param or now.numel() != b.param_numel:
                what = "removed" if now is None else "replaced" if now is not b.param else "reshaped"
                raise GraphError(f"parameter {b.name!r} of the model was {what} after the monitor was built (the "
                                 "monitor reads the tensors it was built on): build a new BalanceMonitor")

    def _layout(self, heads: list, tails: list) -> None:
        """The entry vector: per block, its head values then its tail values (needed sides
        only); each entry's target in a ``2(m+1)`` buffer (heads ``[0, m]``, tails
        ``[m+1, 2m+1]``, row ``m`` the dummy row of free units) and its block."""
        import torch

        m1 = self.arch.n_constrained + 1
        rows, block = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for i, (h, t, (nh, nt)) in enumerate(zip(heads, tails, self.sides)):
            for r, need, shift in ((h, nh, 0), (t, nt, m1)):
                if need:
                    rows.append(np.asarray(r, np.int64) + shift)
                    block.append(np.full(len(r), i, np.int64))
        self._rows_np = np.concatenate(rows)
        self.n_entries = len(self._rows_np)
        self.entry_block = torch.as_tensor(np.concatenate(block), device=self.device)
        self._targets: dict[int, Any] = {}
        self._m1 = self.arch.n_constrained + 1
        self._host = self.device.type == "cpu"  # reduce with numpy's bincount on the host
        # one scratch buffer for the squares of the largest two-sided block (no allocation per record)
        both = [b.param.numel() for b, (nh, nt) in zip(self.blocks, self.sides) if b.fast and nh and nt]
        dtype = self.params[0].dtype if self.params else torch.float32
        self._scratch = torch.empty(max(both, default=0), dtype=dtype, device=self.device)
        self._plan = [(i, self._reducer(b, need)) for i, (b, need) in enumerate(zip(self.blocks, self.sides))
                      if need[0] or need[1]]

    def targets(self, k: int):
        """The scatter index of ``k`` stacked entry vectors into ``k`` buffers of ``2(m+1)`` (cached)."""
        import torch

        if k not in self._targets:
            m1 = self.arch.n_constrained + 1
            idx = np.concatenate([self._rows_np + 2 * m1 * j for j in range(k)])
            self._targets[k] = idx if self._host else torch.as_tensor(idx, device=self.device)
        return self._targets[k]

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
    def _reducer(self, b: _Block, need: tuple[bool, bool]):
        """A function ``f(x, y, out)`` appending to ``out`` the block's needed head values (per
        row, or per edge) then tail values (per column, or per edge) of ``x ⊙ y``
        (``x ⊙ x`` when ``y`` is None): built once, so a record runs no per-block logic."""
        import torch

        need_head, need_tail = need
        if not b.fast:
            copies, n_full, k, keep = int(need_head) + int(need_tail), b.n_full, b.k, b.keep
            flat = b.param.dim() == 1 and k == 1 and n_full == b.param.numel()  # a bias: no reshape

            def per_edge(x, y, out):
                P = x.square() if y is None else x * y
                e = P if flat else P.reshape(-1)[: n_full * k].reshape(n_full, k).sum(dim=1)
                out.extend([e if keep is None else e.index_select(0, keep)] * copies)
            return per_edge
        rows, cols, k = b.view
        ck = cols * k
        shaped = tuple(b.param.shape) == (rows, ck)  # a Linear weight: no reshape
        if not need_tail:
            def head_only(x, y, out):  # one pass, no temporary for the squares
                X = x if shaped else x.reshape(rows, ck)
                out.append(torch.linalg.vector_norm(X, dim=1).square() if y is None
                           else (X * y.reshape(rows, ck)).sum(dim=1))
            return head_only
        # (rows, cols·k): contiguous row sums and one column sum, then the k taps of a column
        # are added on the small (cols, k) result (a sum over dims (0, 2) of the 3-d view is
        # several times slower); the products go to the scratch buffer (no allocation)
        fits = b.param.dtype == self._scratch.dtype and rows * ck <= self._scratch.numel()
        buf = self._scratch[: rows * ck].view(rows, ck) if fits else None

        def both(x, y, out):
            X = x if shaped else x.reshape(rows, ck)
            Y = X if y is None else (y if shaped else y.reshape(rows, ck))
            P = torch.mul(X, Y, out=buf) if buf is not None and X.dtype == buf.dtype and Y.dtype == buf.dtype \
                else X * Y
            if need_head:
                out.append(P.sum(dim=1))
            t = P.sum(dim=0)
            out.append(t.reshape(cols, k).sum(dim=1) if k > 1 else t)
        return both

    def entries(self, *pairs):
        """The entry vectors of one or more ``(xs, ys)`` pairs, stacked (torch).

        Each pair gives the sums of ``x ⊙ y`` (``x ⊙ x`` when ``ys`` is None) per
        head and tail entry; ``xs=None`` means the parameters themselves, and an
        entry of ``xs`` or ``ys`` that is None (a parameter without a gradient)
        counts as zeros.  One ``cat`` for all the pairs; the parameters' dtype on
        the CPU (`reduce` adds in float64), float64 on other devices.
        """
        import torch

        parts: list = []
        with torch.no_grad():
            for xs, ys in pairs or ((None, None),):
                xs = self.params if xs is None else xs
                for i, f in self._plan:
                    x = xs[i]
                    x = torch.zeros_like(self.params[i]) if x is None else x
                    y = None if ys is None else (torch.zeros_like(x) if ys[i] is None else ys[i])
                    f(x, y, parts)
            if not parts:
                return torch.zeros(0, dtype=torch.float64, device=self.device)
            flat = torch.cat(parts)
            return flat if self._host else flat.double()

    def reduce(self, flat, k: int = 1) -> np.ndarray:
        """``k`` stacked entry vectors to per-row ``(Σ_in − Σ_out, Σ_in + Σ_out)``: numpy, shape ``(k, 2, m)``.

        One weighted ``bincount`` on the CPU (``index_add`` and one copy to the host on other
        devices) for all ``k``; the fixed edges' constants (`fixed_c`, `fixed_boundary`) are not included.
        """
        import torch

        m1 = self._m1
        if self._host:  # float64 sums whatever the parameters' dtype
            pm = np.bincount(self.targets(k), weights=flat.numpy(), minlength=2 * m1 * k)
        else:
            with torch.no_grad():
                buf = torch.zeros(2 * m1 * k, dtype=torch.float64, device=self.device)
                pm = buf.index_add_(0, self.targets(k), flat).cpu().numpy()
        pm = pm.reshape(k, 2, m1)[:, :, :-1]
        out = np.empty((k, 2, m1 - 1))
        np.subtract(pm[:, 0], pm[:, 1], out=out[:, 0])
        np.add(pm[:, 0], pm[:, 1], out=out[:, 1])
        return out

    def expand(self, per_block):
        """Per-block factors (a sequence, one per parameter block) as per-entry weights (torch)."""
        import torch

        w = torch.as_tensor(np.asarray(per_block, dtype=np.float64), device=self.device)
        return w[self.entry_block]

    def grads(self) -> list:
        """The ``.grad`` of every block's parameter (None where there is none)."""
        return [b.param.grad for b in self.blocks]
