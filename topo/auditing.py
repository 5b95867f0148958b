"""The audit: every structural analysis of one network at one parameter point,
collected in an :class:`Audit` object.

:func:`audit` is what ``topo audit`` runs; it accepts the targets a user has at
hand (an :class:`~topo.Architecture` with or without weights, layer widths, a spec
file, a built-in example, a PyTorch module) and returns an :class:`Audit` that
renders itself (terminal text, Jupyter HTML), saves report files and exposes tidy
tables.  The report content is one dictionary (the JSON schema of
``docs/report.md``), built by :func:`audit_report`; :mod:`topo.report` renders it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .architecture import Architecture
from .balance import _power_of_two_scale, edge_norms, scaled_balance
from .connectivity import ConnectivityReport, _default_tol, connectivity, count_repr
from .decompose import decompose
from .errors import ParameterError, TopoError

__all__ = ["SCHEMA_VERSION", "Audit", "audit", "audit_report"]

SCHEMA_VERSION = 1
_MAX_LISTED = 200

Progress = Callable[[str], None]


class TargetError(TopoError, TypeError):
    """``topo.audit`` was given something it cannot audit."""


def audit(
    target: Any,
    theta: Any = None,
    *,
    example_input: Any = None,
    level: str = "auto",
    sample: int = 0,
    seed: int | None = 0,
    init: str = "kaiming",
    name: str | None = None,
    max_listed: int = _MAX_LISTED,
    max_strata: int = 20,
    max_strata_work: int | None = None,
    progress: Progress | None = None,
    source: str | None = None,
    parameters: str | None = None,
    edge_source: Mapping | None = None,
    unsupported: Sequence | None = None,
) -> "Audit":
    """Audit a network: balances, bottlenecks, frozen edges with witnesses, the exact
    number of connected components of its fiber, singular strata, and optionally a
    sampled check of that number by persistent homology.

    Parameters
    ----------
    target
        What to audit:

        * an :class:`~topo.Architecture` (parameters ``theta``, or a random
          initialisation when ``theta`` is None);
        * layer widths such as ``[2, 8, 1]`` (a ReLU MLP with biases);
        * a path to a JSON/YAML spec file (its weights are used when it has some);
        * the name of a built-in example (``topo.catalog.EXAMPLES``);
        * a ``torch.nn.Module`` (its own weights; needs the ``torch`` extra), or the
          result of :func:`topo.from_torch`.
    theta : array_like or mapping, optional
        Parameters for an Architecture, widths, spec or example target (replacing
        the weights it carries).  Not accepted for a PyTorch module: load weights into the module.
    example_input : torch.Tensor or tuple of int, optional
        For a PyTorch module: an example batch, or the shape of one (a zero tensor of
        that shape is used); convolutional models need it to propagate shapes.
    level : {"auto", "neuron", "channel"}
        Unit granularity of a PyTorch module (see :func:`topo.from_torch`).
    sample : int
        When > 0, also sample that many fiber points and compare the persistent
        β₀ with the exact number of components (the ``topology`` section).
    seed : int, optional
        Seed of the random initialisation (when needed) and of the sampling.
    init : {"kaiming", "xavier", "normal", "uniform"}
        Initialisation scheme used when the target has no weights.
    name : str, optional
        Name shown in the report (default: derived from the target).
    max_listed : int
        At most this many frozen edges, balances and free units are listed in the
        report dictionary; counts are always complete and :meth:`Audit.frozen_edges`
        lists them all.
    max_strata : int
        At most this many singular strata of single units are searched (0 skips).
    max_strata_work : int, optional
        Bound on the work of the strata search in edge visits (default
        :data:`topo.singular.MAX_STRATA_WORK`); the search stops, incomplete and
        saying so, before a step that would exceed it.
    progress : callable, optional
        Called with the name of each stage as it starts (``"importing"``,
        ``"tracing"``, ``"connectivity"``, ``"symmetry"``, ``"strata"``, ``"sampling"``); the CLI
        prints these on stderr.
    source, parameters : str, optional
        Provenance of the network and of its parameters, written into the report
        (default: derived from the target).
    edge_source : mapping, optional
        ``{edge: (module, parameter, index)}``: where each edge's weights live in a
        model (filled in for PyTorch targets); frozen edges then name them.
    unsupported : list of (type, name), optional
        Layers of a model that could not be analysed (filled in for PyTorch targets).

    Returns
    -------
    Audit

    Examples
    --------
    An MLP given by its widths, at a random initialisation:

    >>> import topo
    >>> a = topo.audit([2, 6, 1], seed=0)
    >>> a
    <Audit 'mlp-2-6-1': 11 nodes, 25 parameters, 0 frozen edges, 1 component>
    >>> a.n_components, a.to_dict()["balances"]["n"]
    (1, 6)

    A spec file whose weights freeze an edge; the witness says why:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "chain.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write("edges:\\n  - [x, h, {weight: 1.0}]\\n  - [h, y, {weight: 3.0}]\\n")
    >>> a = topo.audit(path)
    >>> a.n_components
    2
    >>> [(r["source"], r["target"], r["kind"], r["witness"], r["sum_c"]) for r in a.frozen_edges(records=True)]
    [('h', 'y', 'out', ('h',), -8.0)]
    >>> for line in a.summary().splitlines()[-2:]:
    ...     print(line)
      components   2 (= 2^1) connected component(s) of the fiber
      symmetry     2 components, 2 up to symmetry (no symmetry)

    An Architecture with explicit parameters (``theta``), saved as JSON and HTML:

    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> a = topo.audit(arch, arch.init(seed=1))
    >>> [p.name for p in a.save(tempfile.mkdtemp(), formats=("json", "html"))]
    ['report.json', 'report.html']

    A PyTorch module is audited the same way, see ``docs/torch.md``.
    """
    _check_options(sample=sample, max_listed=max_listed, max_strata=max_strata)
    notify = progress or (lambda stage: None)
    loaded = _load(target, theta, example_input=example_input, level=level, init=init, seed=seed,
                   notify=notify)
    edge_source = edge_source if edge_source is not None else loaded.get("edge_source")
    report = audit_report(
        loaded["arch"], loaded["theta"], name=name or loaded["name"], source=source or loaded["source"],
        parameters=parameters or loaded["parameters"], max_listed=max_listed, sample=sample, seed=seed,
        edge_source=edge_source, max_strata=max_strata, max_strata_work=max_strata_work,
        unsupported=list(unsupported) if unsupported is not None else loaded.get("unsupported"), progress=notify,
    )
    return Audit(loaded["arch"], loaded["theta"], report, edge_source=edge_source)


def _check_options(*, sample: int, max_listed: int, max_strata: int) -> None:
    from .validation import LIMITS, short

    for key, value in (("sample", sample), ("max_listed", max_listed), ("max_strata", max_strata)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ParameterError(f"{key} must be an integer >= 0, got {short(value)}")
    if sample > LIMITS.max_samples:  # the check costs ~sample² distance evaluations
        raise ParameterError(f"sample={sample}: the persistent-homology check costs ~N² distance evaluations; "
                             f"the limit is {LIMITS.max_samples} (topo.validation.LIMITS.max_samples)")


def _is_torch_module(obj: Any) -> bool:
    mod = type(obj).__module__ or ""
    return (mod.startswith("torch") or hasattr(obj, "named_modules")) and callable(getattr(obj, "state_dict", None))


def _load(target, theta, *, example_input, level, init, seed, notify) -> dict:
    """``{arch, theta, name, source, parameters[, edge_source, unsupported]}`` for any target."""
    from . import catalog

    if type(target).__name__ == "TorchImport" and hasattr(target, "edge_source"):
        if theta is not None:
            raise TargetError("theta is not used for a PyTorch import: its weights are imp.theta")
        return {"arch": target.architecture, "theta": target.theta, "name": "model",
                "source": f"PyTorch model ({target.level} level)", "parameters": "weights of the model",
                "edge_source": target.edge_source, "unsupported": target.unsupported}
    if _is_torch_module(target):
        if theta is not None:
            raise TargetError("theta is not used for a PyTorch module: load the weights into the module "
                              "(model.load_state_dict) before auditing it")
        return _load_torch_module(target, example_input, level=level, notify=notify)
    if isinstance(target, Architecture):
        arch, given, name, source = target, None, "network", "Architecture"
    elif isinstance(target, (str, os.PathLike)):
        path = os.fspath(target)
        if not os.path.exists(path) and path in catalog.EXAMPLES:
            ex = catalog.get(path)
            arch, given, name, source = ex.architecture, ex.theta, ex.name, f"built-in example {ex.name!r}"
        else:
            from .spec import read_spec

            spec = read_spec(path)
            arch, given, name, source = spec.architecture, spec.theta, spec.name, f"spec file {path}"
    elif isinstance(target, Sequence) and target and all(isinstance(w, (int, np.integer)) for w in target):
        widths = [int(w) for w in target]
        arch = Architecture.mlp(widths)
        given, name, source = None, "mlp-" + "-".join(map(str, widths)), f"MLP {widths}, bias=True"
    else:
        raise TargetError(
            f"cannot audit a {type(target).__name__}: expected an Architecture, layer widths like [2, 8, 1], "
            "a spec file path, a built-in example name or a torch.nn.Module")
    if theta is not None:
        vec, params = arch.as_vector(theta), "parameters given to topo.audit"
    elif given is not None:
        vec, params = arch.as_vector(given), "weights given by the target"
    else:
        vec, params = arch.init(init, seed=seed), f"random init {init!r}, seed {seed}"
    return {"arch": arch, "theta": vec, "name": name, "source": source, "parameters": params}


def _load_torch_module(model, example_input, *, level: str, notify: Progress) -> dict:
    notify("tracing")
    from .torch_import import from_torch

    if isinstance(example_input, tuple) and all(isinstance(s, (int, np.integer)) for s in example_input):
        import torch

        example_input = torch.zeros(tuple(int(s) for s in example_input))
    imp = from_torch(model, example_input, level=level)
    return {"arch": imp.architecture, "theta": imp.theta, "name": type(model).__name__,
            "source": f"PyTorch model {type(model).__name__} ({imp.level} level)",
            "parameters": "weights of the model", "edge_source": imp.edge_source,
            "unsupported": imp.unsupported}


class Audit:
    """The result of :func:`audit`: one network, one parameter point, every analysis.

    Attributes
    ----------
    architecture : Architecture
    theta : numpy.ndarray
        The audited parameter point (flat, in ``architecture.edges`` order).
    c : numpy.ndarray
        Its balances, aligned with ``architecture.constrained``.
    connectivity : ConnectivityReport
        Frozen edges (all of them) with their witnesses.
    report : dict
        The report dictionary (schema in ``docs/report.md``); :meth:`to_dict` returns a copy.
    edge_source : mapping, optional
        For PyTorch models, where each edge's weights live in the model.

    Examples
    --------
    >>> import topo
    >>> a = topo.audit("shallow")
    >>> a.n_components == 2 ** len(a.frozen_edges(records=True))
    True
    >>> html = a._repr_html_()           # what Jupyter displays
    >>> html.startswith("<div") and "connected components" in html
    True
    """

    def __init__(self, architecture: Architecture, theta: np.ndarray, report: dict, *,
                 edge_source: Mapping | None = None):
        self.architecture = architecture
        self.theta = theta
        self.report = report
        self.edge_source = edge_source
        self._c: np.ndarray | None = None
        self._connectivity: ConnectivityReport | None = None
        self._figures: dict | None = None
        self.figure_error: str | None = None  # why the last save() drew no figures, if it did not

    @property
    def c(self) -> np.ndarray:
        """The balances of :attr:`theta`, aligned with ``architecture.constrained`` (computed on first use)."""
        if self._c is None:  # in the report's units (2**balances.unit_log2): no underflow at tiny weights
            self._c = _balances_in_range(self.architecture, self.architecture.as_vector(self.theta))[0]
        return self._c

    @property
    def connectivity(self) -> ConnectivityReport:
        if self._connectivity is None:
            self._connectivity = connectivity(self.architecture, self.c, tol=self.report["connectivity"]["tol"])
        return self._connectivity

    @property
    def name(self) -> str:
        return self.report["network"]["name"]

    @property
    def n_components(self) -> int:
        """The exact number of connected components of the fiber (an int, however large)."""
        return 2 ** self.report["connectivity"]["log2_n_components"]

    def __repr__(self) -> str:
        net, con = self.report["network"], self.report["connectivity"]
        k = con["log2_n_components"]
        comps = f"{2 ** k} component{'s' if k else ''}" if k <= 60 else f"2^{k} components"
        return (f"<Audit {self.name!r}: {net['n_nodes']} nodes, {net['n_params']} parameters, "
                f"{con['n_frozen_edges']} frozen edges, {comps}>")

    def to_dict(self) -> dict:
        """A deep copy of the report dictionary (JSON-serialisable; ``docs/report.md``)."""
        import copy

        return copy.deepcopy(self.report)

    def summary(self) -> str:
        """The terminal summary printed by ``topo audit``."""
        from .report import render_text

        return render_text(self.report)

    def figures(self) -> dict:
        """``{name: SVG text}`` of the report's figures (computed once)."""
        if self._figures is None:
            from .plots import report_figures

            self._figures = report_figures(self.architecture, self.theta, self.report, c=self.c)
        return self._figures

    def save(self, folder: str | os.PathLike, formats: Sequence[str] = ("json", "md", "html")) -> list:
        """Write ``report.json`` / ``report.md`` / ``report.html`` into ``folder``.

        Returns the paths written (:class:`pathlib.Path`).  The HTML page is
        self-contained (figures inline).
        """
        from .report import write_report

        formats = tuple(formats)
        figures = None
        self.figure_error = None
        if "html" in formats:
            try:
                figures = self.figures()
            except Exception as exc:  # noqa: BLE001 - figures are decoration: they never cost the report
                self.figure_error = f"{type(exc).__name__}: {exc}"
        return write_report(self.report, folder, formats=formats, figures=figures)

    def _repr_html_(self) -> str:
        """Rich display in Jupyter: the HTML report body (figures included)."""
        from .report import render_html_fragment

        return render_html_fragment(self.report, self.figures())

    def frozen_edges(self, *, records: bool = False):
        """Every frozen edge with its witness, as a tidy table.

        Columns: ``source``, ``target`` (the edge), ``size`` (weights on the edge),
        ``kind`` (``"in"``: only edge entering the witness set S, ``"out"``: only edge
        leaving it), ``witness`` (the nodes of S), ``sum_c`` (Σ_S c, a lower bound on
        the edge's squared norm over the fiber, as ``|sum_c|``), and for PyTorch
        models ``module``, ``parameter``, ``index``.

        Returns a :class:`pandas.DataFrame` when pandas is installed (and ``records``
        is False), else a list of dicts.
        """
        arch, conn = self.architecture, self.connectivity
        rows = []
        for edge in conn.frozen_edges:
            w = conn.witness(edge)
            row = {"source": edge[0], "target": edge[1], "size": int(arch.edge_sizes[arch.edge_index(edge)]),
                   "kind": w.kind, "witness": tuple(w.nodes), "sum_c": float(w.total)}
            if self.edge_source:
                src = self.edge_source.get(edge)
                row |= {"module": src[0], "parameter": src[1], "index": tuple(src[2])} if src else {
                    "module": None, "parameter": None, "index": None}
            rows.append(row)
        cols = ["source", "target", "size", "kind", "witness", "sum_c"] + (
            ["module", "parameter", "index"] if self.edge_source else [])
        return _table(rows, cols, records)

    def balances(self, *, records: bool = False):
        """The balance of every constrained unit, as a tidy table.

        Columns: ``node``, ``layer`` (the unit name without its trailing index),
        ``balance`` (c = squared norm in minus squared norm out, conserved by
        gradient flow) and ``sign`` (``"positive"``, ``"negative"`` or ``"zero"``
        within the report's tolerance).  A DataFrame when pandas is installed.
        """
        tol = self.report["balances"]["tol"]
        rows = [{"node": v, "layer": layer_key(v), "balance": float(x),
                 "sign": "positive" if x > tol else ("negative" if x < -tol else "zero")}
                for v, x in zip(self.architecture.constrained, self.c.tolist())]
        return _table(rows, ["node", "layer", "balance", "sign"], records)


