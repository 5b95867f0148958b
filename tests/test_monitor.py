"""topo.BalanceMonitor: the exact SGD law, balances against a fresh import, the O(lr²)
drift of gradient descent, the weight-decay law, frozen signs, the Euler self-test
(and its negative controls), outputs."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import topo  # noqa: E402
from topo.errors import GraphError  # noqa: E402
from topo.nn.monitor import EulerWarning  # noqa: E402
from topo.nn.monitor_records import load_history, tensorboard_sink  # noqa: E402
from topo.nn.result import EdgeSources  # noqa: E402


def _mlp(widths=(4, 8, 8, 3), seed=0):
    return topo.zoo.mlp(widths, seed=seed)[0].double().train()  # a ReLU MLP, seeded, in float64


def _train(model, opt, X, y, steps, *, batch=None, seed=0, after=None):
    g = torch.Generator().manual_seed(seed)
    for t in range(steps):
        idx = torch.randperm(len(X), generator=g)[:batch] if batch else slice(None)
        opt.zero_grad()
        out = model(X[idx])
        loss = torch.nn.functional.cross_entropy(out, y[idx]) if y.dtype == torch.long else \
            torch.nn.functional.mse_loss(out, y[idx])
        loss.backward()
        opt.step()
        if after is not None:
            after(t + 1)


def _data(n, d, k, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randint(0, k, (n,), generator=g)


# ----------------------------------------------------------------------------- the exact SGD law
@pytest.mark.parametrize("every", [1, 3])
def test_sgd_weight_decay_law_is_exact_on_an_mlp(every):
    model = _mlp()
    X, y = _data(64, 4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.01)
    mon = topo.BalanceMonitor(model, every=every).attach(opt)
    _train(model, opt, X, y, 30, batch=8)
    recs = mon.history[1:]
    assert [r["step"] for r in mon.history] == list(range(0, 31, every))
    errs = [r["prediction_error"] for r in recs]
    assert len(errs) == 30 // every and max(errs) < 1e-10
    # the law predicts something: the balances do move by much more than the error
    assert max(r["drift"] for r in recs) > 1e-4


def test_sgd_law_with_parameter_groups():
    model = _mlp()
    X, y = _data(64, 4, 3)
    first, rest = list(model[0].parameters()), [p for m in list(model)[1:] for p in m.parameters()]
    same = torch.optim.SGD([{"params": first}, {"params": rest}], lr=0.05, weight_decay=0.02)
    mon = topo.BalanceMonitor(model).attach(same)
    _train(model, same, X, y, 10, batch=16)
    assert max(r["prediction_error"] for r in mon.history[1:]) < 1e-10
    # different weight decays: the cross term of a unit does not cancel, no law is claimed
    mixed = torch.optim.SGD([{"params": first, "weight_decay": 0.0}, {"params": rest, "weight_decay": 0.02}], lr=0.05)
    mon = topo.BalanceMonitor(model).attach(mixed)
    _train(model, mixed, X, y, 3, batch=16)
    assert "prediction_error" not in mon.history[-1] and "decay_law" not in mon.history[-1]


def test_sgd_law_is_exact_on_the_zoo_resnet18_without_batchnorm():
    model, _ = topo.zoo.resnet18(batchnorm=False, width=4, num_classes=3)
    model = model.double().train()
    X, y = _data(4, 3 * 8 * 8, 3)
    X = X.view(4, 3, 8, 8)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EulerWarning)
        mon = topo.BalanceMonitor(model, X[:2], frozen=False).attach(opt)
        _train(model, opt, X, y, 3)
    assert mon.euler["failed"] == [] and mon.euler["checked"] > 0
    errs = [r["prediction_error"] for r in mon.history[1:]]
    assert len(errs) == 3 and max(errs) < 1e-10
    assert mon.history[-1]["drift"] > 1e-8


def test_momentum_and_adam_get_no_prediction():
    model = _mlp()
    X, y = _data(32, 4, 3)
    for opt in (torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9), torch.optim.Adam(model.parameters())):
        mon = topo.BalanceMonitor(model).attach(opt)
        _train(model, opt, X, y, 3)
        assert "prediction_error" not in mon.history[-1] and mon.history[-1]["drift"] > 0


# ----------------------------------------------------------------------------- against a fresh import
def _grouped_cnn():
    torch.manual_seed(3)
    return torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3, padding=1, groups=2),
        torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2)).double()


@pytest.mark.parametrize("kind", ["mlp", "residual", "grouped_cnn"])
def test_balances_equal_a_fresh_import_at_every_recorded_step(kind):
    if kind == "mlp":
        model, X = _mlp(), _data(32, 4, 3)[0]
    elif kind == "residual":
        model, _ = topo.zoo.residual_mlp(width=6, depth=2, d_in=4, d_out=3)
        model, X = model.double(), _data(32, 4, 3)[0]
    else:
        model, X = _grouped_cnn(), torch.randn(32, 2, 5, 5, dtype=torch.float64)
    y = torch.randint(0, 2 if kind == "grouped_cnn" else 3, (32,))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    mon = topo.BalanceMonitor(model, X[:2], every=2)
    fresh = [topo.balance(topo.from_torch(model, X[:2]).architecture, topo.from_torch(model, X[:2]).theta)]

    def check(t):
        mon.step()
        if t % 2 == 0:
            imp = topo.from_torch(model, X[:2])
            fresh.append(topo.balance(imp.architecture, imp.theta))
            assert imp.architecture.constrained == mon.architecture.constrained
            np.testing.assert_allclose(mon.balances(), fresh[-1], rtol=1e-12, atol=1e-12)

    _train(model, opt, X, y, 8, after=check)
    assert len(mon.series) == len(fresh) == 5
    np.testing.assert_allclose(mon.series, np.array(fresh), rtol=1e-12, atol=1e-12)
    assert np.abs(mon.series[-1] - mon.series[0]).max() > 1e-3  # Adam moved them: the comparison is not vacuous


def _stream_model(kind):
    if kind == "residual_mlp":
        model, _ = topo.zoo.residual_mlp(width=6, depth=2, d_in=4, d_out=3)
        return model.double().train(), _data(32, 4, 3)
    model, _ = topo.zoo.resnet18(batchnorm=False, width=4, num_classes=3)
    X, y = _data(8, 3 * 8 * 8, 3, seed=2)
    return model.double().train(), (X.view(8, 3, 8, 8), y)


@pytest.mark.parametrize("kind", ["residual_mlp", "resnet18"])
def test_stream_classes_sgd_law_and_fresh_import_at_every_step(kind):
    """Shared rescaling classes (the residual stream): the exact SGD + weight-decay law
    holds per class and the balances equal a fresh import's at every recorded step."""
    model, (X, y) = _stream_model(kind)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EulerWarning)
        mon = topo.BalanceMonitor(model, X[:2], frozen=False).attach(opt)
        arch = mon.architecture
        assert arch.n_shared > 0 and arch.class_sizes.max() > 1  # the test is about stream classes
        fresh = []

        def check(t):
            imp = topo.from_torch(model, X[:2])
            assert imp.architecture.constrained == arch.constrained
            fresh.append(topo.balance(imp.architecture, imp.theta))
            np.testing.assert_allclose(mon.series[-1], fresh[-1], rtol=1e-12, atol=1e-12)

        model.train()
        _train(model, opt, X, y, 3 if kind == "resnet18" else 10, batch=None if kind == "resnet18" else 8,
               after=lambda t: (check(t), model.train()))
    assert mon.euler["failed"] == [] and mon.euler["checked"] > 0
    errs = [r["prediction_error"] for r in mon.history[1:]]
    assert len(errs) == len(fresh) and max(errs) < 1e-10
    shared = np.flatnonzero(arch.class_sizes > 1)
    moved = np.abs(mon.series[-1] - mon.series[0])[shared]
    assert moved.max() > 1e-3 * np.abs(mon.series[0][shared]).max()  # the stream classes' balances did move


