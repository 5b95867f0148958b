"""The optional PyTorch Lightning callback (topo.nn.lightning); the fit test needs Lightning (CI installs it).

With plain SGD in float64 the callback's monitor sees every optimizer step of a
Trainer.fit, its SGD law holds to rounding, the Euler self-test ran on real gradients,
the numbers reach the logger, and the history is saved."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest

torch = pytest.importorskip("torch")
# the system torchvision needs this stub before anything imports it (torchmetrics does)
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

import topo  # noqa: E402
import topo.nn.lightning as tl  # noqa: E402  (importable without Lightning)

HAVE = importlib.util.find_spec("lightning") is not None or importlib.util.find_spec("pytorch_lightning") is not None


def test_the_module_imports_without_lightning_and_names_the_extra(monkeypatch):
    # Lightning made unimportable (a None entry in sys.modules stops an import), installed or not
    for name in ("lightning", "lightning.pytorch", "lightning.pytorch.callbacks", "pytorch_lightning",
                 "pytorch_lightning.callbacks"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"topo\[lightning\]"):
        tl.BalanceMonitorCallback  # noqa: B018


@pytest.mark.skipif(not HAVE, reason="needs lightning or pytorch_lightning (the lightning extra)")
def test_the_callback_monitors_a_fit(tmp_path):
    try:
        import lightning.pytorch as pl
    except ImportError:
        import pytorch_lightning as pl

    class Net(pl.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).double()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1, weight_decay=0.01)

    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(64, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (64,), generator=g)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16)
    seen = []

    class Logger(pl.loggers.logger.Logger if hasattr(pl.loggers, "logger") else pl.loggers.Logger):
        name, version, experiment = "mem", 0, None

        def log_metrics(self, metrics, step=None):
            seen.append(dict(metrics))

        def log_hyperparams(self, *args, **kwargs):
            pass

    callback = tl.BalanceMonitorCallback(module="net", save=tmp_path / "h.json")
    trainer = pl.Trainer(max_epochs=2, callbacks=[callback], logger=Logger(), log_every_n_steps=1,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu")
    trainer.fit(Net(), loader)
    mon = callback.monitor
    assert [r["step"] for r in mon.history] == list(range(9))  # 4 batches x 2 epochs, and the start
    assert max(r["prediction_error"] for r in mon.history[1:]) < 1e-10 and mon.history[-1]["drift"] > 1e-6
    assert mon.euler["failed"] == [] and mon.euler["checked"] == 6  # real gradients: every hidden unit
    assert any("topo/drift" in m for m in seen)
    assert topo.nn.monitor_records.load_history(tmp_path / "h.json")["records"][-1]["step"] == 8
