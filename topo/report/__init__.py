"""Audit reports: the report dictionary (`build`, schema in
[`schema`][topo.report.schema]) and its renderings — terminal text and Markdown
([`text`][topo.report.text]), a self-contained HTML page ([`html`][topo.report.html]),
figures ([`plots`][topo.report.plots]) and atomic report folders ([`files`][topo.report.files]).

The only part of topo that knows output formats.
"""

from topo.report.files import MANIFEST, read_report_set, write_report
from topo.report.html import render_html, render_html_fragment
from topo.report.schema import SCHEMA_VERSION
from topo.report.text import markdown_code, markdown_escape, render_markdown, render_text, terminal_escape

__all__ = [
    "SCHEMA_VERSION", "render_text", "render_markdown", "render_html", "render_html_fragment", "write_report",
    "read_report_set", "markdown_escape", "markdown_code", "terminal_escape", "MANIFEST",
]


def __getattr__(name: str):
    """``topo.report.audit``: the report dictionary, kept for code written before
    [`topo.audit`][topo.auditing.audit] existed (it is
    [`topo.report.build.audit_report`][topo.report.build.audit_report])."""
    if name == "audit":
        from topo.report.build import audit_report

        return audit_report
    raise AttributeError(f"module 'topo.report' has no attribute {name!r}")
