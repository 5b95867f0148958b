"""The audit: every structural analysis of one network at one parameter point,
collected in an [`Audit`][topo.auditing.Audit] object.

[`audit`][topo.auditing.audit] is what ``topo audit`` runs; it accepts the targets a user has at
hand (an [`Architecture`][topo.graph.architecture.Architecture] with or without weights, layer widths, a spec
file, a built-in example, a PyTorch module) and returns an [`Audit`][topo.auditing.Audit] that
renders itself (terminal text, Jupyter HTML), saves report files and exposes tidy
tables.  The report content is one dictionary (the JSON schema of
``docs/report.md``), built by [`topo.report.build.audit_report`][topo.report.build.audit_report]; the rest of
`topo.report` renders it.  [`load_target`][topo.auditing.load_target] is the one loader of targets,
shared with the command line.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from topo.errors import TargetError
from topo.fiber.balance import balances_in_range
from topo.fiber.connectivity import ConnectivityReport, connectivity
from topo.graph.architecture import Architecture
from topo.graph.initializers import SCHEME
from topo.nn.result import LEVEL
from topo.report.build import AUDIT_OPTIONS, build_audit
from topo.report.files import FORMATS
from topo.report.history import history_section
from topo.report.schema import MAX_LISTED, layer_key
from topo.utils.validation import (BOOLEAN, NAME, PATH, SEED, AnyOf, InstanceOf, NoneOr, check_parameter_memory,
                                   validate_params)

__all__ = ["Audit", "audit", "load_target", "Target", "AUDIT_BYTES_PER_PARAMETER"]

Progress = Callable[[str], None]

#: Peak bytes per parameter of an audit (the parameter vector, its norms, balances in range and
#: the sampled check's work arrays), checked before the audit starts.
AUDIT_BYTES_PER_PARAMETER = 64


@validate_params(level=LEVEL, init=SCHEME, name=NoneOr(NAME), source=NoneOr(NAME), parameters=NoneOr(NAME),
                 random_weights=BOOLEAN, history=NoneOr(AnyOf(PATH, InstanceOf(dict, name="a history mapping"))),
                 **AUDIT_OPTIONS)
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
    max_listed: int = MAX_LISTED,
    max_strata: int = 20,
    max_strata_work: int | None = None,
    progress: Progress | None = None,
    source: str | None = None,
    parameters: str | None = None,
    edge_source: Mapping | None = None,
    unsupported: Sequence | None = None,
    state_dict: Any = None,
    random_weights: bool = False,
    progress_bars: bool | None = None,
    history: Any = None,
) -> Audit:
    """Audit a network: balances, bottlenecks, frozen edges with witnesses, the exact
    number of connected components of its fiber, singular strata, and optionally a
    sampled check of that number by persistent homology.

    Parameters
    ----------
    target
        What to audit:

        * an [`Architecture`][topo.graph.architecture.Architecture] (parameters ``theta``, or a random
          initialisation when ``theta`` is None);
        * layer widths such as ``[2, 8, 1]`` (a ReLU MLP with biases);
        * a path to a JSON/YAML spec file (its weights are used when it has some);
        * the name of a built-in example (``topo.catalog.EXAMPLES``);
        * a ``torch.nn.Module`` (its own weights; needs the ``torch`` extra), or the
          result of [`topo.from_torch`][topo.nn.trace.from_torch].
    theta : array_like or mapping, optional
        Parameters for an Architecture, widths, spec or example target (replacing
        the weights it carries).  Not accepted for a PyTorch module: load weights into the module.
    example_input : torch.Tensor or tuple of int, optional
        For a PyTorch module: an example batch, or the shape of one (a zero tensor of
        that shape is used); convolutional models need it to propagate shapes.
    level : {"auto", "neuron", "channel"}
        Unit granularity of a PyTorch module (see [`topo.from_torch`][topo.nn.trace.from_torch]).
    sample : int
        0 (the default) skips it; else also sample that many fiber points (at least 2,
        at most ``topo.LIMITS.max_samples``) and compare the persistent β₀ with the
        exact number of components (the ``topology`` section).
    seed : int, optional
        Seed of the random initialisation (when needed) and of the sampling.
    init : {"kaiming", "xavier", "normal", "uniform"}
        Initialisation scheme used when the target has no weights.
    name : str, optional
        Name shown in the report (default: derived from the target).
    max_listed : int
        At most this many frozen edges, balances and free units are listed in the
        report dictionary; counts are always complete and [`Audit.frozen_edges`][topo.auditing.Audit.frozen_edges]
        lists them all.
    max_strata : int
        At most this many singular strata of single units are searched (0 skips).
    max_strata_work : int, optional
        Bound on the work of the strata search in edge visits (default
        `topo.fiber.singular.MAX_STRATA_WORK`); the search stops, incomplete and
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
    state_dict : mapping or path, optional
        For a PyTorch module: weights to load first (see [`topo.from_torch`][topo.nn.trace.from_torch]).
    random_weights : bool
        Audit a random initialisation (``init``, ``seed``) even when the target has weights.
    progress_bars : bool, optional
        Progress bars of the sampled check (``sample``): None shows them only on a
        terminal, False never (``topo audit -q``).
    history : path or mapping, optional
        A balance history of the model's training (a file saved by
        `topo.BalanceMonitor.save`, or `topo.BalanceMonitor.to_dict`):
        embedded as the report's ``history`` section, with its figure in the HTML
        (`topo.report.history`; ``topo audit --history FILE``).

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
    notify = progress or (lambda stage: None)
    history = history_section(history) if history is not None else None  # a bad file fails before the work
    loaded = load_target(target, theta, example_input=example_input, level=level, init=init, seed=seed,
                         state_dict=state_dict, random_weights=random_weights, progress=notify)
    check_parameter_memory(loaded.architecture, AUDIT_BYTES_PER_PARAMETER, "an audit")
    edge_source = edge_source if edge_source is not None else loaded.edge_source
    parts = build_audit(
        loaded.architecture, loaded.theta, name=name or loaded.name, source=source or loaded.source,
        parameters=parameters or loaded.parameters, max_listed=max_listed, sample=sample, seed=seed,
        edge_source=edge_source, max_strata=max_strata, max_strata_work=max_strata_work,
        unsupported=list(unsupported) if unsupported is not None else loaded.unsupported, progress=notify,
        progress_bars=progress_bars, notes=list(loaded.notes), modules=loaded.modules,
    )
    if history is not None:
        parts.report["history"] = history
    return Audit(loaded.architecture, loaded.theta, parts.report, edge_source=edge_source, c=parts.c,
                 connectivity=parts.connectivity)


