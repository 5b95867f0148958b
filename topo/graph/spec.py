"""Spec files: a network (and optionally its weights) as JSON or YAML.

The format is documented in ``docs/spec.md``.  Short form::

    {"version": 1,
     "edges": [["x", "h"], ["h", "y", {"size": 4}]],
     "nodes": [{"id": "h", "activation": "relu"}]}

or ``{"mlp": {"widths": [2, 8, 1], "bias": true}}``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from topo.errors import SpecError, TopoError
from topo.graph.architecture import ARCH, Architecture
from topo.graph.nodes import ROLE_CODE
from topo.utils.validation import LIMITS, NAME, PATH, NoneOr, check_bool, one_line, short, validate_params

__all__ = ["Spec", "read_spec", "parse_spec", "write_spec", "lint_sources", "SPEC_VERSION"]

SPEC_VERSION = 1
_TOP_KEYS = {"format", "version", "name", "description", "activation", "output_activation",
             "inputs", "nodes", "edges", "mlp", "weights"}


@dataclass(frozen=True)
class Spec:
    """What a spec file holds: the architecture, its weights (or None), a name, and lint
    notes on what looks like a typo (a source named like the hidden nodes, a source not
    among the declared inputs); the audit lists the notes first."""

    architecture: Architecture
    theta: np.ndarray | None
    name: str
    description: str = ""
    notes: tuple = ()


@functools.lru_cache(maxsize=1)
def _spec_loader() -> type:
    """``yaml.SafeLoader`` that refuses aliases/anchors and duplicate keys, and reads only
    ``true``/``false`` as booleans (YAML 1.2: ``yes``, ``no``, ``on``, ``off`` stay strings).

    Refusing aliases is what makes a "billion laughs" document harmless: without them a
    document cannot be larger in memory than its text.
    """
    import yaml

    replaced = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")

    class SpecLoader(yaml.SafeLoader):
        yaml_implicit_resolvers = {
            first: [(tag, rx) for tag, rx in resolvers if tag not in replaced]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                kind = "aliases (*" if isinstance(event, yaml.AliasEvent) else "anchors (&"
                raise _YamlRefused(f"YAML {kind}{one_line(event.anchor, 40)}) are not allowed in spec files",
                                   event.start_mark)
            return super().compose_node(parent, index)

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = set()
                for key_node, _ in node.value:
                    if isinstance(key_node, yaml.ScalarNode):
                        if key_node.value in seen:
                            raise _YamlRefused(f"duplicate key {short(key_node.value)}", key_node.start_mark)
                        seen.add(key_node.value)
            return super().construct_mapping(node, deep=deep)

    SpecLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    # YAML 1.2 floats: 1e8 and 1.0e8 are numbers (PyYAML's YAML 1.1 reads them as strings)
    SpecLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
        list("-+0123456789."))
    return SpecLoader


class _YamlRefused(Exception):
    def __init__(self, message, mark):
        super().__init__(message)
        self.mark = mark


def _json_pairs(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise SpecError(f"duplicate key {short(key)}")
        out[key] = value
    return out


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(f"{_where(path)}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}, "
                        f"offset {exc.start})") from None


def _where(path: Path) -> str:
    return one_line(str(path), 200)


def _load(path: Path) -> Any:
    try:
        size = path.stat().st_size
        if size > LIMITS.max_spec_bytes:
            raise SpecError(f"{_where(path)}: spec file is {size} bytes; the limit is {LIMITS.max_spec_bytes} "
                            "(topo.LIMITS.max_spec_bytes)")
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read spec file {short(str(path))}: {exc.strerror or exc}") from None
    text = _decode(path, raw)
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text, object_pairs_hook=_json_pairs)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{_where(path)}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        except SpecError as exc:
            raise SpecError(f"{_where(path)}: {exc}") from None
        except RecursionError:
            raise SpecError(f"{_where(path)}: JSON nested too deeply") from None
        except ValueError as exc:  # e.g. an integer with more than 4300 digits
            raise SpecError(f"{_where(path)}: invalid JSON: {one_line(str(exc), 120)}") from None
    import yaml

    try:
        return yaml.load(text, Loader=_spec_loader())  # noqa: S506 - a SafeLoader subclass
    except _YamlRefused as exc:
        raise SpecError(f"{_where(path)}: {exc} (line {exc.mark.line + 1}, column {exc.mark.column + 1})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise SpecError(f"{_where(path)}: invalid YAML{where}: {one_line(str(problem), 120)}") from None
    except RecursionError:
        raise SpecError(f"{_where(path)}: YAML nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with more than 4300 digits
        raise SpecError(f"{_where(path)}: invalid YAML: {one_line(str(exc), 120)}") from None


@validate_params(error=SpecError, path=PATH)
def read_spec(path: str | os.PathLike) -> Spec:
    """Read a JSON (``.json``) or YAML (any other suffix) spec file.

    Raises [`SpecError`][topo.errors.SpecError] naming the file and the problem.

    Examples
    --------
    >>> import json, tempfile, os, topo
    >>> d = tempfile.mkdtemp()
    >>> path = os.path.join(d, "net.json")
    >>> with open(path, "w") as f:
    ...     json.dump({"edges": [["x", "h", {"weight": 2.0}], ["h", "y", {"weight": 1.0}]]}, f)
    >>> spec = topo.read_spec(path)
    >>> spec.architecture.constrained, spec.theta
    (['h'], array([2., 1.]))
    """
    path = Path(path)
    data = _load(path)
    try:
        return parse_spec(data, name=path.stem)
    except SpecError as exc:
        raise SpecError(f"{_where(path)}: {exc}") from None


@validate_params(error=SpecError, name=NAME)
def parse_spec(data: Any, *, name: str = "network") -> Spec:
    """Build a `Spec` from an already parsed JSON/YAML document.

    Every problem raises [`SpecError`][topo.errors.SpecError] (a ``ValueError``) naming it;
    types are checked strictly (``trainable: "false"`` is an error, not ``True``) and
    sizes against `topo.LIMITS` before anything is built.

    Examples
    --------
    >>> import topo
    >>> topo.graph.spec.parse_spec({"mlp": [2, 3, 1]}).architecture.n_params
    13
    >>> topo.graph.spec.parse_spec({"edges": [["x", "y", {"trainable": "no"}]]})
    Traceback (most recent call last):
    ...
    topo.errors.SpecError: trainable of edge ('x', 'y') must be true or false (a boolean), got the string 'no'
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"a spec must be a mapping at top level, got {type(data).__name__}")
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise SpecError(f"unknown top-level key(s) {short(sorted(map(str, unknown)))}; allowed: {sorted(_TOP_KEYS)}")
    version = data.get("version", SPEC_VERSION)
    if isinstance(version, bool) or version != SPEC_VERSION or not isinstance(version, int):
        raise SpecError(f"unsupported spec version {short(version)} (this topo reads version {SPEC_VERSION})")
    name = _text(data.get("name", name), "'name'")
    description = _text(data.get("description", ""), "'description'")
    defaults = {
        "activation": data.get("activation", "relu"),
        "output_activation": data.get("output_activation", "linear"),
    }
    try:
        if "mlp" in data:
            if "edges" in data or "nodes" in data:
                raise SpecError("give either 'mlp' or 'nodes'/'edges', not both")
            if "inputs" in data:
                raise SpecError("'inputs' goes with 'nodes'/'edges', not with 'mlp'")
            arch, weights, notes = _mlp_spec(data["mlp"], defaults), None, ()
        else:
            arch, weights, notes = _graph_spec(data, defaults)
        theta = None
        if "weights" in data:
            if weights is not None:
                raise SpecError("weights are given both on edges and in 'weights'")
            w = data["weights"]
            theta = arch.as_vector(w if not isinstance(w, Mapping) else _pairs(arch, w), name="weights")
        elif weights is not None:
            theta = arch.as_vector(weights, name="weights")
    except SpecError:
        raise
    except TopoError as exc:
        raise SpecError(str(exc)) from None
    return Spec(architecture=arch, theta=theta, name=name, description=description, notes=notes)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise SpecError(f"{what} must be a string, got {short(value)}")
    return value


