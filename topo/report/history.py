"""The ``history`` section of an audit report: a balance history saved by
`topo.BalanceMonitor.save`, embedded by ``topo audit --history FILE``
(``topo.audit(..., history=...)``).

The section (JSON) holds the history's metadata, a summary (final and largest
drift, the SGD law's largest error, frozen-edge flips, the nearest pruned stratum,
the Euler self-test) and its records, evenly thinned to at most
`MAX_HISTORY_RECORDS` (first and last kept), with their prunability
histograms; the per-class balances are left out.  Markdown renders the summary and
a short table; HTML adds the history figure (`topo.nn.monitor_plot.history_figure`:
drift on a log scale, observed against predicted balance norms, prunability over time).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from html import escape
from typing import Any

import numpy as np

from topo.nn.monitor_records import load_history, summary_text

__all__ = ["MAX_HISTORY_RECORDS", "history_section", "history_markdown", "history_html", "history_figure_bytes"]

#: At most this many records of a history are embedded in a report (evenly thinned).
MAX_HISTORY_RECORDS = 1000
_TABLE_ROWS = 12
_META = ("model", "optimizer", "plain_sgd", "every", "n_constrained", "n_frozen", "collapse_tol")


def _thin(n: int, k: int) -> np.ndarray:
    """At most ``k`` evenly spaced indices of ``range(n)``, first and last included."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


def _largest(records: list, key: str) -> Any:
    vals = [r[key] for r in records if r.get(key) is not None]
    return max(vals) if vals else None


def history_section(history: Any) -> dict:
    """The report section of a history: a mapping (`BalanceMonitor.to_dict`) or the
    path of a file saved by `BalanceMonitor.save`.

    Examples
    --------
    >>> h = {"format": "topo-balance-history", "meta": {"optimizer": "SGD", "n_constrained": 4},
    ...      "records": [{"step": s, "drift": 1e-3 * s, "prediction_error": 1e-15} for s in range(5)]}
    >>> sec = history_section(h)
    >>> sec["n_records"], sec["steps"], sec["final_drift"], sec["max_prediction_error"]
    (5, [0, 4], 0.004, 1e-15)
    """
    source = None
    if isinstance(history, (str, os.PathLike)):
        source = os.fspath(history)
        history = load_history(history)
    recs = list(history.get("records", []))
    meta = history.get("meta", {}) or {}
    keep = _thin(len(recs), MAX_HISTORY_RECORDS)
    hist = history.get("prunability_hist") or []
    euler = meta.get("euler") or None
    last = recs[-1] if recs else {}
    return {
        "source": source,
        "meta": {k: meta.get(k) for k in _META},
        "n_records": len(recs),
        "steps": [recs[0]["step"], last["step"]] if recs else [],
        "final_drift": last.get("drift"),
        "max_drift": _largest(recs, "drift"),
        "max_prediction_error": _largest(recs, "prediction_error"),
        "final_decay_error": last.get("decay_error"),
        "max_frozen_flips": _largest(recs, "frozen_flips"),
        "final_min_prunability": last.get("min_prunability"),
        "final_collapsed": last.get("collapsed"),
        "euler": None if euler is None else {"passed": not euler.get("failed"),
                                             "max_residual": euler.get("max_residual"),
                                             "failed": list(euler.get("failed") or [])[:20]},
        "summary": summary_text(history),
        "thinned": len(keep) < len(recs),
        "records": [recs[i] for i in keep],
        "prunability_bins": list(history.get("prunability_bins") or []),
        "prunability_hist": [hist[i] for i in keep] if len(hist) == len(recs) else [],
    }


def _g(x: Any) -> str:
    return "n/a" if x is None else (f"{x:.3g}" if isinstance(x, float) else str(x))


def history_markdown(report: dict, code: Callable[[Any], str] = lambda s: f"`{s}`") -> list[str]:
    """The section as Markdown lines (nothing when the report has no history); ``code`` renders
    a file name as inline code (`topo.report.text.markdown_code`)."""
    sec = report.get("history")
    if not sec:
        return []
    out = ["## Training history (balance monitor)", ""]
    if sec.get("source"):
        out += [f"From {code(sec['source'])}.", ""]
    out += ["```", sec["summary"], "```", ""]
    recs = sec["records"]
    if recs:
        out += ["| step | drift | SGD-law error | frozen flips | nearest pruned stratum | collapsed |",
                "|---|---|---|---|---|---|"]
        for i in _thin(len(recs), _TABLE_ROWS):
            r = recs[i]
            out.append(f"| {r['step']} | {_g(r.get('drift'))} | {_g(r.get('prediction_error'))} | "
                       f"{_g(r.get('frozen_flips'))} | {_g(r.get('min_prunability'))} | {_g(r.get('collapsed'))} |")
        out.append("")
    return out


def history_figure_bytes(section: dict, fmt: str = "svg") -> bytes:
    """The history figure of a report section, as SVG (or PNG) bytes."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from topo.nn.monitor_plot import history_figure

    fig = history_figure(section)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=90, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    data = buf.getvalue()
    return data[data.index(b"<svg"):] if fmt == "svg" else data


def _figure(data: bytes | None, caption: str) -> list[str]:
    if not data:
        return []
    mime = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/svg+xml"
    img = f"<img alt='history' src='data:{mime};base64,{base64.b64encode(data).decode('ascii')}'>"
    return [f"<figure>{img}<figcaption>{escape(caption)}</figcaption></figure>"]


def history_html(report: dict, figures: dict | None = None) -> list[str]:
    """The section as HTML parts: the summary and the history figure (``figures["history"]``,
    drawn here when absent; a figure that cannot be drawn is left out, never the section)."""
    sec = report.get("history")
    if not sec:
        return []
    out = ["<h2>Training history (balance monitor)</h2>"]
    if sec.get("source"):
        out.append(f"<p>From <code>{escape(str(sec['source']))}</code>.</p>")
    out.append(f"<pre>{escape(sec['summary'])}</pre>")
    figs = dict(figures or {})
    if "history" not in figs and sec["records"]:
        try:
            figs["history"] = history_figure_bytes(sec)
        except Exception:  # noqa: BLE001 - the figure is decoration: it never costs the report
            pass
    out += _figure(figs.get("history"), "Drift of the balances per step (log scale) with the SGD law's error; "
                       "observed against predicted balance norm; the units' distances to their pruned strata "
                       "over time.")
    return out
