"""Renderings of an audit report (the dictionary of ``docs/report.md``, built by
:func:`topo.audit`): a terminal summary, a Markdown page, a self-contained HTML page,
and the files of a report folder.

Only this module knows output formats; the analyses return result objects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .auditing import _MAX_LISTED, SCHEMA_VERSION
from .report_html import render_html, render_html_fragment

__all__ = ["SCHEMA_VERSION", "render_text", "render_markdown", "render_html", "render_html_fragment",
           "write_report"]


def __getattr__(name: str):
    """``topo.report.audit``: the report dictionary, kept for code written before
    :func:`topo.audit` existed (it is :func:`topo.auditing.audit_report`)."""
    if name == "audit":
        from .auditing import audit_report

        return audit_report
    raise AttributeError(f"module 'topo.report' has no attribute {name!r}")


def _free_by_reason(net: dict) -> dict:
    """``{reason: [{layer, n, nodes}, ...]}``: the free units grouped by reason, then layer."""
    groups = net.get("free_groups")
    if groups is None:  # a report written before free_groups existed
        from .auditing import layer_key

        acc: dict = {}
        for f in net["free_nodes"]:
            acc.setdefault((f["reason"], layer_key(f["node"])), []).append(f["node"])
        groups = [{"reason": r, "layer": layer, "n": len(v), "nodes": v} for (r, layer), v in acc.items()]
    out: dict = {}
    for g in groups:
        out.setdefault(g["reason"], []).append(g)
    return out


def _names_text(names: list, n: int, k: int) -> str:
    """The first ``k`` names, then "… N more" (``n`` is the full count)."""
    shown = ", ".join(str(x) for x in names[:k])
    return shown + (f", … {n - min(k, len(names))} more" if n > min(k, len(names)) else "")


def _components_text(con: dict) -> str:
    k = con["log2_n_components"]
    return f"{con['n_components']} (= 2^{k})" if k <= 60 else f"2^{k}"


def _symmetry_text(sym: dict) -> str:
    """``"4 components, 3 up to symmetry (group of order 2)"`` or why it was not computed."""
    text = sym["summary"]
    group = sym.get("group")
    if group and group["order"] == "1":
        text += " (no symmetry)"
    elif group:
        order = group["order"] if group["order"] is not None else f"10^{group['log10_order']:.1f}"
        text += f" (automorphism group of order {order}, {group['n_generators']} generator(s))"
    if sym.get("reason"):
        text += f"; {sym['reason']}"
    return text


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
    for reason, groups in _free_by_reason(net).items():
        n = sum(g["n"] for g in groups)
        layers = ", ".join(f"{g['layer']} ({g['n']})" for g in groups[:4])
        more = f", … {len(groups) - 4} more layers" if len(groups) > 4 else ""
        lines.append(f"  free         {n} unit(s): {reason}; in {layers}{more}")
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
    shown_edges = con["frozen_edges"][:10]
    for w in shown_edges:
        nodes = w["nodes"]
        shown = ", ".join(nodes[:6]) + (f", … {len(nodes) - 6} more" if len(nodes) > 6 else "")
        rel = "only edge into" if w["kind"] == "in" else "only edge out of"
        where = ""
        if "source" in w:
            src = w["source"]
            where = f" [{src['module']}.{src['parameter']}[{', '.join(src['index'])}]]"
        lines.append(f"    {w['edge'][0]} -> {w['edge'][1]}{where}: {rel} S = {{{shown}}}, sum c = {w['sum_c']:.4g}")
    if con["n_frozen_edges"] > len(shown_edges):
        more = con["n_frozen_edges"] - len(shown_edges)
        where = "in the report" if len(con["frozen_edges"]) > len(shown_edges) else "(raise --max-listed)"
        lines.append(f"    … {more} more {where}")
    lines.append(f"  components   {_components_text(con)} connected component(s) of the fiber")
    if "symmetry" in con:
        lines.append(f"  symmetry     {_symmetry_text(con['symmetry'])}")
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
    free = _free_by_reason(net)
    if free:
        out += [f"Free hidden nodes (no conservation law): {net.get('n_free', len(net['free_nodes']))}.", ""]
        for reason, groups in free.items():
            out.append(f"- {reason}: {sum(g['n'] for g in groups)} unit(s)")
            out += [f"    - layer `{g['layer']}`: {g['n']} ({_names_text(g['nodes'], g['n'], 6)})" for g in groups]
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
    ] + ([f"Up to the symmetries of the network: {_symmetry_text(con['symmetry'])}.", ""]
         if "symmetry" in con else [])
    if con["frozen_edges"]:
        out += ["| edge | size | kind | witness S | sum of c over S |", "|---|---|---|---|---|"]
        for w in con["frozen_edges"]:
            nodes = w["nodes"]
            shown = _names_text(nodes, len(nodes), 8)
            out.append(f"| {w['edge'][0]} -> {w['edge'][1]} | {w['size']} | {w['kind']} | {shown} | {w['sum_c']:.6g} |")
        if con["n_frozen_edges"] > len(con["frozen_edges"]):
            out.append(f"\n… {con['n_frozen_edges'] - len(con['frozen_edges'])} more frozen edges (raise --max-listed)")
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