# ----------------------------------------------------------------------------- gradient descent at small lr
def _gd_drift(lr, steps, wd=0.0):
    model = _mlp((3, 6, 6, 2), seed=5)
    X, y = _data(40, 3, 2, seed=6)
    opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=wd)
    mon = topo.BalanceMonitor(model).attach(opt)
    _train(model, opt, X, y, steps)
    return mon


def test_full_batch_gd_drifts_as_lr_squared_per_step():
    lrs = np.array([1e-2, 5e-3, 2.5e-3])
    drift = np.array([_gd_drift(lr, 20).history[-1]["drift"] for lr in lrs])
    slope = np.polyfit(np.log(lrs), np.log(drift), 1)[0]
    assert 1.8 < slope < 2.2, (slope, drift)


def test_weight_decay_follows_exp_minus_two_lambda_t_within_order_lr():
    lam, tau = 0.5, 1.0
    devs, effect = [], None
    for lr in (1e-2, 5e-3):
        mon = _gd_drift(lr, int(round(tau / lr)), wd=lam)
        last = mon.history[-1]
        assert last["decay_law"] == pytest.approx(np.exp(-2 * lam * tau), rel=1e-12)
        devs.append(last["decay_error"])
        effect = last["drift"]
    assert effect > 0.5  # the balances did shrink by exp(-1): the law is not trivially met
    assert devs[0] < 0.05 and 1.6 < devs[0] / devs[1] < 2.4, devs  # O(lr): halves with lr