@dataclass(frozen=True)
class Target:
    """A loaded audit target ([`load_target`][topo.auditing.load_target]): the network, its parameter point and
    provenance."""

    architecture: Architecture
    theta: np.ndarray
    name: str
    source: str
    parameters: str
    edge_source: Mapping | None = None
    unsupported: list | None = None
    level: str | None = None  # "neuron" or "channel" for PyTorch models
    notes: tuple = ()  # notes from loading it (a spec file's lint notes)
    modules: Mapping | None = None  # for PyTorch models: type, output shape, parameters of each module


def _is_torch_module(obj: Any) -> bool:
    mod = type(obj).__module__ or ""
    return (mod.startswith("torch") or hasattr(obj, "named_modules")) and callable(getattr(obj, "state_dict", None))


@validate_params(level=LEVEL, init=SCHEME, seed=SEED, bias=BOOLEAN, random_weights=BOOLEAN,
                 progress=AUDIT_OPTIONS["progress"])
def load_target(
    target: Any,
    theta: Any = None,
    *,
    example_input: Any = None,
    level: str = "auto",
    init: str = "kaiming",
    seed: int | None = 0,
    bias: bool = True,
    state_dict: Any = None,
    random_weights: bool = False,
    progress: Progress | None = None,
) -> Target:
    """Load anything [`audit`][topo.auditing.audit] accepts into a `Target` (the one loader of
    targets, shared by [`audit`][topo.auditing.audit] and the ``topo audit`` command).

    ``bias`` applies to layer widths (``Architecture.mlp(widths, bias=bias)``);
    ``state_dict`` (a mapping or a file saved by ``torch.save``) to PyTorch modules;
    ``random_weights`` replaces the target's own weights by ``init`` with ``seed``.
    See [`audit`][topo.auditing.audit] for the other arguments.

    Examples
    --------
    >>> t = load_target([2, 3, 1], seed=0)
    >>> t.name, t.source, t.theta.shape
    ('mlp-2-3-1', 'MLP [2, 3, 1], bias=True', (13,))
    >>> load_target(3.5)
    Traceback (most recent call last):
    ...
    topo.errors.TargetError: cannot audit a float: expected an Architecture, layer widths like [2, 8, 1], a spec file path, a built-in example name or a torch.nn.Module
    """
    from topo.graph import catalog

    notify = progress or (lambda stage: None)
    if isinstance(target, Target):
        if theta is not None:
            raise TargetError("theta is not used for a loaded Target: it carries its parameters")
        return target
    if type(target).__name__ == "TorchImport" and hasattr(target, "edge_source"):
        if theta is not None:
            raise TargetError("theta is not used for a PyTorch import: its weights are imp.theta")
        loaded = Target(target.architecture, target.theta, "model", f"PyTorch model ({target.level} level)",
                        "weights of the model", target.edge_source, target.unsupported, target.level,
                        modules=getattr(target, "modules", None))
    elif _is_torch_module(target):
        if theta is not None:
            raise TargetError("theta is not used for a PyTorch module: load the weights into the module "
                              "(model.load_state_dict) before auditing it")
        loaded = _load_torch_module(target, example_input, level=level, state_dict=state_dict, notify=notify)
    else:
        arch, given, name, source, notes = _load_network(target, bias, catalog)
        if theta is not None:
            vec, params = arch.as_vector(theta), "parameters given to topo.audit"
        elif given is not None:
            vec, params = arch.as_vector(given), "weights given by the target"
        else:
            vec, params = None, ""
        loaded = Target(arch, vec, name, source, params, notes=notes) if vec is not None else None
        if loaded is None or random_weights:
            return Target(arch, arch.init(init, seed=seed), name, source, f"random init {init!r}, seed {seed}",
                          notes=notes)
        return loaded
    if random_weights:
        arch = loaded.architecture
        return dataclasses.replace(loaded, theta=arch.init(init, seed=seed),
                                   parameters=f"random init {init!r}, seed {seed}")
    return loaded


