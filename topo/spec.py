"""Spec files: a network (and optionally its weights) as JSON or YAML.

The format is documented in ``docs/spec.md``.  Short form::

    {"version": 1,
     "edges": [["x", "h"], ["h", "y", {"size": 4}]],
     "nodes": [{"id": "h", "activation": "relu"}]}

or ``{"mlp": {"widths": [2, 8, 1], "bias": true}}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .architecture import Architecture
from .errors import SpecError, TopoError

__all__ = ["Spec", "read_spec", "parse_spec", "write_spec", "SPEC_VERSION"]

SPEC_VERSION = 1
_TOP_KEYS = {"format", "version", "name", "description", "activation", "output_activation",
             "nodes", "edges", "mlp", "weights"}


@dataclass(frozen=True)
class Spec:
    """What a spec file holds: the architecture, its weights (or None) and a name."""

    architecture: Architecture
    theta: np.ndarray | None
    name: str
    description: str = ""


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec file {str(path)!r}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None


def read_spec(path: str | os.PathLike) -> Spec:
    """Read a JSON (``.json``) or YAML (any other suffix) spec file.

    Raises :class:`~topo.errors.SpecError` naming the file and the problem.

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
        raise SpecError(f"{path}: {exc}") from None


def parse_spec(data: Any, *, name: str = "network") -> Spec:
    """Build a :class:`Spec` from an already parsed JSON/YAML document."""
    if not isinstance(data, Mapping):
        raise SpecError(f"a spec must be a mapping at top level, got {type(data).__name__}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise SpecError(f"unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    version = data.get("version", SPEC_VERSION)
    if version != SPEC_VERSION:
        raise SpecError(f"unsupported spec version {version!r} (this topo reads version {SPEC_VERSION})")
    name = str(data.get("name", name))
    description = str(data.get("description", ""))
    defaults = {
        "activation": data.get("activation", "relu"),
        "output_activation": data.get("output_activation", "linear"),
    }
    try:
        if "mlp" in data:
            if "edges" in data or "nodes" in data:
                raise SpecError("give either 'mlp' or 'nodes'/'edges', not both")
            mlp = data["mlp"]
            if isinstance(mlp, list):
                mlp = {"widths": mlp}
            if not isinstance(mlp, Mapping) or "widths" not in mlp:
                raise SpecError("'mlp' must be a list of widths or a mapping with 'widths'")
            arch = Architecture.mlp(mlp["widths"], bias=bool(mlp.get("bias", True)), **defaults)
            weights = None
        else:
            arch, weights = _graph_spec(data, defaults)
        theta = None
        if "weights" in data:
            if weights is not None:
                raise SpecError("weights are given both on edges and in 'weights'")
            w = data["weights"]
            theta = arch.as_vector(w if not isinstance(w, Mapping) else _pairs(w), name="weights")
        elif weights is not None:
            theta = arch.as_vector(weights, name="weights")
    except SpecError:
        raise
    except TopoError as exc:
        raise SpecError(str(exc)) from None
    return Spec(architecture=arch, theta=theta, name=name, description=description)


def _pairs(w: Mapping) -> dict:
    out = {}
    for key, value in w.items():
        if isinstance(key, str) and "->" in key:
            u, v = (s.strip() for s in key.split("->", 1))
            out[(u, v)] = value
        else:
            raise SpecError(f"'weights' keys must look like 'u -> v', got {key!r}")
    return out


def _graph_spec(data: Mapping, defaults: dict) -> tuple[Architecture, dict | None]:
    if "edges" not in data:
        raise SpecError("a spec needs 'edges' (or 'mlp')")
    nodes, roles, acts = None, {}, {}
    if "nodes" in data:
        if not isinstance(data["nodes"], list):
            raise SpecError("'nodes' must be a list")
        nodes = []
        for item in data["nodes"]:
            if isinstance(item, Mapping):
                if "id" not in item:
                    raise SpecError(f"node entry {dict(item)!r} has no 'id'")
                unknown = set(item) - {"id", "role", "activation"}
                if unknown:
                    raise SpecError(f"unknown key(s) {sorted(unknown)} on node {item['id']!r}")
                nid = item["id"]
                if "role" in item:
                    roles[nid] = item["role"]
                if "activation" in item:
                    acts[nid] = item["activation"]
            else:
                nid = item
            nodes.append(nid)
    edges, weights = [], {}
    if not isinstance(data["edges"], list):
        raise SpecError("'edges' must be a list")
    for item in data["edges"]:
        if isinstance(item, Mapping):
            if "source" not in item or "target" not in item:
                raise SpecError(f"edge entry {dict(item)!r} needs 'source' and 'target'")
            u, v = item["source"], item["target"]
            attrs = {k: item[k] for k in item if k not in ("source", "target")}
        elif isinstance(item, list) and len(item) in (2, 3):
            u, v = item[0], item[1]
            attrs = dict(item[2]) if len(item) == 3 else {}
        else:
            raise SpecError(f"an edge must be [u, v], [u, v, {{attrs}}] or {{source, target, ...}}, got {item!r}")
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
        raise SpecError(f"some edges have a 'weight' and others do not, e.g. {missing}")
    arch = Architecture.from_edges(edges, nodes=nodes, roles=roles or None, activations=acts or None, **defaults)
    return arch, (weights or None)


def write_spec(path: str | os.PathLike, arch: Architecture, theta: Any = None, *, name: str | None = None) -> None:
    """Write ``arch`` (and optionally weights) as a JSON or YAML spec file.

    Node names are written as they are (they must be JSON/YAML scalars).

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
    mapping = arch.to_mapping(theta) if theta is not None else None
    nodes = []
    for v in arch.nodes:
        entry: dict = {"id": v, "role": arch.role(v)}
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
        edges.append([u, v, attrs] if attrs else [u, v])
    doc = {"version": SPEC_VERSION, "name": name or path.stem, "nodes": nodes, "edges": edges}
    if path.suffix.lower() == ".json":
        text = json.dumps(doc, indent=1)
    else:
        import yaml

        text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