def _table(rows: list, columns: list, records: bool):
    if not records:
        try:
            import pandas as pd
        except ImportError:
            pass
        else:
            return pd.DataFrame(rows, columns=columns)
    return rows


def layer_key(name: Any) -> str:
    """The layer of a unit: its name without a trailing index (``"layer1.0.conv1.17"`` → ``"layer1.0.conv1"``)."""
    return re.sub(r"[._]?\d+$", "", str(name)) or str(name)


def audit_report(
    arch: Architecture,
    theta: Any,
    *,
    name: str = "network",
    source: str = "",
    parameters: str = "",
    max_listed: int = _MAX_LISTED,
    sample: int = 0,
    seed: int | None = 0,
    edge_source: dict | None = None,
    max_strata: int = 20,
    unsupported: list | None = None,
    progress: Progress | None = None,
    max_strata_work: int | None = None,
) -> dict:
    """Run the structural analyses on ``(arch, theta)`` and collect them in a dict.

    This is the report dictionary of :func:`audit` (schema in ``docs/report.md``);
    most users want :func:`audit`, which also accepts widths, spec files and
    PyTorch modules and returns an :class:`Audit`.

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
        When > 0, sample that many fiber points (bottleneck coordinates) and add
        a ``topology`` section comparing persistent β₀ with the exact count.
    seed : int
        Seed of the sampling.
    edge_source : dict, optional
        ``{edge: (module, parameter, index)}`` (from :func:`topo.torch_import.from_torch`):
        frozen edges then name where their weights live in the model.
    max_strata : int
        At most this many singular strata of single units are searched for and listed
        (0 skips the search).
    unsupported : list of (type, name), optional
        Layers that could not be modelled (from the PyTorch import): listed in the
        report as what could not be analysed.
    progress : callable, optional
        Called with the name of each stage as it starts.

    Examples
    --------
    >>> import topo
    >>> from topo.auditing import audit_report
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> rep = audit_report(arch, arch.init(seed=0))
    >>> rep["schema_version"], rep["network"]["n_constrained"]
    (1, 3)
    """
    from . import __version__

    _check_options(sample=sample, max_listed=max_listed, max_strata=max_strata)
    notify = progress or (lambda stage: None)
    notify("connectivity")
    vec = arch.as_vector(theta)
    c, q, unit = _balances_in_range(arch, vec)
    tol = _default_tol(c, float(np.max(q, initial=0.0)))
    conn = connectivity(arch, c, tol=tol)
    notify("symmetry")
    symmetry = symmetry_section(arch, conn, max_listed)
    dec = decompose(arch)
    notes = _notes(arch, unsupported)
    if unit:
        notes.append(
            f"The parameters are of order 2^{unit // 2}: balances are given in units of 2^{unit} "
            "(balances.unit_log2) so that they stay within the floating-point range; the analysis is "
            "exact up to that scale (it does not change under θ -> 2^k θ)."
        )
    strata = None
    if max_strata > 0 and len(c):
        notify("strata")
        strata = _strata_section(arch, c, tol, max_strata, max_strata_work, notes)
    topology = None
    if sample > 0:
        notify("sampling")
        topology = _topology_section(arch, c, sample, seed, notes)
    return {
        "schema": "topo-audit",
        "schema_version": SCHEMA_VERSION,
        "topo_version": __version__,
        "network": _network_section(arch, name, source, max_listed, unsupported),
        "parameters": {
            "source": parameters,
            "norm": _norm(vec),
        },
        "balances": _balances_section(arch.constrained, c, tol, unit, max_listed),
        "decomposition": {
            "n_in_bottlenecks": len(dec.in_forest.roots),
            "n_out_bottlenecks": len(dec.out_forest.roots),
            "n_factors": dec.n_factors,
            **{k: v for k, v in dec.to_dict(max_listed=max_listed).items() if k != "factors"},
        },
        "connectivity": _with_sources(conn.to_dict(max_witnesses=max_listed), conn.frozen_edges, edge_source) | {
            "factors": [
                {"n_nodes": len(f["nodes"]), "n_frozen_scalar_edges": f["n_frozen_scalar"],
                 "n_components": count_repr(f["n_components"])}
                for f in conn.factors if f["frozen_edges"]
            ],
            "symmetry": symmetry,
        },
        "notes": notes,
    } | ({"topology": topology} if topology is not None else {}) | (
        {"singular_strata": strata} if strata is not None else {})


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
                    max_strata_work: int | None, notes: list) -> dict:
    """The ``singular_strata`` part of the report (single-unit clusters); a note when the search stopped."""
    from .singular import MAX_STRATA_WORK, singular_strata

    found = singular_strata(arch, c, tol=tol, max_size=1, limit=max_strata,
                            max_work=MAX_STRATA_WORK if max_strata_work is None else max_strata_work)
    if "max_work" in found.stopped:
        notes.append(f"Singular strata: the search {found.stopped}.")
    return {
        "searched": "clusters of one unit",
        "complete": found.complete,
        "strata": [s.to_dict() for s in found],
    } | ({"stopped": found.stopped} if found.stopped else {})


