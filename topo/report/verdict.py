"""The verdict of an audit in plain words, and the per-layer table, for every rendering.

`verdict` reads a report dictionary (``docs/report.md``) and says what gradient flow
can and cannot do from the audited weights: whether the fiber is connected, which weights
are locked in sign (named by their model parameter, ``4.weight[0, 3]``, when there is a
model), which units are prunable and which model entries pruning them zeroes, and how much
of the network the analysis covers.  `GLOSSARY` defines the papers' terms once.  The
renderers of [`topo.report.text`][topo.report.text] and [`topo.report.html`][topo.report.html] put these lines first.
"""

from __future__ import annotations

import re
from html import escape

__all__ = ["verdict", "GLOSSARY", "verdict_text", "verdict_markdown", "verdict_html", "layers_text",
           "layers_markdown", "layers_html", "LAYER_COLUMNS"]

#: The papers' terms, each defined once (shown under the verdict).
GLOSSARY = (
    "Terms: the balance c of a unit is the squared norm of its incoming weights minus that of its "
    "outgoing weights, conserved by gradient flow; the fiber is every parameter point with the same "
    "balances; a frozen edge is a weight (or weight group) that cannot reach 0 anywhere on the fiber; "
    "a component is a connected piece of the fiber; a prunable unit (singular stratum) is one whose "
    "weights can all be 0 on the fiber, where the network computes the function of the network without it."
)

#: At most this many names are given on a verdict line (then "… N more").
NAMES_SHOWN = 8


def _edge_name(w: dict) -> str:
    src = w.get("source")
    if src:
        return f"{src['module']}.{src['parameter']}[{', '.join(map(str, src['index']))}]"
    return f"{w['edge'][0]} -> {w['edge'][1]}"


def _line(key: str, text: str, names: list | None = None, total: int | None = None) -> dict:
    names = list(names or [])
    shown = names[:NAMES_SHOWN]
    more = (total if total is not None else len(names)) - len(shown)
    return {"key": key, "text": text, "names": shown, "more": max(more, 0)}


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def verdict(report: dict) -> list[dict]:
    """The verdict lines of an audit report: ``{"key", "text", "names", "more"}`` each
    (``names``: at most `NAMES_SHOWN` weights or units the line is about, a prunable
    unit as ``(unit, [model entries it zeroes])``; ``more``: how many more there are).

    Examples
    --------
    >>> import topo
    >>> for line in verdict(topo.audit("shallow").report):
    ...     print(line["text"], line["names"])
    The fiber has 8 connected components (2^3), one per sign pattern of the locked weights. []
    3 weights are locked in sign (gradient flow from these weights can never change their sign). ['h1_0 -> y0', 'h1_4 -> y0', 'h1_5 -> y0']
    No unit is prunable: no unit's weights can all reach 0 on this fiber. []
    All 6 hidden units carry a conserved balance. []
    """
    con, net = report["connectivity"], report["network"]
    lines = [_fiber_line(con)]
    listed = con["frozen_edges"]
    n_scalar, n_group = con["n_frozen_scalar_edges"], con["n_frozen_edges"] - con["n_frozen_scalar_edges"]
    if n_scalar:
        names = [_edge_name(w) for w in listed if w["size"] == 1]
        lines.append(_line("locked", f"{_plural(n_scalar, 'weight')} {'is' if n_scalar == 1 else 'are'} locked "
                           "in sign (gradient flow from these weights can never change "
                           f"{'its' if n_scalar == 1 else 'their'} sign).", names, n_scalar))
    else:
        lines.append(_line("locked", "No weight is locked in sign."))
    if n_group:
        names = [_edge_name(w) for w in listed if w["size"] > 1]
        lines.append(_line("bounded", f"{_plural(n_group, 'weight group')} (kernel slices) can never shrink to 0 "
                           "(their norm stays above a bound on the whole fiber).", names, n_group))
    lines.append(_prunable_line(report.get("singular_strata")))
    lines.append(_coverage_line(net))
    return lines


def _fiber_line(con: dict) -> dict:
    k = con["log2_n_components"]
    if k == 0:
        return _line("fiber", "The fiber is connected (1 component): these balances do not split the parameter space.")
    count = f"{con['n_components']} connected components (2^{k})" if k <= 60 else f"2^{k} connected components"
    return _line("fiber", f"The fiber has {count}, one per sign pattern of the locked weights.")


