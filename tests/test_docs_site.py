"""The built API reference reads as documentation: cross-references are links (no raw Sphinx
roles), defaults are values (not the names of private or module constants), signatures are
wrapped.  The site is built once, strictly, the way .ci/run builds it; without the docs extra
(``pip install -e ".[docs]"``) the site tests skip and say so."""

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROLE = re.compile(r":(func|class|meth|attr|data|mod|obj|exc):`")


def test_no_sphinx_roles_left_in_the_sources():
    """mkdocstrings shows ``:func:`x``` as literal text: the docstrings use its own syntax."""
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "topo").rglob("*.py"))
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if ROLE.search(line)]
    assert not hits, hits


@pytest.fixture(scope="module")
def api_page(tmp_path_factory) -> str:
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason='the docs site needs the docs extra: pip install -e ".[docs]"')
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return (site / "api" / "index.html").read_text(encoding="utf-8")


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def _signatures(page: str) -> list:
    return [_text(s) for s in re.findall(r'<div class="doc-signature highlight">(.*?)</div>', page, re.S)]


def test_api_page_shows_no_raw_roles(api_page):
    text = _text(api_page)
    assert not {m.group(0) for m in ROLE.finditer(text)}
    assert not re.search(r":(func|class|meth|attr):", text)


def test_api_page_cross_references_are_links(api_page):
    links = re.findall(r'<a class="autorefs autorefs-internal"[^>]*href="[^"]*#(topo\.[\w.]+)"', api_page)
    assert len(links) >= 100, len(links)
    # docstrings link to what they name (audit -> from_torch, Audit -> audit, topo.connectivity ...)
    assert {"topo.auditing.Audit", "topo.auditing.audit", "topo.nn.trace.from_torch",
            "topo.fiber.connectivity.connectivity"} <= set(links)


def test_api_page_shows_defaults_by_value(api_page):
    from topo.report.schema import MAX_LISTED
    from topo.symmetry.automorphisms import MAX_VERTICES

    sigs = _signatures(api_page)
    assert len(sigs) > 100
    named = {m.group(1) for s in sigs for m in re.finditer(r"=\s*(_?[A-Z][A-Z0-9_]+)\b", s)}
    assert not named, named  # constants (MAX_LISTED, _MAX_...) appear as their values
    audit_sig = next(s for s in sigs if s.startswith("audit("))
    assert f"max_listed: int = {MAX_LISTED}," in audit_sig
    group_sig = next(s for s in sigs if s.startswith("automorphism_group("))
    assert f"max_vertices: int = {MAX_VERTICES}," in group_sig
    # nor in the parameter tables' default column
    assert not re.search(r'<span title="topo\.[\w.]*\.[A-Z][A-Z0-9_]+">', api_page)


def test_api_page_signatures_are_wrapped(api_page):
    """A long signature is one parameter a line (separate_signature + line_length, formatted by ruff
    or black from the docs extra), not one overflowing line."""
    sigs = _signatures(api_page)
    longest = max((line for s in sigs for line in s.splitlines()), key=len)
    assert len(longest) <= 100, longest
    audit_sig = next(s for s in sigs if s.startswith("audit("))
    assert len(audit_sig.splitlines()) > 10