def _topology_section(arch: Architecture, c: np.ndarray, sample: int, seed: int | None, notes: list) -> dict:
    """The ``topology`` part of the report (sampled check of β₀); a note unless it agrees."""
    from .verification import verify_topology

    topology = verify_topology(arch, c, n_samples=sample, seed=seed, coordinates="bottleneck").to_dict()
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


def symmetry_section(arch: Architecture, conn: ConnectivityReport, max_listed: int) -> dict:
    """The ``connectivity.symmetry`` part of the report: components up to symmetry.

    Cheap when it can be: a connected fiber (no frozen scalar edge) has one class and
    no group is computed; otherwise the automorphism search is bounded by
    :data:`SYMMETRY_MAX_QUOTIENT` (the reason is reported when the bound is hit).
    """
    from .automorphisms import automorphism_group
    from .symmetry import components_up_to_symmetry

    if conn.n_frozen_scalar == 0:
        return {"computed": True, "exact": True, "n_components": 1, "n_classes": 1,
                "summary": "1 component, 1 up to symmetry", "group": None,
                "reason": "the fiber is connected: the symmetry group was not needed"}
    group = automorphism_group(arch, max_vertices=SYMMETRY_MAX_QUOTIENT)
    sym = components_up_to_symmetry(arch, conn.c, tol=conn.tol, max_representatives=max_listed, group=group)
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
        "n_group_edges": int(np.sum(sizes > 1)),
        "free_nodes": [{"node": str(v), "reason": r} for v, r in reasons.items()][:max_listed],
        "n_free": len(arch.free),
        "free_groups": [{"reason": r, "layer": layer, "n": len(nodes), "nodes": nodes[:max_listed]}
                        for (r, layer), nodes in groups.items()],
        "unsupported_layers": [{"type": t, "name": q} for t, q in (unsupported or [])],
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


