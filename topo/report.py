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

__all__ = ["SCHEMA_VERSION", "render_text", "render_markdown", "render_html", "render_html_fragment",
           "write_report"]


def __getattr__(name: str):
    """``topo.report.audit``: the report dictionary, kept for code written before
    :func:`topo.audit` existed (it is :func:`topo.auditing.audit_report`)."""
    if name == "audit":
        from .auditing import audit_report

        return audit_report
    raise AttributeError(f"module 'topo.report' has no attribute {name!r}")


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


def render_html_fragment(report: dict, figures: dict | None = None) -> str:
    """The report as an HTML ``<div>`` (styles scoped to it): the body of
    :func:`render_html`, and what Jupyter shows for an :class:`~topo.Audit`."""
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
    style = (".topo-audit{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
             ".topo-audit table{border-collapse:collapse;margin:1em 0}"
             ".topo-audit td,.topo-audit th{border:1px solid #ccc;padding:3px 8px}.topo-audit img{max-width:100%}")
    return f"<div class='topo-audit'><style>{style}</style>{''.join(body)}</div>"


def render_html(report: dict, figures: dict | None = None) -> str:
    """A self-contained HTML page: the report plus its figures, nothing loaded from elsewhere."""
    import html

    title = html.escape(report["network"]["name"])
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>topo audit: {title}</title>"
            f"</head><body>{render_html_fragment(report, figures)}</body></html>")


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