def _load_network(target: Any, bias: bool, catalog) -> tuple:
    """``(arch, weights or None, name, source, notes)`` of a non-PyTorch target."""
    if isinstance(target, Architecture):
        return target, None, "network", "Architecture", ()
    if isinstance(target, (str, os.PathLike)):
        path = os.fspath(target)
        if not os.path.exists(path) and path in catalog.EXAMPLES:
            ex = catalog.get(path)
            return ex.architecture, ex.theta, ex.name, f"built-in example {ex.name!r}", ()
        if not os.path.exists(path):
            _no_such_target(path, catalog)
        from topo.graph.spec import read_spec

        spec = read_spec(path)
        return spec.architecture, spec.theta, spec.name, f"spec file {path}", spec.notes
    if isinstance(target, Sequence) and target and all(isinstance(w, (int, np.integer)) for w in target):
        widths = [int(w) for w in target]
        arch = Architecture.mlp(widths, bias=bias)
        return arch, None, "mlp-" + "-".join(map(str, widths)), f"MLP {widths}, bias={bias}", ()
    raise TargetError(
        f"cannot audit a {type(target).__name__}: expected an Architecture, layer widths like [2, 8, 1], "
        "a spec file path, a built-in example name or a torch.nn.Module")


def _no_such_target(path: str, catalog) -> None:
    """A target string that is neither a file nor an example: a [`TargetError`][topo.errors.TargetError] suggesting
    the examples whose names are close (``"shalow"`` -> ``'shallow'``)."""
    import difflib

    from topo.utils.text import short

    close = difflib.get_close_matches(path, sorted(catalog.EXAMPLES), n=3, cutoff=0.6)
    if close:
        raise TargetError(f"{short(path)} is neither a file nor a built-in example; did you mean "
                          f"{' or '.join(repr(c) for c in close)}? (topo.catalog.EXAMPLES lists the examples)")
    if not os.path.splitext(path)[1]:  # no suffix: more likely a mistyped example than a spec file
        raise TargetError(f"{short(path)} is neither a file nor a built-in example (built-in examples: "
                          f"{', '.join(sorted(catalog.EXAMPLES))})")


