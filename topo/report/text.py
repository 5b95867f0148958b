"""Text renderings of an audit report (the dictionary of ``docs/report.md``, built by
[`topo.audit`][topo.auditing.audit]): the terminal summary and the Markdown page, with the escaping
that keeps user text (node, module and network names) inert in both.
"""

from __future__ import annotations

import re
from typing import Any

from topo.report.schema import MAX_LISTED, layer_key
from topo.utils.text import one_line
from topo.utils.validation import BOOLEAN, validate_params

__all__ = ["render_text", "render_markdown", "markdown_escape", "markdown_code", "terminal_escape",
           "free_by_reason", "symmetry_text", "group_order_text"]


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$&])")


def markdown_escape(text: Any) -> str:
    r"""User text (a node, module or network name) as inert Markdown: on one line, with
    control characters shown as escapes and every Markdown/HTML metacharacter
    backslash-escaped (no heading, link, table cell, tag or math can be injected).

    Examples
    --------
    >>> print(markdown_escape("[x](javascript:alert(1)) | <b>"))
    \[x\](javascript:alert(1)) \| \<b\>
    >>> print(markdown_escape("a\n# b"))
    a\\n\# b
    """
    return _MD_SPECIAL.sub(r"\\\1", one_line(str(text)))


@validate_params(in_table=BOOLEAN)
def markdown_code(text: Any, *, in_table: bool = False) -> str:
    r"""User text (a node name) as a Markdown code span: nothing inside is interpreted;
    the fence is longer than any run of backticks in the text, and ``|`` is escaped in
    table cells.

    Examples
    --------
    >>> print(markdown_code("h1_0"), markdown_code("a`b"), markdown_code("x|<y>", in_table=True))
    `h1_0` ``a`b`` `x\|<y>`
    """
    s = one_line(str(text))
    if in_table:
        s = s.replace("|", "\\|")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def terminal_escape(text: Any) -> str:
    r"""User text for the terminal: one line, control characters (ANSI escapes,
    carriage returns, newlines) shown as ``\xNN`` instead of being interpreted.

    Examples
    --------
    >>> print(terminal_escape("red\x1b[31m"))
    red\x1b[31m
    """
    return one_line(str(text))


_t, _m = terminal_escape, markdown_escape


def _c(text: Any) -> str:
    return markdown_code(text, in_table=True)


def free_by_reason(net: dict) -> dict:
    """``{reason: [{layer, n, nodes}, ...]}``: the free units of a report's ``network``
    section grouped by reason, then layer."""
    groups = net.get("free_groups")
    if groups is None:  # a report written before free_groups existed
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
    shown = ", ".join(markdown_code(x) for x in names[:k])
    return shown + (f", … {n - min(k, len(names))} more" if n > min(k, len(names)) else "")


def _components_text(con: dict) -> str:
    k = con["log2_n_components"]
    return f"{con['n_components']} (= 2^{k})" if k <= 60 else f"2^{k}"


#: Group orders below this are written out; from it on as a power of ten.
EXACT_BELOW = 10**6


def group_order_text(order: Any, log10_order: float) -> str:
    """The one format of a group order in every rendering: the integer below 10^6
    (``"720"``), else ``"≈ 10^9.2"`` (the exact order may have thousands of digits).

    Examples
    --------
    >>> group_order_text("720", 2.857), group_order_text("1625702400", 9.211), group_order_text(None, 26.6)
    ('720', '≈ 10^9.2', '≈ 10^26.6')
    """
    if order is not None and int(order) < EXACT_BELOW:
        return str(int(order))
    return f"≈ 10^{log10_order:.1f}"


def symmetry_text(sym: dict) -> str:
    """``"4 components, 3 up to symmetry (group of order 2)"`` or why it was not computed."""
    text = sym["summary"]
    group = sym.get("group")
    if group and group["order"] == "1":
        text += " (no symmetry)"
    elif group:
        order = group_order_text(group["order"], group["log10_order"])
        text += f" (automorphism group of order {order}, {group['n_generators']} generator(s))"
    if sym.get("reason"):
        text += f"; {sym['reason']}"
    return text


def shared_text(net: dict) -> str:
    """"960 shared along residual streams" (or "... by units joined by fixed edges"), "" if none."""
    n, streams = net.get("n_shared", 0), net.get("n_shared_streams", 0)
    if not n:
        return ""
    if streams == n:
        return f"{n} shared along residual streams"
    if streams:
        return f"{n} shared by units joined by fixed edges ({streams} along residual streams)"
    return f"{n} shared by units joined by fixed edges"


