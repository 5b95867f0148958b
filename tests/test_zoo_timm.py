"""timm's ReLU families imported with their laws (needs torch and timm).

timm is an optional test dependency installed without its dependencies next to the CPU torch
(``pip install --no-deps torchvision==0.28.0 timm==1.0.31 huggingface_hub safetensors``; see
docs/torch.md).  The suite checks the cheapest architecture of each kind of block
(``tests/zoo_timm.CI``); ``python benchmarks/zoo_table.py`` checks all of ``tests/zoo_timm.ZOO``
and prints the table of docs/torch.md.
"""

import pytest

pytest.importorskip("torch", reason="needs torch (pip install torch from the CPU index)")

from tests import zoo_timm  # noqa: E402

try:
    zoo_timm.import_timm()
except ImportError as exc:  # pragma: no cover - timm is an optional test dependency
    pytest.skip(f"needs timm (pip install --no-deps timm==1.0.31 torchvision==0.28.0 huggingface_hub "
                f"safetensors): {exc}", allow_module_level=True)


@pytest.mark.parametrize("name", zoo_timm.CI)
def test_timm_architecture_imports_with_its_laws(name):
    row = zoo_timm.check(name, n_units=12)
    assert "refused" not in row, row.get("refused")
    assert row["constrained"] > 0 and row["checked"] >= 3, row


def test_the_monitor_follows_a_timm_norm_act_model_in_training():
    """timm's BatchNormAct2d (``F.batch_norm`` then its own ReLU) in training mode: the monitor's
    batch-statistics import gives exact laws (SGD law, balances of a fresh import after each step)."""
    import numpy as np
    import torch

    import topo

    model, _ = zoo_timm.build("regnetx_002")
    model.train()
    g = torch.Generator().manual_seed(1)
    X = torch.randn(4, 3, 32, 32, generator=g, dtype=torch.float64)
    y = torch.randint(0, 1000, (4,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, weight_decay=1e-4)
    mon = topo.BalanceMonitor(model, X[:2]).attach(opt)
    assert mon.architecture.n_constrained > 1000
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
        assert mon.history[-1]["prediction_error"] < 1e-10
    fresh = topo.from_torch(model, X[:2], batch_statistics=True)
    c = topo.balance(fresh.architecture, fresh.theta)
    np.testing.assert_allclose(mon.balances(), c, rtol=1e-12, atol=1e-12 * np.abs(c).max())
    assert not mon.euler["failed"] and model.training
