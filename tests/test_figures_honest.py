"""Figures that do not mislead (issue 21): the balance histogram shows every negative unit
(stacked bars on bins with an edge at 0), legends stand outside the data, and intervals of
non-negative quantities stay >= 0.  Read back from the matplotlib Axes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import topo  # noqa: E402
from topo.experiments.plots import clipped_error, plot_loss_vs_l_plus, plot_obstruction, plot_regularizers  # noqa: E402
from topo.report.plots import plot_balances  # noqa: E402

RED = mcolors.to_rgba("tab:red")


def _red_total(ax) -> float:
    return float(sum(p.get_height() for p in ax.patches if np.allclose(p.get_facecolor(), RED)))


def _red_visible(ax) -> bool:
    """No blue bar is drawn over a red one: in every bin the blue bar starts where the red one ends."""
    red = {round(p.get_x(), 12): p for p in ax.patches if np.allclose(p.get_facecolor(), RED)}
    for p in ax.patches:
        below = red.get(round(p.get_x(), 12))
        if p not in red.values() and below is not None and below.get_height() > 0 and p.get_height() > 0:
            if p.get_y() < below.get_y() + below.get_height():
                return False
    return True


def _no_overlap(a, b) -> bool:
    return a.x1 <= b.x0 + 0.5 or b.x1 <= a.x0 + 0.5 or a.y1 <= b.y0 + 0.5 or b.y1 <= a.y0 + 0.5


def _legend_outside(ax) -> bool:
    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return _no_overlap(ax.get_legend().get_window_extent(r), ax.get_window_extent(r))


@pytest.mark.parametrize("seed", range(6))
def test_red_bars_add_up_to_the_negative_units(seed):
    rng = np.random.default_rng(seed)
    # many balances near 0 on both sides: a bin spanning 0 used to hide the red bar under the blue one
    c = np.concatenate([rng.normal(0, 0.05, 12), rng.normal(3, 1, 20), rng.normal(-2, 1, 5)])
    tol = 1e-3
    ax = plot_balances(c, tol=tol)
    assert _red_total(ax) == int(np.sum(c < -tol))
    assert _red_visible(ax)
    assert sum(p.get_height() for p in ax.patches) == len(c)  # every unit is drawn once
    edges = {round(p.get_x(), 12) for p in ax.patches}
    assert 0.0 in edges  # a bin starts at 0: no bin mixes signs
    assert _legend_outside(ax)
    plt.close(ax.figure)


def test_report_histogram_of_an_mlp_shows_every_negative_unit():
    a = topo.audit([4, 16, 8, 1], seed=1, init="xavier", max_strata=0)
    bal = a.report["balances"]
    assert bal["n_negative"] > 0
    ax = plot_balances(a.c, tol=bal["tol"])
    assert _red_total(ax) == bal["n_negative"] == 12
    assert _red_visible(ax)
    plt.close(ax.figure)


def test_loss_intervals_stay_non_negative_and_legends_outside():
    # losses near 0 with a wide spread: a symmetric t-interval would go below 0
    rows = [{"width": w, "l_plus": lp, "fraction": lp / w, "test_loss": loss, "seed": s}
            for w in (2, 4) for lp in range(1, w + 1) for s, loss in enumerate((0.01, 0.02, 0.6))]
    fig = plot_loss_vs_l_plus(rows)
    for ax in fig.axes:
        for container in ax.containers:
            segments = container.lines[2][0].get_segments()
            assert min(float(np.min(s[:, 1])) for s in segments) >= 0.0
        assert _legend_outside(ax)
    plt.close(fig)


def test_obstruction_bars_stay_probabilities_and_legend_outside():
    rows = [{"widths": f"1-{l}-1", "init": "kaiming", "method": "monte_carlo", "per_unit": p, "stderr": 0.2}
            for l, p in ((2, 0.05), (4, 0.5), (8, 0.97))]
    fig = plot_obstruction(rows)
    ax = fig.axes[0]
    segments = ax.containers[0].lines[2][0].get_segments()
    ys = np.concatenate([s[:, 1] for s in segments])
    assert ys.min() >= 0.0 and ys.max() <= 1.0
    assert _legend_outside(ax)
    plt.close(fig)


def test_regularizer_legends_outside():
    rows = [{"regularizer": r, "strength": 0.1, "seed": 0, "units_pruned": k, "units": 8, "accuracy_before": 0.9,
             "accuracy_after": 0.88, "nearest_stratum_init": 0.5, "nearest_stratum": 0.01} for k, r in
            enumerate(("weight_decay", "l1"))]
    fig = plot_regularizers(rows)
    for ax in fig.axes[1:]:
        assert _legend_outside(ax)
    plt.close(fig)


def test_clipped_error():
    np.testing.assert_allclose(clipped_error([0.1, 0.9], [0.3, 0.3], 0, 1), [[0.1, 0.3], [0.3, 0.1]])
