"""topo.BalanceMonitor(background=True): records read on a worker thread while the loop
trains on, with the same values as the synchronous monitor, and the races it must see
(parameters changed by hand between steps, gradients changed in place) caught."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import topo  # noqa: E402
from topo.nn.monitor import MonitorWarning  # noqa: E402


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The background worker wants a spare core: one torch thread, as the docs advise."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "background=True with torch using", RuntimeWarning)  # a 1-core machine
        yield
    torch.set_num_threads(before)


def _mlp(widths=(5, 9, 7, 3), seed=11):
    return topo.zoo.mlp(widths, seed=seed)[0].double().train()  # a ReLU MLP, seeded, in float64


def _model(kind):
    if kind == "mlp":
        return _mlp(), 5
    torch.manual_seed(12)
    model, _ = topo.zoo.residual_mlp(width=6, depth=2, d_in=5, d_out=3)  # stream classes
    return model.double(), 5


def _run(kind, optimizer, *, background, steps=12, every=1, set_to_none=True, between=None, probe=False,
         late=False):
    """Train a seeded model with the monitor attached; the monitor, the sink's calls and the
    threads the sink ran on.  ``late``: each background record waits, on its worker thread,
    until the next backward pass is done (the worst case of the race with the loop)."""
    model, d = _model(kind)
    g = torch.Generator().manual_seed(13)
    X, y = torch.randn(48, d, generator=g, dtype=torch.float64), torch.randint(0, 3, (48,), generator=g)
    opt = optimizer(model.parameters())
    seen, threads = [], set()

    def sink(values, step):
        seen.append((step, values))
        threads.add(threading.get_ident())

    go = threading.Event()
    if late:  # registered before the monitor's hooks, so they run first: the record of step t
        opt.register_step_post_hook(lambda *args: go.clear())  # waits until step t + 1 begins,
        opt.register_step_pre_hook(lambda *args: go.set())  # after its backward pass
    mon = topo.BalanceMonitor(model, X[:2], every=every, sink=sink, background=background,
                              batch=X[:16] if probe else None).attach(opt)
    if late:
        measure = mon._measure

        def delayed(*job):
            assert go.wait(timeout=60)
            return measure(*job)
        mon._measure = delayed
    mon._go = go
    for t in range(steps):
        idx = torch.randperm(len(X), generator=g)[:16]
        opt.zero_grad(set_to_none=set_to_none)
        torch.nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
        opt.step()
        if mon.background and (t + 1) % every == 0:
            assert mon._pending is not None  # the record is being read on the worker thread
        if between is not None:
            between(t + 1, model)
    return mon, seen, threads


SGD = (lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01))
OPTIMIZERS = {
    "sgd": SGD,
    "momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
}


@pytest.mark.parametrize("kind", ["mlp", "stream"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("every", [1, 3])
def test_background_records_equal_the_synchronous_ones(kind, name, every):
    sync, sync_seen, _ = _run(kind, OPTIMIZERS[name], background=False, every=every, probe=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MonitorWarning)
        bg, bg_seen, threads = _run(kind, OPTIMIZERS[name], background=True, every=every, probe=True)
    assert bg.history == sync.history  # every number, bit for bit
    assert [r["step"] for r in bg.history] == list(range(0, 13, every))
    np.testing.assert_array_equal(bg.series, sync.series)
    assert bg_seen == sync_seen and threads == {threading.get_ident()}  # the sink runs on the caller's thread
    if name == "sgd":
        assert max(r["prediction_error"] for r in bg.history[1:]) < 1e-10
        assert bg._grads_fresh is True  # set_to_none: the gradients were read on the worker thread too
    assert bg.history[-1]["drift"] > 1e-6  # the parameters moved: the comparison is not vacuous


@pytest.mark.parametrize("set_to_none", [True, False])
def test_a_record_read_after_the_next_backward_pass_is_unchanged(set_to_none):
    """The worker reads only what the step hook handed it: held back until the loop has
    zeroed and refilled the gradients, its records equal the synchronous ones."""
    sync, _, _ = _run("mlp", SGD, background=False, set_to_none=set_to_none)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MonitorWarning)
        late, _, _ = _run("mlp", SGD, background=True, set_to_none=set_to_none, late=True, steps=11)
    assert late._pending is not None and not late._go.is_set()
    late._go.set()  # no step 12: let the last record go
    assert late.history == sync.history[:12] and late._grads_fresh is set_to_none
    assert max(r["prediction_error"] for r in late.history[1:]) < 1e-10


def test_balances_equal_a_fresh_import_after_each_background_record():
    fresh = []

    def check(t, model):
        imp = topo.from_torch(model, torch.zeros(2, 5, dtype=torch.float64))
        fresh.append(topo.balance(imp.architecture, imp.theta))

    mon, _, _ = _run("stream", SGD, background=True, steps=6, between=check)
    np.testing.assert_allclose(mon.series[1:], np.array(fresh), rtol=1e-12, atol=1e-12)


def test_zero_grad_without_set_to_none_reads_the_gradients_in_the_hook():
    """The same gradient tensors, zeroed and filled in place by every step: the monitor sees
    it at the second step and keeps reading them in the step hook; the law stays exact."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", MonitorWarning)
        mon, _, _ = _run("mlp", SGD, background=True, set_to_none=False)
    assert mon._grads_fresh is False
    sync, _, _ = _run("mlp", SGD, background=False, set_to_none=False)
    assert mon.history == sync.history and max(r["prediction_error"] for r in mon.history[1:]) < 1e-10