def _prunable_line(st: dict | None) -> dict:
    if st is None:
        return _line("prunable", "Prunable units were not searched (max_strata=0).")
    strata = st["strata"]
    if not strata:
        if st["complete"]:
            return _line("prunable", "No unit is prunable: no unit's weights can all reach 0 on this fiber.")
        return _line("prunable", f"No prunable unit found; the search is incomplete ({st.get('stopped', 'stopped')}).")
    names = [(", ".join(s["nodes"]), list(s.get("parameters") or [])) for s in strata]
    n = len(strata)
    least = "" if st["complete"] else "at least "
    return _line("prunable", f"{least}{_plural(n, 'unit')} {'is' if n == 1 and not least else 'are'} prunable "
                 "(the fiber holds points where all "
                 f"{'its' if n == 1 else 'their'} weights are 0, and there removing "
                 f"{'it' if n == 1 else 'them'} leaves the function unchanged).", names, n)


def _coverage_line(net: dict) -> dict:
    n_hidden, n_cons = net["n_hidden"], net["n_constrained"]
    if n_hidden == 0:
        return _line("coverage", "The network has no hidden unit: there is nothing to constrain.")
    members = net.get("n_class_members", n_cons)  # units covered by a law (a shared balance covers several)
    shared = ""
    if members > n_cons:
        streams = net.get("n_shared_streams", 0)
        along = f", {streams} of them shared along residual streams" if streams else " (some shared by several units)"
        shared = f" in {_plural(n_cons, 'conserved balance')}{along}"
    if members == n_hidden:
        if not shared:
            return _line("coverage", f"All {n_hidden} hidden units carry a conserved balance.")
        return _line("coverage", f"All {n_hidden} hidden units carry a conservation law,{shared}.")
    reasons: dict = {}
    for g in net.get("free_groups") or []:
        reasons[g["reason"]] = reasons.get(g["reason"], 0) + g["n"]
    top = max(reasons, key=reasons.get) if reasons else "no conservation law"
    free = n_hidden - members
    return _line("coverage", f"{members} of {n_hidden} hidden units carry a conservation law{shared}; the verdict "
                 f"is about them. {free} {'is' if free == 1 else 'are'} free (mostly: {top}).")


# ---------------------------------------------------------------------------- renderings
def _compose(line: dict, fmt) -> str:
    """The line's sentence, with its names after a colon: ``"3 weights are locked ...: a, b, … 1 more"``."""
    if not line["names"]:
        return line["text"]
    more = f", … {line['more']} more" if line["more"] else ""

    def name(x) -> str:  # a unit with the model entries pruning it zeroes, or a plain name
        if isinstance(x, tuple):
            return f"{fmt(x[0])} (zeroes {', '.join(fmt(p) for p in x[1])})" if x[1] else fmt(x[0])
        return fmt(x)

    return line["text"].rstrip(".") + ": " + ", ".join(name(x) for x in line["names"]) + more


def _html_code(name) -> str:
    return f"<code>{escape(str(name)).replace(' -&gt; ', ' → ')}</code>"  # edges drawn as in the tables


def _grouped(n: int) -> str:
    """An integer with thin-space thousands separators, as on the HTML cards."""
    return f"{n:,}".replace(",", "\u2009")


def _html_text(text: str) -> str:
    """A verdict sentence for HTML: escaped, ``2^k`` as a power, counts grouped like the cards."""
    out = re.sub(r"2\^(\d+)", r"2<sup>\1</sup>", escape(text))
    return re.sub(r"(?<![\w.^>])(\d{4,})(?![\w.<])", lambda m: _grouped(int(m.group(1))), out)


def verdict_text(report: dict, escape_text) -> list[str]:
    """Terminal lines: the verdict, then the glossary (``escape_text`` makes user text inert)."""
    out = ["  verdict"]
    for line in verdict(report):
        out.append(f"  - {_compose(line, escape_text)}")
    out.append(f"  {GLOSSARY}")
    return out


def verdict_markdown(report: dict, code, escape_text) -> list[str]:
    """Markdown lines: a "Verdict" section (``code`` makes a name a code span, ``escape_text``
    makes a sentence inert: a reason in it may quote user text)."""
    out = ["## Verdict", ""]
    out += [f"- {_compose(dict(line, text=escape_text(line['text'])), code)}" for line in verdict(report)]
    return out + ["", f"*{GLOSSARY}*", ""]


