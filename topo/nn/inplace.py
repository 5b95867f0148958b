"""In-place operations in a traced graph, made visible to the import.

torch.fx records ``h.add_(y)`` as a node whose result later code may never use: the code goes on
reading ``h``, whose node is the value *before* the change, so an importer that reads the graph
node by node would drop the addition (a branch silently pruned, a wrong function).  The same holds
for ``identity = out; out += x`` (``identity`` is changed too), ``nn.ReLU(inplace=True)`` applied to
a tensor that is read again, and ``F.relu(x, inplace=True)``.

`redirect_inplace` rewrites the graph so that every use of a tensor after an in-place change reads
the node of that change: the graph computes the same values (the change still happens in place),
and each node reads the value it sees at run time.  A change through a view of a tensor that is
read again afterwards (``x[:, :2].mul_(2)``, then ``x``) cannot be followed node by node: it is
refused with a `topo.errors.GraphError` naming the operation.
"""

from __future__ import annotations

import operator

from topo.errors import GraphError
from topo.nn.units import op_name

__all__ = ["redirect_inplace"]

_INPLACE_OPERATORS = {operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv,
                      operator.imod, operator.ipow, operator.iand, operator.ior, operator.ixor, operator.ilshift,
                      operator.irshift, operator.imatmul}
#: Methods whose name ends with ``_`` but that change no tensor value.
_NOT_MUTATING = {"requires_grad_", "retain_grad_", "share_memory_", "pin_memory_"}
#: Operations whose result may share memory with their first argument (a change through it changes the base).
_VIEWS = {"view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "transpose", "permute", "t",
          "narrow", "select", "squeeze", "unsqueeze", "expand", "expand_as", "chunk", "split", "unbind",
          "movedim", "swapaxes", "diagonal", "unfold", "getitem", "as_strided", "detach", "contiguous"}


def mutates_first_argument(node, modules: dict) -> bool:
    """Whether ``node`` changes its first argument in place.

    Examples
    --------
    >>> import torch
    >>> class M(torch.nn.Module):
    ...     def forward(self, x):
    ...         y = x * 2
    ...         y.add_(x)
    ...         return y
    >>> gm = torch.fx.symbolic_trace(M())
    >>> [mutates_first_argument(n, {}) for n in gm.graph.nodes]
    [False, False, True, False]
    """
    if node.op == "call_method":
        return _inplace_name(node.target)
    if node.op == "call_function":
        return (node.target in _INPLACE_OPERATORS or node.kwargs.get("inplace") is True
                or _inplace_name(getattr(node.target, "__name__", "")))
    if node.op == "call_module":
        return getattr(modules.get(node.target), "inplace", False) is True
    return False


def _inplace_name(name: str) -> bool:
    """PyTorch's naming rule: ``add_`` changes its tensor, ``_foo`` is private, a few change no value."""
    return name.endswith("_") and not name.startswith("_") and name not in _NOT_MUTATING


def redirect_inplace(gm) -> bool:
    """Make every read of a tensor after an in-place change read the change's node (see the module
    docstring); recompile ``gm`` when something changed.  Returns whether it did.

    Examples
    --------
    >>> import torch
    >>> class M(torch.nn.Module):
    ...     def forward(self, x):
    ...         h = x * 2
    ...         h.add_(x)
    ...         return h + 1
    >>> gm = torch.fx.symbolic_trace(M())
    >>> redirect_inplace(gm)
    True
    >>> [str(a) for a in list(gm.graph.nodes)[-2].args]
    ['add_', '1']
    """
    import torch.fx as fx

    modules = dict(gm.named_modules())
    latest: dict = {}  # node -> the node that holds its tensor's current value
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    changed = False
    for n in list(gm.graph.nodes):
        new_args = fx.node.map_arg(n.args, lambda a: latest.get(a, a))
        new_kwargs = fx.node.map_arg(n.kwargs, lambda a: latest.get(a, a))
        if new_args != n.args or new_kwargs != n.kwargs:
            n.args, n.kwargs, changed = new_args, new_kwargs, True
        if not (mutates_first_argument(n, modules) and n.args and isinstance(n.args[0], fx.Node)):
            continue
        target = n.args[0]
        _refuse_change_through_view(target, n, order)
        for k, v in list(latest.items()):
            if v is target:
                latest[k] = n
        latest[target] = n
    if changed:
        gm.recompile()
    return changed


def _refuse_change_through_view(target, n, order) -> None:
    """A change in place of a view whose base is read after the change: not representable node by node."""
    seen, stack = set(), [target]
    while stack:
        v = stack.pop()
        if v in seen or v.op not in ("call_method", "call_function") or op_name(v) not in _VIEWS:
            continue
        seen.add(v)
        base = v.args[0] if v.args else None
        if base is None or not hasattr(base, "users"):
            continue
        if any(order.get(u, -1) > order[n] for u in base.users):
            raise GraphError(f"operation {op_name(n)} ({n.name!r}) changes in place a view ({v.name!r}) of "
                             f"{base.name!r}, which is read again afterwards; topo cannot follow a change through "
                             "a view node by node (write the operation out of place)")
        stack.append(base)