def _frozen_net():
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4, bias=False), torch.nn.ReLU(),
                                torch.nn.Linear(4, 1, bias=False)).double()
    with torch.no_grad():
        model[2].weight.copy_(torch.tensor([[2.0, -2.5, 3.0, -1.5]], dtype=torch.float64))
    return model


def test_frozen_edges_never_flip_under_gd_at_small_lr():
    model = _frozen_net()
    X = torch.randn(20, 3, dtype=torch.float64)
    y = torch.randn(20, 1, dtype=torch.float64)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    mon = topo.BalanceMonitor(model).attach(opt)
    assert mon.to_dict()["meta"]["n_frozen"] == 4  # every out-edge: c < 0 at each unit
    _train(model, opt, X, y, 200)
    assert all(r["frozen_flips"] == 0 for r in mon.history)
    # the count can fail: flip one frozen weight by hand
    with torch.no_grad():
        model[2].weight[0, 1] *= -1
    assert mon.step()["frozen_flips"] == 1


# ----------------------------------------------------------------------------- the Euler self-test
def _six():
    return _mlp((4, 6, 6, 6, 2), seed=4)


def _first_step(mon, model, opt):
    X, y = _data(16, 4, 2)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(X), y).backward()
    opt.step()
    return mon


def test_the_euler_self_test_passes_on_a_correct_import():
    model = _six()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EulerWarning)
        mon = _first_step(topo.BalanceMonitor(model).attach(opt), model, opt)
    assert mon.euler["failed"] == [] and 12 <= mon.euler["checked"] <= 18 and mon.euler["max_residual"] < 1e-12


def test_a_wrong_edge_map_breaks_the_euler_self_test():
    model = _six()
    imp = topo.from_torch(model)
    blocks = imp.edge_source.blocks()
    quals = [b[2] for b in blocks]
    i, j = quals.index("2"), quals.index("4")  # two 6x6 layers: swap their weights in the map
    blocks[i], blocks[j] = (blocks[i][:2] + blocks[j][2:]), (blocks[j][:2] + blocks[i][2:])
    wrong = dataclasses.replace(imp, edge_source=EdgeSources(imp.architecture, blocks))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    mon = topo.BalanceMonitor(model, imported=wrong).attach(opt)
    with pytest.warns(EulerWarning, match=r"fails at 1[0-8] of 18 rescaling classes \(named by a member\): 0\.0 \("):
        _first_step(mon, model, opt)
    assert mon.euler["max_residual"] > 1e-3


