"""The audit report as HTML: a self-contained page (``report.html``) and the
fragment Jupyter shows for an [`Audit`][topo.auditing.Audit].

Built from the report dictionary (``docs/report.md``), section by section; every
string from the report is escaped; long lists are grouped and folded into
``<details>`` elements with their counts; figures are embedded as data URIs, so
nothing is loaded from elsewhere.
"""

from __future__ import annotations

import base64
import re
from html import escape

from topo.report.text import free_by_reason, shared_text, symmetry_text

__all__ = ["render_html", "render_html_fragment"]

_STYLE = """
.topo-audit{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1040px;margin:1.5em auto;
  color:#1f2328;line-height:1.45;padding:0 1em}
.topo-audit h1{font-size:1.6em;margin:.2em 0}.topo-audit h2{font-size:1.25em;border-bottom:1px solid #d0d7de;
  padding-bottom:.2em;margin-top:1.6em}
.topo-audit .prov{color:#59636e;margin:.2em 0 1em}
.topo-audit .cards{display:flex;flex-wrap:wrap;gap:.7em;margin:1em 0}
.topo-audit .card{border:1px solid #d0d7de;border-radius:8px;padding:.5em .9em;min-width:9em;background:#f6f8fa}
.topo-audit .card b{display:block;font-size:1.5em}.topo-audit .card span{color:#59636e;font-size:.85em}
.topo-audit .card.key{border-color:#0969da;background:#ddf4ff}
.topo-audit table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
.topo-audit td,.topo-audit th{border:1px solid #d0d7de;padding:3px 9px;text-align:left;vertical-align:top}
.topo-audit th{background:#f6f8fa}.topo-audit td.num{text-align:right;font-variant-numeric:tabular-nums}
.topo-audit code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;background:#f6f8fa;
  padding:0 .25em;border-radius:4px}
.topo-audit details{margin:.4em 0;border:1px solid #d0d7de;border-radius:6px;padding:.3em .7em}
.topo-audit summary{cursor:pointer}
.topo-audit .legend{display:flex;flex-wrap:wrap;gap:1.2em;font-size:.9em;margin:.5em 0}
.topo-audit .sw{display:inline-block;width:.9em;height:.9em;border-radius:50%;vertical-align:-.1em;
  margin-right:.35em;border:1.5px solid}
.topo-audit .ln{display:inline-block;width:1.6em;height:0;vertical-align:.3em;margin-right:.35em;border-top:3px solid}
.topo-audit figure{margin:.8em 0}.topo-audit figure img{max-width:100%;height:auto}
.topo-audit .fig{overflow:auto;max-height:85vh;border:1px solid #d0d7de;border-radius:6px}
.topo-audit figcaption{color:#59636e;font-size:.88em}
.topo-audit .ok{color:#1a7f37}.topo-audit .bad{color:#cf222e}
.topo-audit .verdict{border:1px solid #0969da;border-left-width:5px;border-radius:6px;padding:.2em 1em;
  margin:.6em 0;background:#f6fbff}.topo-audit .verdict h2{border:0;margin:.3em 0}
.topo-audit .verdict li{margin:.25em 0}.topo-audit .glossary{color:#59636e;font-size:.85em}
.topo-audit .layers{overflow-x:auto}.topo-audit table.layers{font-size:.8em}
.topo-audit table.layers td,.topo-audit table.layers th{white-space:nowrap;padding:2px 5px}
"""

_LEGEND = (
    ("sw", "#1f77b4", "#1f77b4", "constrained unit: carries a conserved balance c"),
    ("sw", "#ff7f0e", "#ff7f0e", "bottleneck unit: a single edge in or out"),
    ("sw", "#ffffff", "#737373", "free unit: no conservation law"),
    ("sw", "#595959", "#595959", "input, bias or output"),
    ("ln", None, "#d62728", "frozen edge: its weight never reaches zero on the fiber"),
    ("ln", None, "#b3b3b3", "other edge"),
)


def _n(x) -> str:
    """An integer with thin thousands separators, or a float with 4 significant digits."""
    if isinstance(x, float):
        return f"{x:.4g}"
    return f"{x:,}".replace(",", "\u2009") if isinstance(x, int) else escape(str(x))


def _powers(text: str) -> str:
    """``10^11.5`` and ``2^3`` in escaped text as powers (``10<sup>11.5</sup>``)."""
    return re.sub(r"\b(10|2)\^(\d+(?:\.\d+)?)", r"\1<sup>\2</sup>", text)


def _code_list(names: list, n: int, k: int = 8) -> str:
    shown = ", ".join(f"<code>{escape(str(v))}</code>" for v in names[:k])
    more = n - min(k, len(names))
    return shown + (f", … {more} more" if more > 0 else "")