def _load_torch_module(model, example_input, *, level: str, state_dict: Any, notify: Progress) -> Target:
    notify("tracing")
    from topo.errors import TopoError
    from topo.nn.trace import from_torch

    try:  # a shape tuple becomes a batch of zeros in the model's dtype (`topo.nn.trace.example_tensor`)
        imp = from_torch(model, example_input, level=level, state_dict=state_dict)
    except TopoError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything torch raises while tracing or running the model
        lines = [s.strip() for s in str(exc).strip().splitlines() if s.strip()]
        first = lines[0] if lines else ""
        raise TargetError(f"importing {type(model).__name__} failed: {type(exc).__name__}: {first}") from exc
    _check_finite_weights(imp)
    return Target(imp.architecture, imp.theta, type(model).__name__,
                  f"PyTorch model {type(model).__name__} ({imp.level} level)", "weights of the model",
                  imp.edge_source, imp.unsupported, imp.level, modules=imp.modules)


def _check_finite_weights(imp) -> None:
    """A NaN or an infinity among an imported model's weights, named by the model's own parameter."""
    from topo.errors import ParameterError
    from topo.nn.result import parameter_name
    from topo.utils.validation import first_non_finite

    i = first_non_finite(imp.theta)
    if i is None:
        return
    arch = imp.architecture
    e = int(np.searchsorted(arch.edge_offsets, i, side="right") - 1)
    edge = arch.edges[e]
    qual, pname, idx = imp.edge_source[edge]
    where = ", ".join(str(j) for j in idx)
    note = imp.edge_source.note(edge)
    raise ParameterError(f"the model's weights hold a non-finite value {imp.theta[i]}: parameter "
                         f"{parameter_name(qual, pname)}[{where}] (edge {edge[0]!r} -> {edge[1]!r}"
                         + (f"; {note}" if note else "") + ")")