def test_a_wrong_grouping_of_edges_into_units_breaks_the_euler_self_test():
    model = _six()
    imp = topo.from_torch(model)
    arch = imp.architecture
    dst = arch.dst.copy()
    unit = {n: i for i, n in enumerate(arch.nodes)}
    a, b = unit["0.0"], unit["0.1"]  # the in-edges of two units of the first layer, exchanged
    sa, sb = dst == a, dst == b
    dst[sa], dst[sb] = b, a
    roles = {n: arch.role(n) for n in arch.nodes if arch.role(n) != "hidden"}
    wrong_arch = topo.Architecture.from_arrays(arch.src, dst, nodes=arch.nodes, sizes=arch.edge_sizes,
                                               trainable=arch.edge_trainable, roles=roles)
    wrong = dataclasses.replace(imp, architecture=wrong_arch,
                                edge_source=EdgeSources(wrong_arch, imp.edge_source.blocks()))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    mon = topo.BalanceMonitor(model, imported=wrong).attach(opt)
    with pytest.warns(EulerWarning, match="0\\.0|0\\.1"):
        _first_step(mon, model, opt)
    assert set(mon.euler["failed"]) == {"0.0", "0.1"}


def test_an_l2_penalty_in_the_loss_is_caught_by_the_self_test():
    model = _six()
    X, y = _data(16, 4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    mon = topo.BalanceMonitor(model).attach(opt)
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(X), y) + 0.1 * sum((p * p).sum() for p in model.parameters())
    loss.backward()
    with pytest.warns(EulerWarning, match="penalty on the weights"):
        opt.step()


# ----------------------------------------------------------------------------- probes, refusals, outputs
def test_dead_units_on_a_probe_batch():
    model = _mlp((4, 5, 2), seed=0)
    with torch.no_grad():
        model[0].bias[3] = -100.0
    X = torch.randn(16, 4, dtype=torch.float64)
    mon = topo.BalanceMonitor(model, batch=X)
    assert mon.history[0]["dead"] == 1 and mon.dead_units == ["0.3"]


def _replace(model):
    model[0].weight = torch.nn.Parameter(torch.zeros_like(model[0].weight))


def _reshape(model):
    model[0].weight.data = torch.zeros(model[0].weight.shape[0] + 1, model[0].weight.shape[1], dtype=torch.float64)


def _new_layer(model):
    model[0] = torch.nn.Linear(model[0].in_features, model[0].out_features).double()


def _delete(model):
    del model[0].weight
    model[0].weight = torch.zeros(8, 4, dtype=torch.float64)  # a plain tensor attribute: no longer a parameter


@pytest.mark.parametrize("change,what", [(_replace, "replaced"), (_reshape, "reshaped"), (_new_layer, "replaced"),
                                         (_delete, "removed")])