def test_parameters_changed_by_hand_between_steps_are_caught():
    def shrink(t, model):
        if t == 5:
            with torch.no_grad():
                model[0].weight.mul_(0.5)  # in place: PyTorch bumps the parameter's version

    with pytest.warns(MonitorWarning, match="parameters changed between optimizer steps"):
        mon, _, _ = _run("mlp", SGD, background=True, between=shrink)
    assert mon.background is False and mon._pool is None  # synchronous from then on
    recs = mon.history
    assert [r["step"] for r in recs] == list(range(13))
    # step 5 was read again after the change: not the SGD law's prediction any more
    assert recs[5]["prediction_error"] > 1e-3
    assert max(r["prediction_error"] for r in recs[1:5] + recs[6:]) < 1e-10
    imp = topo.from_torch(mon.model, torch.zeros(2, 5, dtype=torch.float64))
    np.testing.assert_allclose(mon.balances(), topo.balance(imp.architecture, imp.theta), rtol=1e-12, atol=1e-12)


def test_gradients_changed_in_place_while_read_drop_that_records_law():
    """With fresh gradients known (set_to_none), a hand-made in-place change of a gradient
    the worker reads cannot be undone: that record has no SGD-law check, and a warning."""
    def clobber(t, model):
        if t == 4:
            model[2].weight.grad.mul_(3.0)

    with pytest.warns(MonitorWarning, match="gradients were changed in place"):
        mon, _, _ = _run("mlp", SGD, background=True, between=clobber)
    recs = mon.history
    assert mon._grads_fresh is False and "prediction_error" not in recs[4]
    assert all("prediction_error" in r for r in recs[1:4] + recs[5:])
    assert max(r["prediction_error"] for r in recs[1:4] + recs[5:]) < 1e-10


def test_detach_flushes_and_reattach_restarts_the_worker():
    mon, seen, _ = _run("mlp", SGD, background=True, steps=3)
    assert mon._pending is not None and len(seen) == 3  # the last record is still out
    mon.detach()
    assert mon._pending is None and mon._pool is None and len(seen) == 4 and len(mon._history) == 4
    opt = torch.optim.SGD(mon.model.parameters(), lr=0.1)
    assert mon.attach(opt)._pool is not None
    mon.detach()


def test_every_output_waits_for_the_record_in_the_background(tmp_path):
    for read in (lambda m: m.history, lambda m: m.to_frame(), lambda m: m.series, lambda m: m.balances(),
                 lambda m: m.to_dict(), lambda m: m.save(tmp_path / "h.json"), lambda m: m.dead_units):
        mon, _, _ = _run("mlp", SGD, background=True, steps=2)
        assert mon._pending is not None
        read(mon)
        assert mon._pending is None and len(mon._history) == 3
        mon.detach()


