"""The audit report dictionary: every structural analysis of one network at one parameter
point, as sections of the JSON schema of ``docs/report.md``.

[`audit_report`][topo.report.build.audit_report] computes the balances and the connectivity report once and hands
them to the symmetry, strata and sampled-topology sections.  Most users want
[`topo.audit`][topo.auditing.audit], which also loads the network (widths, spec files, PyTorch modules)
and returns an [`Audit`][topo.auditing.Audit].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from topo._version import __version__
from topo.fiber.balance import balances_in_range, default_tol, power_of_two_scale, vector_norm
from topo.fiber.connectivity import ConnectivityReport, connectivity
from topo.fiber.decompose import decompose
from topo.fiber.singular import MAX_STRATA_WORK, singular_strata
from topo.graph.architecture import ARCH, Architecture
from topo.report.layers import layers_section, stratum_parameters
from topo.report.schema import MAX_LISTED, SCHEMA_VERSION, layer_key
from topo.sampling.verification import MIN_SAMPLES, verify_topology
from topo.symmetry.automorphisms import automorphism_group
from topo.symmetry.classes import components_up_to_symmetry
from topo.utils.text import count_repr
from topo.utils.validation import BOOLEAN, COUNT_OR_ZERO, NAME, SEED, AnyOf, Interval, IsCallable, NoneOr, validate_params

__all__ = ["audit_report", "build_audit", "AuditParts", "SAMPLE", "AUDIT_OPTIONS", "symmetry_section",
           "SYMMETRY_MAX_QUOTIENT"]

#: The one rule of ``sample`` (``topo.audit``, ``topo audit --sample``): 0 skips the sampled check of
#: the topology, else it reads at least ``MIN_SAMPLES`` points and at most ``topo.LIMITS.max_samples``
#: (the persistent-homology check costs ~N² distance evaluations).
SAMPLE = AnyOf(0, Interval(int, MIN_SAMPLES, "max_samples"), lead="an integer >= 0")

#: The options of an audit, checked on entry of `topo.audit` and `build_audit`.
AUDIT_OPTIONS = dict(max_listed=COUNT_OR_ZERO, sample=SAMPLE, seed=SEED, max_strata=COUNT_OR_ZERO,
                     max_strata_work=NoneOr(COUNT_OR_ZERO), progress=NoneOr(IsCallable()),
                     progress_bars=NoneOr(BOOLEAN))

Progress = Callable[[str], None]


@dataclass(frozen=True)
class AuditParts:
    """What `build_audit` returns: the report, the balances ``c`` (in the report's units,
    ``2**report["balances"]["unit_log2"]``) and the connectivity report of the fiber."""

    report: dict
    c: np.ndarray
    connectivity: ConnectivityReport


@validate_params(arch=ARCH, name=NAME, source=NAME, parameters=NAME, **AUDIT_OPTIONS)
def build_audit(
    arch: Architecture,
    theta: Any,
    *,
    name: str = "network",
    source: str = "",
    parameters: str = "",
    max_listed: int = MAX_LISTED,
    sample: int = 0,
    seed: int | None = 0,
    edge_source: dict | None = None,
    max_strata: int = 20,
    unsupported: list | None = None,
    progress: Progress | None = None,
    max_strata_work: int | None = None,
    progress_bars: bool | None = None,
    notes: list | None = None,
    modules: dict | None = None,
) -> AuditParts:
    """Run the structural analyses on ``(arch, theta)`` and collect them in the report dict.

    This is the report dictionary of [`audit`][topo.auditing.audit] (schema in ``docs/report.md``);
    most users want [`audit`][topo.auditing.audit], which also accepts widths, spec files and
    PyTorch modules and returns an [`Audit`][topo.auditing.Audit].

    Parameters
    ----------
    arch, theta
        The network and a parameter point; the fiber audited is the one through
        ``theta`` (balances ``c = balance(arch, theta)``).
    name, source, parameters : str
        Free-text provenance written into the report.
    max_listed : int
        At most this many frozen edges (with witnesses), balances and free units
        are listed; counts are always complete.
    sample : int
        0 (the default) skips it; else sample that many fiber points (bottleneck
        coordinates, at least 2 and at most ``topo.LIMITS.max_samples``) and add a
        ``topology`` section comparing persistent β₀ with the exact count.
    seed : int
        Seed of the sampling.
    edge_source : dict, optional
        ``{edge: (module, parameter, index)}`` (from [`topo.nn.trace.from_torch`][topo.nn.trace.from_torch]):
        frozen edges then name where their weights live in the model.
    max_strata : int
        At most this many singular strata of single units are searched for and listed
        (0 skips the search).
    unsupported : list of (type, name), optional
        Layers that could not be modelled (from the PyTorch import): listed in the
        report as what could not be analysed.
    progress : callable, optional
        Called with the name of each stage as it starts.
    progress_bars : bool, optional
        Progress bars of the sampled check: None shows them only on a terminal, False never.
    notes : list of str, optional
        Notes from loading the network (a spec file's lint notes), listed first in ``notes``.
    modules : dict, optional
        ``{name: {type, output_shape, n_params, params}}`` (from the PyTorch import): the
        per-layer table shows each module's type and output shape.

    Returns
    -------
    AuditParts
        The report dictionary, the balances it was computed from (in its units) and the
        connectivity report, so that nothing is computed twice ([`topo.Audit`][topo.auditing.Audit] keeps them).

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> parts = build_audit(arch, arch.init(seed=0))
    >>> parts.report["schema_version"], parts.report["network"]["n_constrained"]
    (1, 3)
    >>> parts.report["connectivity"]["n_components"] == parts.connectivity.n_components
    True
    """
    notify = progress or (lambda stage: None)
    notify("connectivity")
    vec = arch.as_vector(theta)
    c, q, unit = balances_in_range(arch, vec)
    q_max = float(np.max(q, initial=0.0))
    del q  # one float64 per edge: not kept through the rest of the audit
    tol = default_tol(c, q_max)
    conn = connectivity(arch, c, tol=tol)  # the one connectivity report of the audit, handed on below
    notify("symmetry")
    symmetry = symmetry_section(arch, conn, max_listed, fixed_weights=vec)
    notes = list(notes or []) + _notes(arch, unsupported) + _unit_notes(unit)
    strata = None
    if max_strata > 0 and len(c):
        notify("strata")
        strata = _strata_section(arch, c, tol, max_strata, max_strata_work, notes, edge_source, modules)
    topology = None
    if sample > 0:
        notify("sampling")
        topology = _topology_section(conn, sample, seed, notes, progress_bars)
    report = {
        "schema": "topo-audit",
        "schema_version": SCHEMA_VERSION,
        "topo_version": __version__,
        "network": _network_section(arch, name, source, max_listed, unsupported),
        "parameters": {
            "source": parameters,
            "norm": vector_norm(vec),
        },
        "balances": _balances_section(arch.constrained, c, tol, unit, max_listed),
        "decomposition": _decomposition_section(arch, max_listed),
        "connectivity": _connectivity_section(conn, symmetry, edge_source, max_listed),
        "layers": layers_section(arch, c, tol, conn.frozen_index, _prunable_units(strata), modules, max_listed),
        "notes": notes,
    } | ({"topology": topology} if topology is not None else {}) | (
        {"singular_strata": strata} if strata is not None else {})
    return AuditParts(report, c, conn)


def audit_report(arch: Architecture, theta: Any, **options: Any) -> dict:
    """The report dictionary of `build_audit` alone (same arguments).

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> audit_report(arch, arch.init(seed=0))["schema_version"]
    1
    """
    return build_audit(arch, theta, **options).report


def _unit_notes(unit: int) -> list[str]:
    """The note on the unit of the balances when the parameters are outside the float range."""
    if not unit:
        return []
    return [f"The parameters are of order 2^{unit // 2}: balances are given in units of 2^{unit} "
            "(balances.unit_log2) so that they stay within the floating-point range; the analysis is "
            "exact up to that scale (it does not change under θ -> 2^k θ)."]


def _decomposition_section(arch: Architecture, max_listed: int) -> dict:
    """The ``decomposition`` part of the report: bottleneck counts and factors (the architecture's
    cached decomposition, already built by the connectivity analysis)."""
    dec = decompose(arch)
    return {
        "n_in_bottlenecks": len(dec.in_forest.roots),
        "n_out_bottlenecks": len(dec.out_forest.roots),
        "n_factors": dec.n_factors,
        **{k: v for k, v in dec.to_dict(max_listed=max_listed).items() if k != "factors"},
    }


def _connectivity_section(conn: ConnectivityReport, symmetry: dict, edge_source: dict | None,
                          max_listed: int) -> dict:
    """The ``connectivity`` part of the report: frozen edges with witnesses (and where their weights
    live in the model), the factors with frozen edges, components up to symmetry."""
    return _with_sources(conn.to_dict(max_witnesses=max_listed), conn.frozen_edges, edge_source) | {
        "factors": [
            {"n_nodes": len(f["nodes"]), "n_frozen_scalar_edges": f["n_frozen_scalar"],
             "n_components": count_repr(f["n_components"])}
            for f in conn.factors if f["frozen_edges"]
        ],
        "symmetry": symmetry,
    }


def _balances_section(names: list, c: np.ndarray, tol: float, unit: int, max_listed: int) -> dict:
    """The ``balances`` part of the report: summary, the largest |c|, histogram, per layer."""
    order = np.argsort(-np.abs(c)) if len(c) else np.zeros(0, dtype=np.int64)
    listed = order[:max_listed]
    return {
        "n": len(c),
        "unit_log2": unit,
        "min": float(c.min()) if len(c) else None,
        "max": float(c.max()) if len(c) else None,
        "mean": float(c.mean()) if len(c) else None,
        "n_positive": int(np.sum(c > tol)),
        "n_negative": int(np.sum(c < -tol)),
        "n_zero": int(np.sum(np.abs(c) <= tol)),
        "tol": tol,
        "largest": {str(names[r]): float(c[r]) for r in listed.tolist()},
        "truncated": len(c) > len(listed),
        "histogram": _histogram(c),
        "per_layer": _per_layer(names, c, tol),
    }


def _strata_section(arch: Architecture, c: np.ndarray, tol: float, max_strata: int,
                    max_strata_work: int | None, notes: list, edge_source=None, modules=None) -> dict:
    """The ``singular_strata`` part of the report (single-unit clusters), each with the model
    entries it zeroes (``parameters``); a note when the search stopped."""
    found = singular_strata(arch, c, tol=tol, max_size=1, limit=max_strata,
                            max_work=MAX_STRATA_WORK if max_strata_work is None else max_strata_work)
    if "max_work" in found.stopped:
        notes.append(f"Singular strata: the search {found.stopped}.")
    return {
        "searched": "single rescaling classes (a unit, or a residual stream channel)",
        "complete": found.complete,
        "strata": [s.to_dict() | {"parameters": stratum_parameters(s.boundary_edges, edge_source, modules)}
                   for s in found],
        "_units": [v for s in found for v in s.nodes],  # the node objects (dropped from the report below)
    } | ({"stopped": found.stopped} if found.stopped else {})


def _prunable_units(strata: dict | None) -> list:
    """The units of the strata found (node objects), removed from the strata section."""
    return strata.pop("_units") if strata else []


def _topology_section(conn: ConnectivityReport, sample: int, seed: int | None, notes: list,
                      progress_bars: bool | None = None) -> dict:
    """The ``topology`` part of the report (sampled check of β₀); a note unless it agrees."""
    topology = verify_topology(conn.arch, conn.c, n_samples=sample, seed=seed, coordinates="bottleneck",
                               connectivity=conn, progress=progress_bars).to_dict()
    if topology["status"] == "disagree":
        notes.append(
            "The persistent-homology count of components confidently differs from the exact count: "
            "please report this (it contradicts the theory or reveals a bug)."
        )
    elif topology["status"] != "agree":
        why = next((f["reason"] for f in topology["factors"] if f["status"] != "agree"), "")
        notes.append(f"The sampled check of the component count is {topology['status']}: {why}")
    return topology


#: The audit searches quotient graphs (twin classes collapsed) up to this size with bliss;
#: beyond, only twin symmetries are used and the class count is an upper bound.
SYMMETRY_MAX_QUOTIENT = 3000


def symmetry_section(arch: Architecture, conn: ConnectivityReport, max_listed: int, *,
                     fixed_weights: np.ndarray | None = None) -> dict:
    """The ``connectivity.symmetry`` part of the report: components up to symmetry
    (automorphisms keep the weights of fixed edges: ``fixed_weights`` is the audited θ).

    Cheap when it can be: a connected fiber (no frozen scalar edge) has one class and
    no group is computed; otherwise the automorphism search is bounded by
    `SYMMETRY_MAX_QUOTIENT` (the reason is reported when the bound is hit).
    """
    if conn.n_frozen_scalar == 0:
        return {"computed": True, "exact": True, "n_components": 1, "n_classes": 1,
                "summary": "1 component, 1 up to symmetry", "group": None,
                "reason": "the fiber is connected: the symmetry group was not needed"}
    group = automorphism_group(arch, max_vertices=SYMMETRY_MAX_QUOTIENT, fixed_weights=fixed_weights)
    sym = components_up_to_symmetry(arch, conn.c, max_representatives=max_listed, group=group, connectivity=conn)
    return {"computed": sym.n_classes is not None, "summary": sym.summary()} | sym.to_dict(max_listed=max_listed)


def _network_section(arch: Architecture, name: str, source: str, max_listed: int, unsupported) -> dict:
    sizes = arch.edge_sizes
    reasons = arch.free_reasons
    groups: dict[tuple[str, str], list[str]] = {}
    for v, r in reasons.items():
        groups.setdefault((r, layer_key(v)), []).append(str(v))
    return {
        "name": name,
        "source": source,
        "n_nodes": arch.n_nodes,
        "n_edges": arch.n_edges,
        "n_params": arch.n_params,
        "n_inputs": len(arch.inputs),
        "n_biases": len(arch.biases),
        "n_outputs": len(arch.outputs),
        "n_hidden": len(arch.hidden),
        "n_constrained": arch.n_constrained,
        **_classes_section(arch, max_listed),
        "n_group_edges": int(np.sum(sizes > 1)),
        "free_nodes": [{"node": str(v), "reason": r} for v, r in reasons.items()][:max_listed],
        "n_free": len(arch.free),
        "free_groups": [{"reason": r, "layer": layer, "n": len(nodes), "nodes": nodes[:max_listed]}
                        for (r, layer), nodes in groups.items()],
        "unsupported_layers": [{"type": t, "name": q} for t, q in (unsupported or [])],
    }


def _classes_section(arch: Architecture, max_listed: int) -> dict:
    """Balances shared by several units (rescaling classes) and along what they are shared."""
    shared = [k for k in arch.rescaling_classes if len(k) > 1]
    # a residual add: a unit that sums a fixed (skip) input and at least one other input
    fixed_in = np.bincount(arch.dst[~arch.edge_trainable], minlength=arch.n_nodes)
    adds = (fixed_in >= 1) & (arch.in_degree() >= 2)
    on_stream = np.zeros(arch.n_constrained + 1, dtype=bool)
    on_stream[arch.node_row[adds]] = True  # row -1 lands in the spare last slot
    streams = int(np.count_nonzero(on_stream[:-1] & (arch.class_sizes > 1)))
    return {
        "n_shared": len(shared),
        "n_shared_streams": streams,
        "n_class_members": int(np.count_nonzero(arch.node_row >= 0)),
        "shared_classes": [{"balance_of": str(k[0]), "n_members": len(k), "members": [str(v) for v in k[:8]]}
                           for k in shared[:max_listed]],
    }


def _notes(arch: Architecture, unsupported) -> list[str]:
    notes = []
    if arch.free:
        notes.append(
            f"{len(arch.free)} hidden node(s) are free (no conservation law): they are treated like "
            "inputs/outputs, so the fiber only constrains the other nodes."
        )
    if unsupported:
        notes.append(
            "Not analysed: " + ", ".join(f"{t} ({q})" for t, q in unsupported)
            + " - topo cannot model these layers; the units they produce are free."
        )
    acts = {arch.activation(v) for v in arch.constrained}
    if "linear" in acts or "identity" in acts:
        notes.append(
            "Linear (identity) nodes have further, matrix-valued conserved quantities: the fiber analysed "
            "here is a superset of what gradient flow can reach."
        )
    if np.any(arch.edge_sizes > 1):
        notes.append(
            "Group edges (size > 1) never disconnect the fiber when frozen: their direction moves on a "
            "sphere; only frozen scalar edges double the number of components."
        )
    return notes


def _histogram(c: np.ndarray, bins: int = 30) -> dict:
    """Counts over equal bins; a constant vector (up to rounding) is one bin
    ``[min, max]``, and extreme magnitudes (|c| ~ 1e300) are binned after an exact
    rescaling, so no bin edge overflows or collapses."""
    c = np.asarray(c, dtype=np.float64)
    c = c[np.isfinite(c)]
    if not len(c):
        return {"counts": [], "edges": []}
    lo, hi = float(c.min()), float(c.max())
    if not hi > lo or (hi - lo) <= 1e-12 * max(abs(lo), abs(hi)):
        return {"counts": [len(c)], "edges": [lo, hi]}
    scaled, k = power_of_two_scale(c)
    counts, edges = np.histogram(scaled, bins=bins)
    return {"counts": counts.tolist(), "edges": np.ldexp(edges, k).tolist()}


def _per_layer(names: list, c: np.ndarray, tol: float) -> list[dict]:
    """Balances grouped by layer: the unit name without its trailing index."""
    groups: dict[str, list[int]] = {}
    for r, v in enumerate(names):
        groups.setdefault(layer_key(v), []).append(r)
    out = []
    for key, rows in groups.items():
        cv = c[rows]
        out.append({"layer": key, "n": len(rows), "min": float(cv.min()), "max": float(cv.max()),
                    "n_negative": int(np.sum(cv < -tol))})
    return out


def _with_sources(con: dict, frozen: list, edge_source: dict | None) -> dict:
    """Attach the model location of each listed frozen edge (entries follow ``frozen``)."""
    if edge_source:
        for w, edge in zip(con["frozen_edges"], frozen):
            src = edge_source.get(edge)
            if src is not None:
                w["source"] = {"module": src[0], "parameter": src[1], "index": [str(i) for i in src[2]]}
                note = edge_source.note(edge) if hasattr(edge_source, "note") else None
                if note:  # e.g. a bias folded from a BatchNorm: derived from, not equal to, the parameter
                    w["source"]["note"] = note
    return con