def _mlp_spec(mlp: Any, defaults: dict) -> Architecture:
    if isinstance(mlp, (list, tuple)):
        mlp = {"widths": mlp}
    if not isinstance(mlp, Mapping) or "widths" not in mlp:
        raise SpecError(f"'mlp' must be a list of widths or a mapping with 'widths', got {short(mlp)}")
    unknown = [k for k in mlp if k not in ("widths", "bias")]
    if unknown:
        raise SpecError(f"unknown key(s) {short(unknown)} in 'mlp'; allowed: bias, widths")
    widths = mlp["widths"]
    if not isinstance(widths, (list, tuple)):
        raise SpecError(f"'mlp' widths must be a list of positive integers like [2, 8, 1], got {short(widths)}")
    bias = check_bool(mlp.get("bias", True), "'mlp' bias", error=SpecError)
    return Architecture.mlp(widths, bias=bias, **defaults)


def _node(value: Any, where: str) -> Any:
    """A node name read from a spec: a string or an integer (``true``/``false`` -> text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return value
    raise SpecError(f"{where}: node names must be strings or integers, got {short(value)} "
                    f"({type(value).__name__}); quote it to make it a string")


def _pairs(arch: Architecture, w: Mapping) -> dict:
    by_text: dict[str, Any] = {}
    for v in arch.nodes:
        by_text.setdefault(str(v), v)
    out = {}
    for key, value in w.items():
        if isinstance(key, str) and "->" in key:
            u, v = (s.strip() for s in key.split("->", 1))
            out[(by_text.get(u, u), by_text.get(v, v))] = value
        else:
            raise SpecError(f"'weights' keys must look like 'u -> v', got {short(key)}")
    return out


def _read_nodes(items: Any) -> tuple[list, dict, dict]:
    if not isinstance(items, list):
        raise SpecError(f"'nodes' must be a list, got {short(items)}")
    nodes, roles, acts = [], {}, {}
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            if "id" not in item:
                raise SpecError(f"node entry {short(item)} has no 'id'")
            unknown = [k for k in item if k not in ("id", "role", "activation")]
            nid = _node(item["id"], f"nodes[{i}]")
            if unknown:
                raise SpecError(f"unknown key(s) {short(unknown)} on node {short(nid)}; allowed: activation, id, role")
            if "role" in item:
                roles[nid] = _text(item["role"], f"role of node {short(nid)}")
            if "activation" in item:
                acts[nid] = _text(item["activation"], f"activation of node {short(nid)}")
        else:
            nid = _node(item, f"nodes[{i}]")
        nodes.append(nid)
    return nodes, roles, acts


def _read_edge(i: int, item: Any) -> tuple[Any, Any, dict]:
    if isinstance(item, Mapping):
        if "source" not in item or "target" not in item:
            raise SpecError(f"edge entry {short(item)} needs 'source' and 'target'")
        u, v = item["source"], item["target"]
        attrs = {k: item[k] for k in item if k not in ("source", "target")}
    elif isinstance(item, (list, tuple)) and len(item) in (2, 3):
        u, v = item[0], item[1]
        attrs = item[2] if len(item) == 3 else {}
        if not isinstance(attrs, Mapping):
            raise SpecError(f"edges[{i}]: the third entry must be a mapping of attributes "
                            f"(size, trainable, weight), got {short(attrs)}")
        attrs = dict(attrs)
    else:
        raise SpecError(f"an edge must be [u, v], [u, v, {{attrs}}] or {{source, target, ...}}, got {short(item)}")
    return _node(u, f"edges[{i}]"), _node(v, f"edges[{i}]"), attrs


def _graph_spec(data: Mapping, defaults: dict) -> tuple[Architecture, dict | None, tuple]:
    if "edges" not in data:
        raise SpecError("a spec needs 'edges' (or 'mlp')")
    nodes, roles, acts = _read_nodes(data["nodes"]) if "nodes" in data else (None, {}, {})
    declared = _read_inputs(data["inputs"], roles) if "inputs" in data else None
    if not isinstance(data["edges"], list):
        raise SpecError(f"'edges' must be a list, got {short(data['edges'])}")
    if len(data["edges"]) > LIMITS.max_edges:
        raise SpecError(f"{len(data['edges'])} edges; the limit is {LIMITS.max_edges} "
                        "(topo.LIMITS.max_edges)")
    edges, weights = [], {}
    for i, item in enumerate(data["edges"]):
        u, v, attrs = _read_edge(i, item)
        if "weight" in attrs:
            weights[(u, v)] = attrs.pop("weight")
        edges.append((u, v, attrs))
    if nodes is not None:  # listed nodes first, then the others in order of appearance
        listed = set(nodes)
        for u, v, _ in edges:
            for x in (u, v):
                if x not in listed:
                    listed.add(x)
                    nodes.append(x)
    if weights and len(weights) != len(edges):
        missing = [(u, v) for u, v, _ in edges if (u, v) not in weights][:3]
        raise SpecError(f"some edges have a 'weight' and others do not, e.g. {short(missing)}")
    arch = Architecture.from_edges(edges, nodes=nodes, roles=roles or None, activations=acts or None, **defaults)
    return arch, (weights or None), lint_sources(arch, declared, explicit=set(roles))


def _read_inputs(items: Any, roles: dict) -> list:
    """The top-level ``inputs: [x0, x1]`` list: those nodes get the role ``input``."""
    if not isinstance(items, list) or not items:
        raise SpecError(f"'inputs' must be a non-empty list of node names, got {short(items)}")
    names = [_node(v, f"inputs[{i}]") for i, v in enumerate(items)]
    for v in names:
        if roles.get(v, "input") != "input":
            raise SpecError(f"node {short(v)} is listed in 'inputs' but declared with role {short(roles[v])}")
        roles[v] = "input"
    return names


#: At most this many lint notes are written for one spec (then a count of the others).
MAX_LINT_NOTES = 5


def lint_sources(arch: Architecture, declared: list | None = None, *, explicit: set = frozenset()) -> tuple:
    """Notes on the sources of a spec's network that look like typos (nothing is refused):
    with ``declared`` inputs, every other source that is not a bias; without, a source that
    feeds only outputs while named like a hidden node (``hl`` next to ``h1``: an edge
    ``[hl, y]`` written for ``[h1, y]`` makes a new input).  Nodes in ``explicit`` (given a
    role in the file) are not questioned.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.from_edges([("x", "h1"), ("h1", "y"), ("hl", "y")])
    >>> print(lint_sources(arch)[0])
    Spec lint: source 'hl' feeds only outputs and is named like the hidden node 'h1': a typo? It is read as an input (declare it with role: input if it is one).
    >>> print(lint_sources(arch, ["x"])[0])
    Spec lint: source 'hl' is not among the declared inputs ['x']: a typo? It is read as an input.
    """
    import difflib

    role = arch.role_codes
    src, dst = arch.src, arch.dst
    feeds_non_output = np.zeros(arch.n_nodes, dtype=bool)
    feeds_non_output[src[role[dst] != ROLE_CODE["output"]]] = True
    hidden = [str(v) for v in arch.hidden][:10000]  # a bounded search for a look-alike name
    declared_set = set(declared) if declared is not None else None
    notes = []
    for i in np.flatnonzero(role == ROLE_CODE["input"]).tolist():
        v = arch.nodes[i]
        if declared_set is not None:
            if v not in declared_set:
                notes.append(f"Spec lint: source {short(v)} is not among the declared inputs "
                             f"{short(list(declared))}: a typo? It is read as an input.")
        elif v not in explicit and not feeds_non_output[i] and hidden:
            close = difflib.get_close_matches(str(v), hidden, n=1, cutoff=0.5)
            if close:
                notes.append(f"Spec lint: source {short(v)} feeds only outputs and is named like the hidden node "
                             f"{short(close[0])}: a typo? It is read as an input (declare it with role: input "
                             "if it is one).")
    if len(notes) > MAX_LINT_NOTES:
        notes = notes[:MAX_LINT_NOTES] + [f"Spec lint: {len(notes) - MAX_LINT_NOTES} more sources as above."]
    return tuple(notes)


@validate_params(path=PATH, arch=ARCH, name=NoneOr(NAME))
def write_spec(path: str | os.PathLike, arch: Architecture, theta: Any = None, *, name: str | None = None) -> None:
    """Write ``arch`` (and optionally weights) as a JSON or YAML spec file.

    Node names are written as they are (they must be strings or integers).  The
    file is replaced atomically: a reader sees the old file or the new one, never a
    partial one, and no temporary file is left behind on failure.

    Examples
    --------
    >>> import os, tempfile, topo
    >>> arch = topo.Architecture.mlp([2, 2, 1])
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.yaml")
    >>> topo.write_spec(path, arch, arch.init(seed=0))
    >>> spec = topo.read_spec(path)
    >>> spec.architecture == arch, bool((spec.theta == arch.init(seed=0)).all())
    (True, True)
    """
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"cannot write spec file {short(str(path))}: it is a folder")
    bad = next((v for v in arch.nodes if isinstance(v, bool) or not isinstance(v, (str, int, np.integer))), None)
    if bad is not None:
        raise SpecError(f"node {short(bad)} ({type(bad).__name__}) cannot be written to a spec file: "
                        "node names must be strings or integers")
    mapping = arch.to_mapping(theta) if theta is not None else None
    plain = {v: int(v) if isinstance(v, np.integer) else v for v in arch.nodes}
    nodes = []
    for v in arch.nodes:
        entry: dict = {"id": plain[v], "role": arch.role(v)}
        if entry["role"] in ("hidden", "output"):
            entry["activation"] = arch.activation(v)
        nodes.append(entry)
    edges = []
    for e, (u, v) in enumerate(arch.edges):
        attrs: dict = {}
        if arch.edge_sizes[e] != 1:
            attrs["size"] = int(arch.edge_sizes[e])
        if not arch.edge_trainable[e]:
            attrs["trainable"] = False
        if mapping is not None:
            w = mapping[(u, v)]
            attrs["weight"] = w if isinstance(w, float) else [float(x) for x in w]
        edges.append([plain[u], plain[v], attrs] if attrs else [plain[u], plain[v]])
    doc = {"version": SPEC_VERSION, "name": name or path.stem, "nodes": nodes, "edges": edges}
    if path.suffix.lower() == ".json":
        text = json.dumps(doc, indent=1)
    else:
        import yaml

        text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
    _replace_text(path, text)


def _replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a uniquely named temporary file in the same
    folder, then rename it into place; the temporary file is removed on any failure."""
    if path.is_dir():
        raise SpecError(f"cannot write spec file {short(str(path))}: it is a folder")
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"  # unique: concurrent writers never share it
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