def _table(header: list, rows: list, num_cols: tuple = ()) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)  # headers are constant HTML
    body = "".join(
        "<tr>" + "".join(f"<td class='num'>{c}</td>" if j in num_cols else f"<td>{c}</td>" for j, c in enumerate(r))
        + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _components(con: dict) -> str:
    k = con["log2_n_components"]
    return f"{_n(con['n_components'])} (= 2<sup>{k}</sup>)" if 0 < k <= 60 else (
        "1" if k == 0 else f"2<sup>{k}</sup>")


def _header(report: dict) -> list[str]:
    net, par = report["network"], report["parameters"]
    return [f"<h1>topo audit: {escape(str(net['name']))}</h1>",
            f"<p class='prov'>{escape(net['source'] or 'n/a')} · parameters: {escape(par['source'] or 'n/a')}"
            f" · topo {escape(str(report.get('topo_version', '')))}</p>"]


def _cards(report: dict) -> list[str]:
    net, dec, con = report["network"], report["decomposition"], report["connectivity"]
    cards = [
        ("key", _components(con), "connected components of the fiber"),
        ("", f"{_n(con['n_frozen_edges'])}", f"frozen edges ({_n(con['n_frozen_scalar_edges'])} scalar)"),
        ("", f"{_n(net['n_constrained'])}", "conserved balances" + (f" ({shared_text(net)})" if shared_text(net) else "")),
        ("", f"{_n(net.get('n_class_members', net['n_constrained']))} / {_n(net['n_hidden'])}",
         "hidden units constrained"),
        ("", f"{_n(dec['n_in_bottlenecks'])} / {_n(dec['n_out_bottlenecks'])}",
         "bottleneck units (one edge in / out)"),
        ("", _n(net["n_params"]), f"parameters on {_n(net['n_edges'])} edges"),
    ]
    if "singular_strata" in report:
        st = report["singular_strata"]
        cards.append(("", _n(len(st["strata"])), "singular strata found (" + escape(st["searched"]) + ")"))
    return ["<div class='cards'>"] + [f"<div class='card {cls}'><b>{v}</b><span>{t}</span></div>"
                                      for cls, v, t in cards] + ["</div>"]


def _network(report: dict) -> list[str]:
    net = report["network"]
    keys = ["n_nodes", "n_edges", "n_params", "n_inputs", "n_biases", "n_outputs", "n_hidden", "n_constrained"]
    out = ["<h2>Network</h2>",
           _table(["nodes", "edges", "parameters", "inputs", "biases", "outputs", "hidden", "constrained"],
                  [[_n(net[k]) for k in keys]], num_cols=tuple(range(len(keys))))]
    if net.get("unsupported_layers"):
        out.append("<p class='bad'>Not analysed (layers topo cannot model; their units are free): "
                   + ", ".join(f"<code>{escape(u['name'])}</code> ({escape(u['type'])})"
                               for u in net["unsupported_layers"]) + "</p>")
    return out + _free_units(net)


def _free_units(net: dict) -> list[str]:
    free = free_by_reason(net)
    if not free:
        return []
    out = [f"<p>{_n(net.get('n_free', len(net['free_nodes'])))} free hidden units (no conservation law: "
           "treated like inputs and outputs), grouped by reason and layer:</p>"]
    for reason, groups in free.items():
        n = sum(g["n"] for g in groups)
        rows = [[f"<code>{escape(g['layer'])}</code>", _n(g["n"]), _code_list(g["nodes"], g["n"], 6)] for g in groups]
        out.append(f"<details><summary><b>{escape(reason)}</b>: {_n(n)} units in {_n(len(groups))} "
                   f"layer{'s' if len(groups) != 1 else ''}</summary>"
                   + _table(["layer", "units", "names"], rows, num_cols=(1,)) + "</details>")
    return out


def _balances(report: dict, figures: dict) -> list[str]:
    bal = report["balances"]
    out = ["<h2>Balances</h2>",
           "<p>The balance of a unit, c = ‖incoming weights‖² − ‖outgoing weights‖², is conserved by gradient "
           "flow; the fiber is the set of parameters with the same balances.</p>"]
    if not bal["n"]:
        return out + ["<p>No constrained unit.</p>"]
    out.append(f"<p>{_n(bal['n'])} balances: min {_n(bal['min'])}, max {_n(bal['max'])}, mean {_n(bal['mean'])}; "
               f"{_n(bal['n_positive'])} positive, {_n(bal['n_negative'])} negative, {_n(bal['n_zero'])} zero "
               f"(|c| ≤ {bal['tol']:.3g}).</p>")
    out += _figure(figures, "balances", "Histogram of the balances; negative ones (red) can freeze the unit's "
                   "single outgoing edge, positive ones its single incoming edge.")
    layers = bal.get("per_layer") or []
    if layers:
        rows = [[f"<code>{escape(p['layer'])}</code>", _n(p["n"]), _n(p["min"]), _n(p["max"]), _n(p["n_negative"])]
                for p in layers]
        table = _table(["layer", "balances", "min c", "max c", "negative"], rows, num_cols=(1, 2, 3, 4))
        out.append(f"<details{' open' if len(layers) <= 12 else ''}><summary>Balances per layer "
                   f"({_n(len(layers))} layer{'' if len(layers) == 1 else 's'})</summary>{table}"
                   + ("<p class='glossary'>A balance shared along a residual stream is counted at the stream's "
                      "first layer.</p>" if report["network"].get("n_shared_streams") else "") + "</details>")
    return out


def _connectivity(report: dict) -> list[str]:
    con = report["connectivity"]
    out = ["<h2>Connectivity</h2>",
           f"<p><b>{_components(con)} connected component{'s' if con['log2_n_components'] else ''}</b>: "
           f"{_n(con['n_frozen_edges'])} frozen edge{'' if con['n_frozen_edges'] == 1 else 's'}, "
           f"{_n(con['n_frozen_scalar_edges'])} of them scalar (each frozen scalar edge keeps its sign and "
           "doubles the number of components).</p>",
           "<p>An edge is frozen when a set S of constrained units has it as its only entering edge with "
           "Σ<sub>S</sub> c &gt; 0 (kind <i>in</i>) or as its only leaving edge with Σ<sub>S</sub> c &lt; 0 "
           "(kind <i>out</i>): its squared norm is at least |Σ<sub>S</sub> c| everywhere on the fiber. "
           "S is the witness.</p>"]
    if "symmetry" in con:
        out.append(f"<p>Up to the symmetries of the network (automorphisms with balance-restoring "
                   f"rescalings): {_powers(escape(symmetry_text(con['symmetry'])))}.</p>")
    listed = con["frozen_edges"]
    if listed:
        with_src = any("source" in w for w in listed)
        rows = []
        for w in listed:
            row = [f"<code>{escape(w['edge'][0])}</code> → <code>{escape(w['edge'][1])}</code>", _n(w["size"]),
                   escape(w["kind"]), _code_list(w["nodes"], len(w["nodes"]), 6) + "".join(
                       f" (<code>{escape(str(v))}</code>: the class {_code_list(m, len(m), 6)})"
                       for v, m in w.get("classes", {}).items()), _n(float(w["sum_c"]))]
            if with_src:
                src = w.get("source")
                row.append(f"<code>{escape(src['module'])}.{escape(src['parameter'])}"
                           f"[{escape(', '.join(src['index']))}]</code>" if src else "")
            rows.append(row)
        header = ["edge", "weights", "kind", "witness S", "Σ<sub>S</sub> c"] + (["model parameter"] if with_src else [])
        table = _table(header, rows, num_cols=(1, 4))
        more = con["n_frozen_edges"] - len(listed)
        tail = f"<p>… {_n(more)} more frozen edges not listed (raise <code>--max-listed</code>, or use " \
               "<code>Audit.frozen_edges()</code>).</p>" if more > 0 else ""
        out.append(f"<details{' open' if len(listed) <= 30 else ''}><summary>Frozen edges with their witnesses "
                   f"({_n(len(listed))} listed)</summary>{table}{tail}</details>")
    factors = con.get("factors") or []
    if len(factors) > 1:
        rows = [[_n(f["n_nodes"]), _n(f["n_frozen_scalar_edges"]), _n(f["n_components"])] for f in factors]
        out.append(f"<details><summary>Independent factors with a frozen edge ({_n(len(factors))}); the "
                   "fiber is their product</summary>"
                   + _table(["units", "frozen scalar edges", "components"], rows, num_cols=(0, 1, 2)) + "</details>")
    return out


def _graph(report: dict, figures: dict) -> list[str]:
    if "dag" not in figures:
        return []
    items = []
    for kind, face, edge, text in _LEGEND:
        style = f"background:{face};border-color:{edge}" if kind == "sw" else f"border-top-color:{edge}"
        items.append(f"<span><span class='{kind}' style='{style}'></span>{escape(text)}</span>")
    net = report["network"]
    collapsed = net["n_nodes"] > 150
    caption = ("One marker per layer and level, labelled with its number of units (bias units omitted); "
               "levels from top to bottom, edges that skip levels drawn as arcs. Zoom the page to enlarge."
               if collapsed else "Levels from left to right; every unit and edge drawn.")
    return ["<h2>Network graph</h2>", "<div class='legend'>" + "".join(items) + "</div>"] + _figure(
        figures, "dag", caption, scroll=True)


def _figure(figures: dict, name: str, caption: str, scroll: bool = False) -> list[str]:
    data = figures.get(name)
    if data is None:
        return []
    mime = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/svg+xml"
    img = f"<img alt='{escape(name)}' src='data:{mime};base64,{base64.b64encode(data).decode('ascii')}'>"
    if scroll:
        img = f"<div class='fig'>{img}</div>"
    return [f"<figure>{img}<figcaption>{escape(caption)}</figcaption></figure>"]


def _strata(report: dict) -> list[str]:
    if "singular_strata" not in report:
        return []
    st = report["singular_strata"]
    out = ["<h2>Singular strata</h2>"]
    if not st["strata"]:
        return out + [f"<p>None among {escape(st['searched'])}: the fiber has no singular point of that kind.</p>"]
    rows = [[_code_list(s["nodes"], len(s["nodes"])), _n(len(s["boundary_edges"])),
             _code_list(list(s.get("parameters") or []), len(s.get("parameters") or []))] for s in st["strata"]]
    note = "" if st["complete"] else " (search stopped at the limit; there may be more)"
    return out + [f"<p>Units that can be cut off on this fiber (pruned sub-networks){escape(note)}:</p>",
                  _table(["units cut off", "boundary edges", "weights pruning them zeroes"], rows, num_cols=(1,))]


def _topology(report: dict) -> list[str]:
    if "topology" not in report:
        return []
    t = report["topology"]
    verdict = ("<span class='ok'>agree</span>" if t["agree"]
               else f"<span class='bad'>{escape(str(t.get('status', 'disagree')))}</span>")
    return ["<h2>Sampled topology</h2>",
            f"<p>{_n(t['n_samples'])} fiber samples ({escape(str(t['coordinates']))} coordinates), Rips "
            f"persistence: β<sub>0</sub> = {_n(t.get('ph_b0') or t['ph_betti'][0])} against the exact {_n(t['theory_b0'])} — "
            f"{verdict}.</p>"]


def _extra_sections(report: dict) -> list[str]:
    """Sections added by newer analyses (rendered generically as key/value tables)."""
    known = {"schema", "schema_version", "topo_version", "network", "parameters", "balances", "decomposition",
             "connectivity", "notes", "topology", "singular_strata", "layers", "history"}
    out = []
    for key, value in report.items():
        if key in known or not isinstance(value, dict):
            continue
        rows = [[escape(str(k)), escape(str(v))] for k, v in value.items() if not isinstance(v, (list, dict))]
        if rows:
            out += [f"<h2>{escape(key.replace('_', ' ').capitalize())}</h2>", _table(["", ""], rows)]
    return out


def _notes(report: dict) -> list[str]:
    if not report["notes"]:
        return []
    return ["<h2>Notes</h2><ul>"] + [f"<li>{escape(n)}</li>" for n in report["notes"]] + ["</ul>"]


def render_html_fragment(report: dict, figures: dict | None = None) -> str:
    """The report as one ``<div class="topo-audit">`` with its own (scoped) styles:
    the body of [`render_html`][topo.report.html.render_html] and what Jupyter shows for an
    [`Audit`][topo.auditing.Audit].

    ``figures`` is ``{name: SVG or PNG bytes}`` (see [`topo.plots.report_figures`][topo.report.plots.report_figures]).

    Examples
    --------
    >>> import topo
    >>> from topo.report import render_html_fragment
    >>> html = render_html_fragment(topo.audit("theory-chain").report)
    >>> html.startswith("<div class='topo-audit'>") and "connected components" in html
    True
    """
    figures = figures or {}
    graph = _graph(report, figures)
    big = report["network"]["n_nodes"] > 150  # a long collapsed drawing goes after the tables
    from topo.report.history import history_html
    from topo.report.verdict import layers_html, verdict_html

    parts = (_header(report) + [verdict_html(report)] + _cards(report) + [layers_html(report)]
             + _connectivity(report) + ([] if big else graph)
             + _balances(report, figures) + _network(report) + (graph if big else []) + _strata(report)
             + _topology(report) + history_html(report, figures) + _extra_sections(report) + _notes(report))
    return f"<div class='topo-audit'><style>{_STYLE}</style>{''.join(parts)}</div>"


def render_html(report: dict, figures: dict | None = None) -> str:
    """A self-contained HTML page: the report and its figures, nothing loaded from elsewhere."""
    title = escape(str(report["network"]["name"]))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>topo audit: {title}</title>"
            f"</head><body>{render_html_fragment(report, figures)}</body></html>")
