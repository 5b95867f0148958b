"""The HTML audit report in a real browser (headless Chromium, see tests/browser.py):
pages of a small network, a small residual CNN and the zoo ResNet-18 load without console errors,
every figure decodes, the screenshots are not blank, the first screen shows the verdict and the
start of the per-layer table (which fits the page's width), and no raw Markdown shows."""

import os

import numpy as np
import pytest

import topo
from tests.browser import Browser, find_chromium

CHROMIUM = find_chromium()
if CHROMIUM is None and os.environ.get("TOPO_REQUIRE_BROWSER"):  # CI (.ci/run) must not skip this file
    raise RuntimeError("TOPO_REQUIRE_BROWSER is set but no Chromium was found (see tests/browser.py)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium-headless-shell (.ci/run installs it)")


def not_blank(png: bytes) -> float:
    """Fraction of pixels that differ from the page background."""
    import io

    import matplotlib.image as mpimg

    img = mpimg.imread(io.BytesIO(png), format="png")[..., :3]
    background = img[0, 0]
    return float(np.mean(np.any(np.abs(img - background) > 0.05, axis=-1)))


def check_page(path, shot):
    with Browser(CHROMIUM) as b:
        b.open(path)
        images = b.evaluate("[...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
        text = b.evaluate("document.body.innerText")
        n_details = b.evaluate("document.querySelectorAll('details').length")
        # where the verdict and the per-layer table sit, and whether the table fits the page's width
        layout = b.evaluate("""(() => {
            const top = s => { const e = document.querySelector(s); return e ? e.getBoundingClientRect().top : null; };
            const box = document.querySelector('div.layers');
            return {verdict: top('.verdict'), layers: top('table.layers'), height: window.innerHeight,
                    overflow: box ? box.scrollWidth - box.clientWidth : null};
        })()""")
        png = b.screenshot(shot)
        assert b.errors == [], b.errors
    assert images and all(ok and w > 0 and h > 0 for _, ok, w, h in images), images
    assert {alt for alt, *_ in images} == {"balances", "dag"}
    assert not_blank(png) > 0.03  # text, cards and a figure on the first screen
    assert "`" not in text and "**" not in text  # no raw Markdown
    # the first screen shows the verdict, then the per-layer table starts; no column is cut off
    assert 0 <= layout["verdict"] < layout["layers"] < layout["height"], layout
    assert layout["overflow"] == 0, layout
    assert text.index("Verdict") < text.index("Layers") < text.index("Connectivity")
    return text, n_details


def test_small_network_report_in_the_browser(tmp_path):
    a = topo.audit("shallow")
    a.save(tmp_path, formats=("html",))
    text, _ = check_page(tmp_path / "report.html", tmp_path / "shallow.png")
    assert "8 (= 23)" in text  # 2<sup>3</sup> renders as 23 in innerText
    assert "h1_4 → y0" in text and "-3.174" in text  # a frozen edge and its witness sum


def test_resnet18_report_in_the_browser(tmp_path):
    pytest.importorskip("torch")
    from topo.zoo import resnet18

    model, x = resnet18()
    a = topo.audit(model, example_input=x, max_listed=50)
    a.save(tmp_path, formats=("html",))
    text, n_details = check_page(tmp_path / "report.html", tmp_path / "resnet18.png")
    net = a.report["network"]
    # every unit of ResNet-18 carries a law: 1920 of its own, 960 shared along the residual streams
    assert net["n_free"] == 0 and net["n_constrained"] == 2880 and net["n_shared_streams"] == 960
    assert "960 shared along residual streams" in text and "touches a non-trainable edge" not in text
    assert n_details >= 1 and "layers.7.conv1" in text  # the balances per layer, folded


def test_residual_cnn_report_in_the_browser(tmp_path):
    """A small residual CNN (the ResNet-18 shape at width 8): the same page, every row of the
    layers table on the first screens, the stream balances counted once."""
    pytest.importorskip("torch")
    from topo.zoo import resnet18

    model, x = resnet18(width=8)
    a = topo.audit(model, example_input=x)
    a.save(tmp_path, formats=("html",))
    text, _ = check_page(tmp_path / "report.html", tmp_path / "residual_cnn.png")
    net = a.report["network"]
    assert net["n_free"] == 0 and net["n_constrained"] == 360 and net["n_shared_streams"] == 120
    assert "All 840 hidden units carry a conservation law, in 360 conserved balances, 120 of them shared" in text
    assert "layers.2.short.0" in text and "[2, 16, 16, 16]" in text  # a shortcut and its output shape