def _balances_line(net: dict) -> str:
    """"2880 conserved balances on 6720 hidden nodes; 960 shared along residual streams"."""
    members = net.get("n_class_members", net["n_constrained"])
    line = f"{net['n_constrained']} conserved balances ({members} of {net['n_hidden']} hidden nodes constrained)"
    shared = shared_text(net)
    return f"{line}; {shared}" if shared else line


@validate_params(layers=BOOLEAN)
def render_text(report: dict, *, layers: bool = False) -> str:
    """A readable terminal summary of an audit dict: the verdict in plain words and a
    glossary line first, then the detail; ``layers=True`` appends the per-layer table."""
    from topo.report.verdict import layers_text, verdict_text

    net, bal, dec, con = report["network"], report["balances"], report["decomposition"], report["connectivity"]
    lines = [f"topo audit: {_t(net['name'])}"] + verdict_text(report, _t) + [
        "  details",
        f"  source       {_t(net['source'])}; parameters: {_t(report['parameters']['source'])}",
        f"  network      {net['n_nodes']} nodes, {net['n_edges']} edges, {net['n_params']} parameters; "
        f"{net['n_inputs']} input(s), {net['n_biases']} bias(es), {net['n_outputs']} output(s)",
        f"  constrained  {_balances_line(net)}",
    ]
    for reason, groups in free_by_reason(net).items():
        n = sum(g["n"] for g in groups)
        layers = ", ".join(f"{_t(g['layer'])} ({g['n']})" for g in groups[:4])
        more = f", … {len(groups) - 4} more layers" if len(groups) > 4 else ""
        lines.append(f"  free         {n} unit(s): {_t(reason)}; in {layers}{more}")
    if bal["n"]:
        unit = f" (in units of 2^{bal['unit_log2']})" if bal.get("unit_log2") else ""
        lines.append(
            f"  balances{unit}     min {bal['min']:.4g}, max {bal['max']:.4g}; "
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
        shown = ", ".join(map(_t, nodes[:6])) + (f", … {len(nodes) - 6} more" if len(nodes) > 6 else "")
        rel = "only edge into" if w["kind"] == "in" else "only edge out of"
        where = ""
        if "source" in w:
            src = w["source"]
            where = _t(f" [{src['module']}.{src['parameter']}[{', '.join(map(str, src['index']))}]]")
        classes = "".join(f"; {_t(v)} stands for its class {{{', '.join(map(_t, m[:6]))}"
                          f"{', …' if len(m) > 6 else ''}}}" for v, m in w.get("classes", {}).items())
        lines.append(f"    {_t(w['edge'][0])} -> {_t(w['edge'][1])}{where}: {rel} S = {{{shown}}}, "
                     f"sum c = {w['sum_c']:.4g}{classes}")
    if con["n_frozen_edges"] > len(shown_edges):
        more = con["n_frozen_edges"] - len(shown_edges)
        where = "in the report" if len(con["frozen_edges"]) > len(shown_edges) else "(raise --max-listed)"
        lines.append(f"    … {more} more {where}")
    lines.append(f"  components   {_components_text(con)} connected component(s) of the fiber")
    if "symmetry" in con:
        lines.append(f"  symmetry     {symmetry_text(con['symmetry'])}")
    if "topology" in report:
        t = report["topology"]
        lines.append(
            f"  sampled      {t['n_samples']} points ({t['coordinates']} coordinates): persistent "
            f"β0 = {t.get('ph_b0', t['ph_betti'][0])} vs exact {t['theory_b0']} "
            f"({'agree' if t['agree'] else t.get('status', 'disagree').upper()})"
        )
    for note in report["notes"]:
        lines.append(f"  note: {_t(note)}")
    if layers:
        lines += layers_text(report, _t)
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    """The audit dict as a Markdown page: the verdict first, then the per-layer table and the detail
    (one function per section, in `_MARKDOWN_SECTIONS`)."""
    return "\n".join(line for section in _MARKDOWN_SECTIONS for line in section(report))


def _md_head(report: dict) -> list[str]:
    from topo.report.verdict import layers_markdown, verdict_markdown

    net = report["network"]
    return [
        f"# topo audit: {_m(net['name'])}",
        "",
        f"Source: {_m(net['source'] or 'n/a')}. Parameters: {_m(report['parameters']['source'] or 'n/a')}.",
        "",
        *verdict_markdown(report, markdown_code, _m),
        *layers_markdown(report, _m, _c),
    ]


def _md_network(report: dict) -> list[str]:
    net = report["network"]
    out = [
        "## Network",
        "",
        "| nodes | edges | parameters | inputs | biases | outputs | hidden | constrained |",
        "|---|---|---|---|---|---|---|---|",
        f"| {net['n_nodes']} | {net['n_edges']} | {net['n_params']} | {net['n_inputs']} | {net['n_biases']} "
        f"| {net['n_outputs']} | {net['n_hidden']} | {net['n_constrained']} |",
        "",
    ]
    free = free_by_reason(net)
    if free:
        out += [f"Free hidden nodes (no conservation law): {net.get('n_free', len(net['free_nodes']))}.", ""]
        for reason, groups in free.items():
            out.append(f"- {_m(reason)}: {sum(g['n'] for g in groups)} unit(s)")
            out += [f"    - layer {markdown_code(g['layer'])}: {g['n']} ({_names_text(g['nodes'], g['n'], 6)})"
                    for g in groups]
        out.append("")
    return out


def _md_balances(report: dict) -> list[str]:
    bal = report["balances"]
    out = ["## Balances", ""]
    if bal.get("unit_log2"):
        out += [f"Balances are given in units of 2^{bal['unit_log2']}.", ""]
    if bal["n"]:
        out += [
            f"min {bal['min']:.6g}, max {bal['max']:.6g}, mean {bal['mean']:.6g}; "
            f"{bal['n_positive']} positive, {bal['n_negative']} negative, {bal['n_zero']} zero (tol {bal['tol']:.3g}).",
            "",
        ]
    else:
        out += ["No constrained node.", ""]
    if bal.get("per_layer"):
        out += ["| layer | balances | min c | max c | negative |", "|---|---|---|---|---|"]
        out += [f"| {_c(p['layer'])} | {p['n']} | {p['min']:.4g} | {p['max']:.4g} | {p['n_negative']} |"
                for p in bal["per_layer"][:MAX_LISTED]]
        out.append("")
    return out


def _md_connectivity(report: dict) -> list[str]:
    dec, con = report["decomposition"], report["connectivity"]
    out = [
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
    ] + ([f"Up to the symmetries of the network: {symmetry_text(con['symmetry'])}.", ""]
         if "symmetry" in con else [])
    if con["frozen_edges"]:
        out += ["| edge | size | kind | witness S | sum of c over S |", "|---|---|---|---|---|"]
        for w in con["frozen_edges"]:
            nodes = w["nodes"]
            shown = _names_text(nodes, len(nodes), 8).replace("|", "\\|")
            shown += "".join(f" ({markdown_code(v)}: the class {_names_text(m, len(m), 6)})".replace("|", "\\|")
                             for v, m in w.get("classes", {}).items())
            out.append(f"| {_c(w['edge'][0])} -> {_c(w['edge'][1])} | {w['size']} | {w['kind']} | {shown} | {w['sum_c']:.6g} |")
        if con["n_frozen_edges"] > len(con["frozen_edges"]):
            out.append(f"\n… {con['n_frozen_edges'] - len(con['frozen_edges'])} more frozen edges (raise --max-listed)")
        out.append("")
    return out


def _md_strata(report: dict) -> list[str]:
    if "singular_strata" not in report:
        return []
    st = report["singular_strata"]
    out = ["## Singular strata", ""]
    if st["strata"]:
        for s in st["strata"]:
            zeroes = ", ".join(markdown_code(str(p)) for p in s.get("parameters") or [])
            out.append(f"- cut off {markdown_code(', '.join(map(str, s['nodes'])))} "
                       f"(boundary: {len(s['boundary_edges'])} edges{'; zeroes ' + zeroes if zeroes else ''})")
    else:
        out += [f"None among {st['searched']}: the fiber has no singular point of that kind."]
    out.append("")
    return out


def _md_topology(report: dict) -> list[str]:
    if "topology" not in report:
        return []
    t = report["topology"]
    return [
        "## Sampled topology",
        "",
        f"{t['n_samples']} fiber samples ({t['coordinates']} coordinates), Rips persistence: "
        f"β0 = {t.get('ph_b0', t['ph_betti'][0])} against the exact {t['theory_b0']} — "
        f"{'agree' if t['agree'] else t.get('status', 'disagree')} ({t.get('n_factors_sampled', 0)} factor(s) "
        f"sampled, {t.get('n_trivial_factors', 0)} without bottleneck edges, connected by the theorem).",
        "",
    ]


def _md_history_and_notes(report: dict) -> list[str]:
    from topo.report.history import history_markdown

    out = history_markdown(report, markdown_code)
    if report["notes"]:
        out += ["## Notes", ""] + [f"- {_m(n)}" for n in report["notes"]] + [""]
    return out


#: The sections of `render_markdown`, in page order: each maps the report to its lines.
_MARKDOWN_SECTIONS = (_md_head, _md_network, _md_balances, _md_connectivity, _md_strata, _md_topology,
                      _md_history_and_notes)