def test_background_must_be_a_bool():
    with pytest.raises(topo.errors.ParameterError, match="background"):
        topo.BalanceMonitor(_mlp(), background="yes")


def test_an_error_on_the_worker_thread_is_raised_by_the_next_flush():
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mon = topo.BalanceMonitor(model, background=True).attach(opt)

    def broken(*job):
        raise FloatingPointError("boom on the worker")
    mon._measure = broken
    torch.nn.functional.mse_loss(model(torch.randn(4, 5, dtype=torch.float64)), torch.zeros(4, 3,
                                                                                             dtype=torch.float64)).backward()
    opt.step()
    with pytest.raises(FloatingPointError, match="boom on the worker"):
        mon.flush()
    mon.detach()


def test_a_script_that_ends_with_a_record_in_the_background_exits_cleanly(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "import torch, topo\n"
        "torch.manual_seed(0)\n"
        "net = torch.nn.Sequential(torch.nn.Linear(300, 300), torch.nn.ReLU(), torch.nn.Linear(300, 3))\n"
        "opt = torch.optim.SGD(net.parameters(), lr=1e-3)\n"
        "mon = topo.BalanceMonitor(net, background=True).attach(opt)\n"
        "measure = mon._measure\n"
        "def slow(*job):  # still inside torch when the script ends\n"
        "    for _ in range(200):\n"
        "        torch.randn(300, 300).square().sum()\n"
        "    return measure(*job)\n"
        "mon._measure = slow\n"
        "X = torch.randn(32, 300)\n"
        "for _ in range(5):\n"
        "    opt.zero_grad(); net(X).square().mean().backward(); opt.step()\n"
        "print('records', len(mon._history), 'pending', mon._pending is not None)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "records 5 pending True" in done.stdout and "terminate" not in done.stderr


def test_background_without_a_spare_core_says_it_will_not_pay():
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(cores)
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(RuntimeWarning, match=f"torch using {cores} threads on {cores} cores"):
            topo.BalanceMonitor(model, background=True).attach(opt)
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        if cores > 1:
            topo.BalanceMonitor(model, background=True).attach(opt).detach()  # a spare core: no warning


def test_a_closure_step_gives_the_synchronous_records():
    """optimizer.step(closure): the gradients are computed inside the step, after the pre-hook."""
    def run(background):
        model = _mlp()
        g = torch.Generator().manual_seed(21)
        X, y = torch.randn(32, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (32,), generator=g)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.01)
        mon = topo.BalanceMonitor(model, background=background).attach(opt, euler=False)

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X), y)
            loss.backward()
            return loss
        for _ in range(6):
            opt.step(closure)
        return mon

    with warnings.catch_warnings():
        warnings.simplefilter("error", MonitorWarning)
        bg = run(True)
    sync = run(False)
    assert bg.history == sync.history and bg._grads_fresh is False
    assert max(r["prediction_error"] for r in bg.history[1:]) < 1e-10


def test_a_convolutional_resnet_gives_the_synchronous_records():
    """Convolutions (k > 1 taps per edge) and stream classes, SGD with weight decay, 2 images 3x8x8."""
    def run(background):
        model, _ = topo.zoo.resnet18(batchnorm=False, width=4, num_classes=3)
        model = model.double().train()
        g = torch.Generator().manual_seed(31)
        X, y = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64), torch.tensor([0, 2])
        opt = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=1e-3)
        mon = topo.BalanceMonitor(model, X, frozen=False, background=background).attach(opt)
        for _ in range(4):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X), y).backward()
            opt.step()
        return mon

    bg, sync = run(True), run(False)
    assert bg.history == sync.history and bg._grads_fresh is True
    assert max(r["prediction_error"] for r in bg.history[1:]) < 1e-10 and bg.history[-1]["drift"] > 1e-8
