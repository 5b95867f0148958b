"""Audit reports: one dictionary (the JSON schema of ``docs/report.md``) and its
renderings as a terminal summary and as Markdown.

Only this module knows output formats; the analyses return result objects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .architecture import Architecture
from .balance import balance, edge_norms
from .connectivity import _default_tol, connectivity, count_repr
from .decompose import decompose

__all__ = ["SCHEMA_VERSION", "audit", "render_text", "render_markdown", "render_html", "write_report"]

SCHEMA_VERSION = 1
_MAX_LISTED = 200


def audit(
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
) -> dict:
    """Run the structural analyses on ``(arch, theta)`` and collect them in a dict.

    Parameters
    ----------
    arch, theta
        The network and a parameter point; the fiber audited is the one through
        ``theta`` (balances ``c = balance(arch, theta)``).
    name, source, parameters : str
        Free-text provenance written into the report.
    max_listed : int
        At most this many frozen edges (with witnesses) and balances are listed;
        counts are always complete.
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

    Examples
    --------
    >>> import topo
    >>> from topo.report import audit
    >>> arch = topo.Architecture.mlp([2, 3, 1])
    >>> rep = audit(arch, arch.init(seed=0))
    >>> rep["schema_version"], rep["network"]["n_constrained"]
    (1, 3)
    """
    from . import __version__

    vec = arch.as_vector(theta)
    q = edge_norms(arch, vec)
    c = balance(arch, vec)
    tol = _default_tol(c, float(np.max(q, initial=0.0)))
    conn = connectivity(arch, c, tol=tol)
    dec = decompose(arch)
    names = arch.constrained
    sizes = arch.edge_sizes
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
    acts = {arch.activation(v) for v in names}
    if "linear" in acts or "identity" in acts:
        notes.append(
            "Linear (identity) nodes have further, matrix-valued conserved quantities: the fiber analysed "
            "here is a superset of what gradient flow can reach."
        )
    if np.any(sizes > 1):
        notes.append(
            "Group edges (size > 1) never disconnect the fiber when frozen: their direction moves on a "
            "sphere; only frozen scalar edges double the number of components."
        )
    topology = None
    if sample > 0:
        from .verification import verify_topology

        topology = verify_topology(arch, c, n_samples=sample, seed=seed, coordinates="bottleneck").to_dict()
        if not topology["agree"]:
            notes.append(
                "The persistent-homology estimate of the number of components differs from the exact count: "
                "the sample is too sparse to resolve the gap between components (increase --sample)."
            )
    strata = None
    if max_strata > 0 and len(c):
        from .singular import singular_strata

        found = singular_strata(arch, c, tol=tol, max_size=1, limit=max_strata)
        strata = {
            "searched": "clusters of one unit",
            "complete": found.complete,
            "strata": [s.to_dict() for s in found],
        }
    order = np.argsort(-np.abs(c)) if len(c) else np.zeros(0, dtype=np.int64)
    listed = order[:max_listed]
    return {
        "schema": "topo-audit",
        "schema_version": SCHEMA_VERSION,
        "topo_version": __version__,
        "network": {
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
            "free_nodes": [{"node": str(v), "reason": r} for v, r in arch.free_reasons.items()][:max_listed],
            "n_free": len(arch.free),
            "unsupported_layers": [{"type": t, "name": q} for t, q in (unsupported or [])],
        },
        "parameters": {
            "source": parameters,
            "norm": float(np.linalg.norm(vec)),
        },
        "balances": {
            "n": len(c),
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
        },
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
        },
        "notes": notes,
    } | ({"topology": topology} if topology is not None else {}) | (
        {"singular_strata": strata} if strata is not None else {})


def _histogram(c: np.ndarray, bins: int = 30) -> dict:
    if not len(c):
        return {"counts": [], "edges": []}
    counts, edges = np.histogram(c, bins=bins)
    return {"counts": counts.tolist(), "edges": edges.tolist()}


def _per_layer(names: list, c: np.ndarray, tol: float) -> list[dict]:
    """Balances grouped by layer: the unit name without its trailing index."""
    import re

    groups: dict[str, list[int]] = {}
    for r, v in enumerate(names):
        groups.setdefault(re.sub(r"[._]?\d+$", "", str(v)) or str(v), []).append(r)
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
    return con


def _components_text(con: dict) -> str:
    k = con["log2_n_components"]
    return f"{con['n_components']} (= 2^{k})" if k <= 60 else f"2^{k}"


def render_text(report: dict) -> str:
    """A readable terminal summary of an audit dict."""
    net, bal, dec, con = report["network"], report["balances"], report["decomposition"], report["connectivity"]
    lines = [
        f"topo audit: {net['name']}",
        f"  source       {net['source']}; parameters: {report['parameters']['source']}",
        f"  network      {net['n_nodes']} nodes, {net['n_edges']} edges, {net['n_params']} parameters; "
        f"{net['n_inputs']} input(s), {net['n_biases']} bias(es), {net['n_outputs']} output(s)",
        f"  constrained  {net['n_constrained']} of {net['n_hidden']} hidden nodes carry a conserved balance",
    ]
    if net["free_nodes"]:
        shown = ", ".join(f"{f['node']} ({f['reason']})" for f in net["free_nodes"][:5])
        more = net.get("n_free", len(net["free_nodes"])) - 5
        lines.append(f"  free         {shown}" + (f", ... {more} more" if more > 0 else ""))
    if bal["n"]:
        lines.append(
            f"  balances     min {bal['min']:.4g}, max {bal['max']:.4g}; "
            f"{bal['n_positive']} positive, {bal['n_negative']} negative, {bal['n_zero']} zero"
        )
    lines.append(
        f"  bottlenecks  {dec['n_in_bottlenecks']} in (single incoming edge), "
        f"{dec['n_out_bottlenecks']} out (single outgoing edge); {dec['n_factors']} independent factor(s)"
    )
    lines.append(f"  frozen edges {con['n_frozen_edges']} ({con['n_frozen_scalar_edges']} scalar)")
    for w in con["frozen_edges"][:10]:
        nodes = w["nodes"]
        shown = ", ".join(nodes[:6]) + (f", ... ({len(nodes)} nodes)" if len(nodes) > 6 else "")
        rel = "only edge into" if w["kind"] == "in" else "only edge out of"
        where = ""
        if "source" in w:
            src = w["source"]
            where = f" [{src['module']}.{src['parameter']}[{', '.join(src['index'])}]]"
        lines.append(f"    {w['edge'][0]} -> {w['edge'][1]}{where}: {rel} S = {{{shown}}}, sum c = {w['sum_c']:.4g}")
    if con["n_frozen_edges"] > 10:
        lines.append(f"    ... {con['n_frozen_edges'] - 10} more in the report")
    lines.append(f"  components   {_components_text(con)} connected component(s) of the fiber")
    if "topology" in report:
        t = report["topology"]
        lines.append(
            f"  sampled      {t['n_samples']} points ({t['coordinates']} coordinates): persistent "
            f"β0 = {t['ph_betti'][0]} vs exact {t['theory_b0']} ({'agree' if t['agree'] else 'DISAGREE'})"
        )
    for note in report["notes"]:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    """The audit dict as a Markdown page."""
    net, bal, dec, con = report["network"], report["balances"], report["decomposition"], report["connectivity"]
    out = [
        f"# topo audit: {net['name']}",
        "",
        f"Source: {net['source'] or 'n/a'}. Parameters: {report['parameters']['source'] or 'n/a'}.",
        "",
        "## Network",
        "",
        "| nodes | edges | parameters | inputs | biases | outputs | hidden | constrained |",
        "|---|---|---|---|---|---|---|---|",
        f"| {net['n_nodes']} | {net['n_edges']} | {net['n_params']} | {net['n_inputs']} | {net['n_biases']} "
        f"| {net['n_outputs']} | {net['n_hidden']} | {net['n_constrained']} |",
        "",
    ]
    if net["free_nodes"]:
        out += ["Free hidden nodes (no conservation law):", ""]
        out += [f"- `{f['node']}`: {f['reason']}" for f in net["free_nodes"][:_MAX_LISTED]]
        out.append("")
    out += ["## Balances", ""]
    if bal["n"]:
        out += [
            f"min {bal['min']:.6g}, max {bal['max']:.6g}, mean {bal['mean']:.6g}; "
            f"{bal['n_positive']} positive, {bal['n_negative']} negative, {bal['n_zero']} zero (tol {bal['tol']:.3g}).",
            "",
        ]
    else:
        out += ["No constrained node.", ""]
    if bal.get("per_layer"):
        out += ["| layer | units | min c | max c | negative |", "|---|---|---|---|---|"]
        out += [f"| {p['layer']} | {p['n']} | {p['min']:.4g} | {p['max']:.4g} | {p['n_negative']} |"
                for p in bal["per_layer"][:_MAX_LISTED]]
        out.append("")
    out += [
        "## Bottlenecks",
        "",
        f"{dec['n_in_bottlenecks']} in-bottlenecks, {dec['n_out_bottlenecks']} out-bottlenecks, "
        f"{dec['n_factors']} independent factors.",
        "",
        "## Connectivity",
        "",
        f"**{_components_text(con)} connected components**; "
        f"{con['n_frozen_edges']} frozen edges ({con['n_frozen_scalar_edges']} scalar).",
        "",
    ]
    if con["frozen_edges"]:
        out += ["| edge | size | kind | witness S | sum of c over S |", "|---|---|---|---|---|"]
        for w in con["frozen_edges"]:
            nodes = w["nodes"]
            shown = ", ".join(nodes[:8]) + (f", ... ({len(nodes)})" if len(nodes) > 8 else "")
            out.append(f"| {w['edge'][0]} -> {w['edge'][1]} | {w['size']} | {w['kind']} | {shown} | {w['sum_c']:.6g} |")
        out.append("")
    if "singular_strata" in report:
        st = report["singular_strata"]
        out += ["## Singular strata", ""]
        if st["strata"]:
            out += [f"- cut off `{', '.join(s['nodes'])}` (boundary: {len(s['boundary_edges'])} edges)"
                    for s in st["strata"]]
        else:
            out += [f"None among {st['searched']}: the fiber has no singular point of that kind."]
        out.append("")
    if "topology" in report:
        t = report["topology"]
        out += [
            "## Sampled topology",
            "",
            f"{t['n_samples']} fiber samples ({t['coordinates']} coordinates), Rips persistence: "
            f"β0 = {t['ph_betti'][0]} against the exact {t['theory_b0']} — {'agree' if t['agree'] else 'disagree'}.",
            "",
        ]
    if report["notes"]:
        out += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    return "\n".join(out)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def render_html(report: dict, figures: dict | None = None) -> str:
    """A self-contained HTML page: the Markdown content plus embedded PNG figures."""
    import base64
    import html

    md = render_markdown(report)
    body = []
    in_table = False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [html.escape(x.strip()) for x in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                body.append("<table>")
                in_table = True
                body.append("<tr>" + "".join(f"<th>{x}</th>" for x in cells) + "</tr>")
            else:
                body.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("- "):
            body.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.strip():
            body.append(f"<p>{html.escape(line).replace('**', '')}</p>")
    if in_table:
        body.append("</table>")
    for name, png in (figures or {}).items():
        b64 = base64.b64encode(png).decode("ascii")
        body.append(f'<h2>Figure: {html.escape(name)}</h2><img alt="{html.escape(name)}" '
                    f'src="data:image/png;base64,{b64}">')
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px}"
             "img{max-width:100%}")
    title = html.escape(report["network"]["name"])
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>topo audit: {title}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")


def write_report(report: dict, out_dir: str | os.PathLike, *, formats: tuple[str, ...] = ("json", "md"),
                 figures: dict | None = None) -> list[Path]:
    """Write ``report.json`` / ``report.md`` / ``report.html`` into ``out_dir`` (atomically).

    ``figures`` (``{name: png bytes}``, see :func:`topo.plots.report_figures`) are
    embedded in the HTML page.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        if fmt == "json":
            path = out / "report.json"
            _atomic_write(path, json.dumps(report, indent=2) + "\n")
        elif fmt == "md":
            path = out / "report.md"
            _atomic_write(path, render_markdown(report) + "\n")
        elif fmt == "html":
            path = out / "report.html"
            _atomic_write(path, render_html(report, figures) + "\n")
        else:
            raise ValueError(f"unknown report format {fmt!r}; expected 'json', 'md' or 'html'")
        written.append(path)
    return written
