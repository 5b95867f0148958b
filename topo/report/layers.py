"""The report's per-layer table and the parameters each prunable unit zeroes.

A *layer* is a group of units named alike ([`topo.report.schema.layer_key`][topo.report.schema.layer_key]: the unit
name without its trailing index), which for a PyTorch model is the module (or operation)
that produces them; its *parameters* are the trainable weights on the edges entering its
units, so the column adds up to the network's trainable parameters (a BatchNorm folded into a
convolution counts with the convolution; the fixed edges of a residual add count nowhere).  Nothing here is recomputed: the balances, the connectivity report and
the strata come from `topo.report.build.build_audit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from topo.graph.architecture import Architecture
from topo.graph.nodes import ROLES
from topo.report.schema import layer_keys
from topo.utils.arrays import chunks

__all__ = ["layers_section", "stratum_parameters", "parameter_name"]


def parameter_name(module: str, parameter: str, index: Sequence) -> str:
    """``"layer1.0.conv1.weight[3, 0]"``: where one edge's weights live in a model.

    Examples
    --------
    >>> parameter_name("4", "weight", (0, 3))
    '4.weight[0, 3]'
    """
    return f"{module}.{parameter}[{', '.join(map(str, index))}]"


def _layer_ids(arch: Architecture) -> tuple[np.ndarray, list[str]]:
    """The layer of every node (an id in order of first appearance) and the layer names."""
    keys = layer_keys(arch.nodes)
    uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # layers in order of their first unit
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[inv.reshape(-1)], uniq[order].tolist()


def _entering_weights(arch: Architecture) -> np.ndarray:
    """Trainable weights on the edges entering each node (float64), one pass over the edges by chunks."""
    out = np.zeros(arch.n_nodes)
    dst, sizes, trainable = arch.dst, arch.edge_sizes, arch.edge_trainable
    for s in chunks(arch.n_edges):
        out += np.bincount(dst[s], weights=np.where(trainable[s], sizes[s], 0).astype(np.float64),
                           minlength=arch.n_nodes)
    return out


def layers_section(arch: Architecture, c: np.ndarray, tol: float, frozen_index: np.ndarray,
                   prunable_units: Sequence, modules: Mapping | None, max_listed: int) -> dict:
    """The ``layers`` part of the report: one row per layer of units (at most ``max_listed``;
    bias units are not a layer: their weights count in the layer they feed).

    A unit counts as ``constrained`` when its rescaling class carries a balance, and as
    ``shared`` when that balance belongs to a class of several units (a residual stream
    channel); the balance range and the negative count are over the layer's units.

    Examples
    --------
    >>> import topo
    >>> a = topo.audit("shallow")
    >>> [(r["layer"], r["units"], r["parameters"], r["frozen_edges"]) for r in a.report["layers"]["rows"]]
    [('x', 2, 0, 0), ('h1', 6, 18, 0), ('y', 1, 7, 3)]
    """
    lab, names = _layer_ids(arch)
    n = len(names)
    units = np.bincount(lab, minlength=n)
    params = np.rint(np.bincount(lab, weights=_entering_weights(arch), minlength=n)).astype(np.int64)
    frozen = np.bincount(lab[arch.dst[frozen_index]], minlength=n) if len(frozen_index) else np.zeros(n, int)
    # a unit is constrained when its rescaling class is; it shows its class's balance
    row = arch.node_row
    members = np.flatnonzero(row >= 0)
    cm = np.asarray(c, dtype=float)[row[members]]
    n_cons = np.bincount(lab[members], minlength=n)
    n_shared = np.bincount(lab[members[arch.class_sizes[row[members]] > 1]], minlength=n)
    lo, hi = np.full(n, np.inf), np.full(n, -np.inf)
    if len(members):
        np.minimum.at(lo, lab[members], cm)
        np.maximum.at(hi, lab[members], cm)
    neg = np.bincount(lab[members[cm < -tol]], minlength=n)
    reasons: dict[int, dict[str, int]] = {}
    index = arch.node_index
    for v, r in arch.free_reasons.items():
        counts = reasons.setdefault(int(lab[index(v)]), {})
        counts[r] = counts.get(r, 0) + 1
    pruned = np.zeros(n, dtype=np.int64)
    for v in prunable_units:
        pruned[lab[index(v)]] += 1
    first = np.zeros(n, dtype=np.int64)
    first[lab[::-1]] = np.arange(arch.n_nodes)[::-1]  # first node of each layer
    roles = arch.role_codes
    shown = [i for i in range(n) if ROLES[int(roles[first[i]])] != "bias"]  # constants: counted where they feed
    rows = []
    for i in shown[:max_listed]:
        info = (modules or {}).get(names[i], {})
        free = reasons.get(i, {})
        role = ROLES[int(roles[first[i]])]
        rows.append({
            "layer": names[i],
            "type": info.get("type") or (role if role != "hidden" else arch.activation(arch.nodes[first[i]])),
            "output_shape": info.get("output_shape"),
            "role": role,
            "units": int(units[i]),
            "parameters": int(params[i]),
            "constrained": int(n_cons[i]),
            "shared": int(n_shared[i]),
            "free": int(sum(free.values())),
            "free_reason": max(free, key=free.get) if free else None,
            "balance_min": float(lo[i]) if n_cons[i] else None,
            "balance_max": float(hi[i]) if n_cons[i] else None,
            "n_negative": int(neg[i]),
            "frozen_edges": int(frozen[i]),
            "prunable": int(pruned[i]),
        })
    return {"n": len(shown), "rows": rows, "truncated": len(shown) > len(rows)}


def _span(values: list, size: int | None) -> str | None:
    """One index position over several edges: ``"3"``, ``":"`` (all of a dimension of
    ``size``), ``"2:7"``; None when the values are not one contiguous range."""
    ranges = []
    for x in values:
        if isinstance(x, str) and ":" in x:
            a, b = x.split(":", 1)
            ranges.append((int(a), int(b)))
        else:
            ranges.append((int(x), int(x) + 1))
    ranges.sort()
    lo, hi = ranges[0]
    for a, b in ranges[1:]:
        if a > hi:
            return None
        hi = max(hi, b)
    if hi - lo == 1:
        return str(lo)
    return ":" if size is not None and (lo, hi) == (0, size) else f"{lo}:{hi}"


def stratum_parameters(edges: Sequence, edge_source: Mapping | None, modules: Mapping | None,
                       max_entries: int = 8) -> list[str]:
    """The model entries a stratum zeroes (its boundary edges), compacted per parameter:
    ``["0.weight[3, :]", "0.bias[3]", "2.weight[:, 3]"]``; edge names ``"u -> v"`` when the
    network has no model behind it.

    Examples
    --------
    >>> stratum_parameters([("x0", "h"), ("h", "y")], None, None)
    ['x0 -> h', 'h -> y']
    >>> src = {("a", "u"): ("0", "weight", (3, 0)), ("b", "u"): ("0", "weight", (3, 1)),
    ...        ("u", "y"): ("2", "weight", (0, 3))}
    >>> stratum_parameters(list(src), src, {"0": {"params": {"weight": [4, 2]}}})
    ['0.weight[3, :]', '2.weight[0, 3]']
    """
    if not edge_source:
        return [f"{u} -> {v}" for u, v in edges][:max_entries]
    groups: dict[tuple, list] = {}
    loose = []
    for e in edges:
        src = edge_source.get(tuple(e))
        if src is None:
            loose.append(f"{e[0]} -> {e[1]}")
        else:
            groups.setdefault((src[0], src[1]), []).append(tuple(src[2]))
    out = []
    for (module, param), indices in groups.items():
        shape = ((modules or {}).get(module) or {}).get("params", {}).get(param)
        spans = [_span([ix[k] for ix in indices], shape[k] if shape and k < len(shape) else None)
                 for k in range(len(indices[0]))]
        if all(s is not None for s in spans):
            out.append(parameter_name(module, param, spans))
        else:
            out += [parameter_name(module, param, ix) for ix in indices]
    return (out + loose)[:max_entries]