@pytest.mark.parametrize("read", ["step", "balances", "optimizer"])
def test_a_parameter_changed_under_the_monitor_is_refused_not_read_stale(change, what, read):
    """The monitor reads the tensors it was built on: after one is replaced (or reshaped through
    ``.data``, or its layer swapped) it read the old ones and reported their balances as current."""
    model = _mlp()
    mon = topo.BalanceMonitor(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    if read == "optimizer":
        mon.attach(opt)
    change(model)
    with pytest.raises(GraphError, match=f"parameter '0.weight' of the model was {what} after the monitor"):
        if read == "step":
            mon.step()
        elif read == "balances":
            mon.balances()
        else:
            opt.step()  # the hooks run (the step itself has no gradients to apply)


def test_attaching_an_optimizer_of_another_model_is_refused():
    model, other = _mlp(), _mlp(seed=1)
    mon = topo.BalanceMonitor(model)
    with pytest.raises(GraphError, match="the SGD holds none of the model's parameters"):
        mon.attach(torch.optim.SGD(other.parameters(), lr=0.1))
    part = torch.optim.SGD(model[2].parameters(), lr=0.1)  # part of the model (the rest frozen): accepted
    assert mon.attach(part) is mon


def test_collapsed_units_and_prunability():
    model = _mlp((3, 4, 2), seed=0)
    with torch.no_grad():
        model[0].weight[1].zero_()
        model[0].bias[1] = 0.0
        model[2].weight[:, 1] = 0.0
    mon = topo.BalanceMonitor(model)
    ref = {p.nodes[0]: p.distance for p in topo.prunability(mon.architecture, mon.imported.theta)}
    np.testing.assert_allclose(mon.prunability(), [ref[n] for n in mon.architecture.constrained], rtol=1e-12)
    assert mon.history[0]["collapsed"] == 1 and mon.history[0]["min_prunability"] == 0.0


def test_outputs_frame_summary_json_plot_and_sink(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    seen = []
    model = _mlp()
    X, y = _data(32, 4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=0.01)
    mon = topo.BalanceMonitor(model, every=2, sink=lambda values, step: seen.append((step, values))).attach(opt)
    assert mon.attach(opt) is mon
    _train(model, opt, X, y, 6)
    frame = mon.to_frame()
    assert list(frame["step"]) == [0, 2, 4, 6] and {"drift", "prediction_error", "decay_error"} <= set(frame)
    assert [s for s, _ in seen] == [0, 2, 4, 6] and "drift" in seen[-1][1]
    text = mon.summary()
    assert "drift" in text and "SGD law" in text and "Euler self-test: passed" in text
    path = mon.save(tmp_path / "h.json")
    data = load_history(path)
    assert data["records"] == json.loads(json.dumps(mon.history)) and len(data["balances"]) == 4
    assert len(data["prunability_hist"]) == 4
    fig = mon.plot()
    assert len(fig.axes) == 3
    written = []

    class Writer:
        def add_scalar(self, tag, value, step):
            written.append((tag, step))

    tensorboard_sink(Writer())(seen[-1][1], 6)
    assert ("topo/drift", 6) in written


def test_per_class_series_are_optional():
    mon = topo.BalanceMonitor(_mlp(), per_class=False)
    mon.step()
    assert mon.series is None and "balances" not in mon.to_dict() and len(mon.history) == 2


@pytest.mark.parametrize("per_class", [False, True])
def test_memory_per_record_is_o1_or_one_value_per_class(per_class):
    import tracemalloc

    mon = topo.BalanceMonitor(_mlp((6, 300, 200, 3)), per_class=per_class, frozen=False)
    m = mon.architecture.n_constrained
    mon.step()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(50):
        mon.step()
    per_record = (tracemalloc.get_traced_memory()[0] - before) / 50
    tracemalloc.stop()
    kept = 8 * m if per_class else 0  # the balances of every class, float64, and nothing else of size m
    assert kept <= per_record < kept + 4096, (per_record, m)


def test_a_file_that_is_not_a_history_is_refused(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"a": 1}')
    with pytest.raises(topo.errors.ReportError, match="not a balance history"):
        load_history(p)


def test_the_law_restarts_after_a_detached_stretch():
    """Steps taken while detached move the parameters: after attach the law is applied to
    the parameters read before the next step, not to the last record's."""
    model = _mlp()
    X, y = _data(32, 4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.01)
    mon = topo.BalanceMonitor(model).attach(opt)
    _train(model, opt, X, y, 2)
    mon.detach()
    _train(model, opt, X, y, 5)  # unseen by the monitor
    mon.attach(opt)
    _train(model, opt, X, y, 2)
    assert [r["step"] for r in mon.history] == [0, 1, 2, 3, 4]
    assert max(r["prediction_error"] for r in mon.history[1:]) < 1e-10