class Audit:
    """The result of [`audit`][topo.auditing.audit]: one network, one parameter point, every analysis.

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
        The report dictionary (schema in ``docs/report.md``); [`to_dict`][topo.auditing.Audit.to_dict] returns a copy.
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
                 edge_source: Mapping | None = None, c: np.ndarray | None = None,
                 connectivity: ConnectivityReport | None = None):
        self.architecture, self.theta, self.report, self.edge_source = architecture, theta, report, edge_source
        # computed on first use unless the audit handed them over
        self._c, self._connectivity, self._figures = c, connectivity, None
        self.figure_error: str | None = None  # why the last save() drew no figures, if it did not

    @property
    def c(self) -> np.ndarray:
        """The balances of `theta`, aligned with ``architecture.constrained`` (computed on first use)."""
        if self._c is None:  # in the report's units (2**balances.unit_log2): no underflow at tiny weights
            self._c = balances_in_range(self.architecture, self.architecture.as_vector(self.theta))[0]
        return self._c

    @property
    def connectivity(self) -> ConnectivityReport:
        """Frozen edges (all of them) with their witnesses: the report the audit was built from."""
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

    @validate_params(layers=NoneOr(BOOLEAN))
    def summary(self, *, layers: bool | None = None) -> str:
        """The terminal summary printed by ``topo audit``: the verdict in plain words, a
        glossary line, then the detail; ``layers`` appends the per-layer table (default:
        for PyTorch models).

        Examples
        --------
        >>> import topo
        >>> print(topo.audit([2, 3, 1], seed=0).summary().splitlines()[2])
          - The fiber is connected (1 component): these balances do not split the parameter space.
        """
        from topo.report.text import render_text

        return render_text(self.report, layers=bool(self.edge_source) if layers is None else layers)

    def figures(self) -> dict:
        """``{name: SVG text}`` of the report's figures (computed once)."""
        if self._figures is None:
            from topo.report.plots import report_figures

            self._figures = report_figures(self.architecture, self.theta, self.report, c=self.c)
        return self._figures

    @validate_params(folder=PATH, formats=FORMATS)
    def save(self, folder: str | os.PathLike, formats: Sequence[str] = ("json", "md", "html")) -> list:
        """Write ``report.json`` / ``report.md`` / ``report.html`` into ``folder``.

        Returns the paths written (`pathlib.Path`).  The HTML page is
        self-contained (figures inline).
        """
        from topo.report.files import write_report

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
        from topo.report.html import render_html_fragment

        return render_html_fragment(self.report, self.figures())

    @validate_params(records=BOOLEAN)
    def frozen_edges(self, *, records: bool = False):
        """Every frozen edge with its witness, as a tidy table.

        Columns: ``source``, ``target`` (the edge), ``size`` (weights on the edge),
        ``kind`` (``"in"``: only edge entering the witness set S, ``"out"``: only edge
        leaving it), ``witness`` (the nodes of S), ``sum_c`` (Σ_S c, a lower bound on
        the edge's squared norm over the fiber, as ``|sum_c|``), and for PyTorch
        models ``module``, ``parameter``, ``index``.

        Returns a `pandas.DataFrame` when pandas is installed (and ``records``
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

    @validate_params(records=BOOLEAN)
    def layers(self, *, records: bool = False):
        """One row per layer, in the spirit of ``torchinfo.summary``: ``layer``, ``type``,
        ``output_shape`` (PyTorch models), ``parameters`` (trainable weights on the edges
        entering the layer: the column adds up to the trainable parameters), ``units``, ``constrained``
        (units whose rescaling class carries a balance), ``shared`` (of those, units whose balance
        is shared along a residual stream or another class of several units), ``free`` and
        ``free_reason`` (the most common reason), ``balance_min``/``balance_max``, ``n_negative``,
        ``frozen_edges`` (entering the layer) and ``prunable`` units.

        At most ``max_listed`` layers (the report's ``layers.truncated`` says when more exist).
        A DataFrame when pandas is installed (and ``records`` is False), else a list of dicts.

        Examples
        --------
        >>> import topo
        >>> [(r["layer"], r["parameters"], r["frozen_edges"]) for r in topo.audit("shallow").layers(records=True)]
        [('x', 0, 0), ('h1', 18, 0), ('y', 7, 3)]
        """
        from topo.report.verdict import LAYER_COLUMNS

        rows = self.report.get("layers", {"rows": []})["rows"]
        cols = [k for k, _ in LAYER_COLUMNS if k != "balance"] + ["balance_min", "balance_max", "role"]
        return _table([{k: r.get(k) for k in cols} for r in rows], cols, records)

    @validate_params(records=BOOLEAN)
    def prunable(self, *, records: bool = False):
        """Every prunable unit found (singular strata of one unit) with what pruning it zeroes.

        Columns: ``units`` (the cluster cut off), ``layer``, ``n_boundary_edges``,
        ``parameters`` (the model entries it zeroes, ``"0.weight[3, :]"``, or edge names
        ``"u -> v"`` without a model).  Empty when no unit is prunable or the search was
        skipped (``max_strata=0``).  A DataFrame when pandas is installed, else a list of dicts.

        Examples
        --------
        >>> import topo
        >>> arch = topo.Architecture.mlp([1, 2, 1], bias=False)
        >>> topo.audit(arch, [1.0, 2.0, 3.0, 1.0]).prunable(records=True)   # c = (1 - 9, 4 - 1): none
        []
        >>> topo.audit(arch, [1.0, 2.0, 1.0, 1.0]).prunable(records=True)   # c = (1 - 1, 4 - 1)
        [{'units': ('h1_0',), 'layer': 'h1', 'n_boundary_edges': 2, 'parameters': ('x0 -> h1_0', 'h1_0 -> y0')}]
        """
        st = self.report.get("singular_strata") or {"strata": []}
        rows = [{"units": tuple(s["nodes"]), "layer": layer_key(s["nodes"][0]) if s["nodes"] else "",
                 "n_boundary_edges": len(s["boundary_edges"]), "parameters": tuple(s.get("parameters") or ())}
                for s in st["strata"]]
        return _table(rows, ["units", "layer", "n_boundary_edges", "parameters"], records)

    @validate_params(records=BOOLEAN)
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