def verdict_html(report: dict) -> str:
    """The verdict as an HTML block (names in ``<code>``, everything escaped)."""
    items = "".join(f"<li>{_compose(dict(line, text=_html_text(line['text'])), _html_code)}</li>"
                    for line in verdict(report))
    return (f"<div class='verdict'><h2>Verdict</h2><ul>{items}</ul>"
            f"<p class='glossary'>{escape(GLOSSARY)}</p></div>")


#: The per-layer table's columns: (key in a ``layers`` row, header).
LAYER_COLUMNS = (("layer", "layer"), ("type", "type"), ("output_shape", "output shape"),
                 ("parameters", "parameters"), ("units", "units"), ("constrained", "constrained"), ("shared", "shared"),
                 ("free", "free"), ("balance", "balance range"), ("n_negative", "c < 0"),
                 ("frozen_edges", "frozen edges"), ("prunable", "prunable"), ("free_reason", "free because"))


def _shown_columns(rows: list) -> list[int]:
    """Indices of the columns with a value in some row (no output shape for a spec network, no
    "free because" when every unit is constrained); the layer name always."""
    cells = [_cells(r) for r in rows]
    return [j for j, (k, _) in enumerate(LAYER_COLUMNS) if k == "layer" or any(c[j] for c in cells)]


def _cells(row: dict) -> list[str]:
    shape = row.get("output_shape")
    lo, hi = row.get("balance_min"), row.get("balance_max")
    values = dict(row, output_shape="[" + ", ".join(map(str, shape)) + "]" if shape else "",
                  balance=f"{lo:.3g} … {hi:.3g}" if lo is not None else "",
                  free_reason=row.get("free_reason") or "")
    return [str(values.get(k, "")) if values.get(k) is not None else "" for k, _ in LAYER_COLUMNS]


def layers_text(report: dict, escape_text) -> list[str]:
    """The per-layer table as aligned terminal lines."""
    layers = report.get("layers")
    if not layers or not layers["rows"]:
        return []
    cols = _shown_columns(layers["rows"])
    table = [[LAYER_COLUMNS[j][1] for j in cols]] + [[escape_text(_cells(r)[j]) for j in cols] for r in layers["rows"]]
    widths = [max(len(r[j]) for r in table) for j in range(len(cols))]
    out = ["  layers"]
    for r in table:
        out.append("    " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    if layers["truncated"]:
        out.append(f"    … {layers['n'] - len(layers['rows'])} more layers (raise --max-listed)")
    return out


def layers_markdown(report: dict, cell, code) -> list[str]:
    """The per-layer table in Markdown (``cell`` escapes user text for a table cell, ``code``
    renders a layer's name as inline code, so that no name can become a link or markup)."""
    layers = report.get("layers")
    if not layers or not layers["rows"]:
        return []
    cols = _shown_columns(layers["rows"])
    out = ["## Layers", "", "| " + " | ".join(LAYER_COLUMNS[j][1] for j in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join((code if LAYER_COLUMNS[j][0] == "layer" else cell)(c) if c else ""
                              for j, c in ((j, _cells(r)[j]) for j in cols)) + " |" for r in layers["rows"]]
    if layers["truncated"]:
        out.append(f"\n… {layers['n'] - len(layers['rows'])} more layers (raise --max-listed)")
    return out + [""]


def layers_html(report: dict) -> str:
    """The per-layer table in HTML."""
    layers = report.get("layers")
    if not layers or not layers["rows"]:
        return ""
    cols = _shown_columns(layers["rows"])
    head = "".join(f"<th>{escape(LAYER_COLUMNS[j][1])}</th>" for j in cols)
    numeric = {"parameters", "units", "constrained", "shared", "free", "n_negative", "frozen_edges", "prunable"}

    def td(key: str, c: str) -> str:
        if key in numeric:
            return f"<td class='num'>{_grouped(int(c)) if c.isdigit() else escape(c)}</td>"
        return f"<td><code>{escape(c)}</code></td>" if key == "layer" else f"<td>{escape(c)}</td>"

    body = "".join("<tr>" + "".join(td(LAYER_COLUMNS[j][0], _cells(r)[j]) for j in cols) + "</tr>"
                   for r in layers["rows"])
    more = (f"<p>… {layers['n'] - len(layers['rows'])} more layers (raise <code>--max-listed</code>).</p>"
            if layers["truncated"] else "")
    return (f"<h2>Layers</h2><div class='layers'><table class='layers'><tr>{head}</tr>{body}</table></div>{more}")