def _balances_in_range(arch: Architecture, vec: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``(c, q, unit)``: balances and squared edge norms in units of ``2**unit``.

    ``unit`` is 0 unless the balances or norms of ``vec`` fall outside the normal float
    range (weights below ~1e-154 or above ~1e154), where squaring would underflow to 0
    (one component instead of eight) or overflow to inf.  ``θ`` is rescaled by a power
    of two, so the values are exact up to the scale and every decision is unchanged.
    """
    scaled, k = _power_of_two_scale(vec)
    qn = edge_norms(arch, scaled)
    cn, _ = scaled_balance(arch, scaled)
    top = max(float(np.max(np.abs(cn), initial=0.0)), float(np.max(qn, initial=0.0)))
    with np.errstate(over="ignore", under="ignore"):
        full = float(np.ldexp(top, 2 * k))
    if top == 0.0 or (np.isfinite(full) and full >= 2.0**-960 and full <= 2.0**960):
        return np.ldexp(cn, 2 * k), np.ldexp(qn, 2 * k), 0
    return cn, qn, 2 * k


def _norm(vec: np.ndarray) -> float:
    scaled, k = _power_of_two_scale(vec)
    with np.errstate(over="ignore", under="ignore"):
        value = float(np.ldexp(np.linalg.norm(scaled), k))
    return value if np.isfinite(value) else float(np.finfo(np.float64).max)


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
    scaled, k = _power_of_two_scale(c)
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

