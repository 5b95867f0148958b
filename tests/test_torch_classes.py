"""Rescaling classes of imported PyTorch models (issue 18): residual streams, scaled copies
and units read twice share one balance per channel.

Generic oracles on every model (tests/oracles_torch.py): the Euler identity of each class
with autograd on the model itself, and rescaling a class in the model's own parameters
leaves ``model(x)`` unchanged while rescaling only its entering edges (the negative
control) changes it.  Classes are recomputed there from the fixed edges by networkx.
"""

import numpy as np
import pytest

import topo

torch = pytest.importorskip("torch")

from tests.oracles_torch import euler_residuals, rescaled_outputs  # noqa: E402

nn = torch.nn
F = torch.nn.functional


class IssueResidualMLP(nn.Module):
    """``z = relu(l1(x)); z = relu(z + b(relu(a(z)))); y = o(z)``, widths 3-4-5-4-2."""

    def __init__(self):
        super().__init__()
        self.l1, self.a, self.b, self.o = nn.Linear(3, 4), nn.Linear(4, 5), nn.Linear(5, 4), nn.Linear(4, 2)

    def forward(self, x):
        z = torch.relu(self.l1(x))
        z = torch.relu(z + self.b(torch.relu(self.a(z))))
        return self.o(z)


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion + ReLU6, depthwise 3x3 + ReLU6, linear 1x1 projection,
    identity skip; two blocks after a linear stem so that the stream is linear throughout."""

    def __init__(self, c=4, t=3):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, c * t, 1), nn.ReLU6(), nn.Conv2d(c * t, c * t, 3, padding=1, groups=c * t),
                          nn.ReLU6(), nn.Conv2d(c * t, c, 1)) for _ in range(2))
        self.head = nn.Conv2d(c, 2, 1)

    def forward(self, x):
        z = self.stem(x)
        for blk in self.blocks:
            z = z + blk(z)
        return self.head(torch.relu(z)).mean((2, 3))


class ScaledCopy(nn.Module):
    """``h`` read twice: once as itself, once as ``0.5 * h`` and concatenated."""

    def __init__(self):
        super().__init__()
        self.a, self.o = nn.Linear(3, 4), nn.Linear(8, 2)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return self.o(torch.cat([h, 0.5 * h], dim=1))


def _models():
    torch.manual_seed(7)
    rn, xr = topo.zoo.resnet18(width=4, batchnorm=True)
    return {
        "issue_residual_mlp": (IssueResidualMLP(), torch.randn(6, 3)),
        "zoo_residual_mlp": topo.zoo.residual_mlp(width=5, depth=3),
        "inverted_residual": (InvertedResidual(), torch.randn(2, 3, 6, 6)),
        "scaled_copy": (ScaledCopy(), torch.randn(6, 3)),
        "resnet18_w4": (rn, xr[:1]),
    }


MODELS = _models()


def test_the_issue_residual_mlp_has_five_plus_four_balances():
    model, x = MODELS["issue_residual_mlp"]
    arch = topo.from_torch(model, x).architecture
    assert arch.n_constrained == 9 and arch.n_shared == 4 and arch.free == []
    streams = [k for k in arch.rescaling_classes if len(k) > 1]
    assert all(len(k) == 3 for k in streams)  # relu(l1)_k, the sum_k, relu(sum)_k
    audit = topo.audit(model, example_input=x)
    assert "9 conserved balances" in audit.summary() and "4 shared along residual streams" in audit.summary()


def test_every_projection_channel_of_an_inverted_residual_carries_a_law():
    model, x = MODELS["inverted_residual"]
    arch = topo.from_torch(model, x).architecture
    # the stream (stem output, both projections, both sums) is one class per channel: 4 laws;
    # the ReLU6 expansion/depthwise units are free, the head's ReLU joins its stream class? no:
    # relu(z) is a unit of its own fed by a fixed edge -> it joins the stream class too
    assert arch.n_constrained == 4 and arch.n_shared == 4
    assert {r.split(" ")[0] for r in arch.free_reasons.values()} == {"activation"}


def test_a_scaled_copy_joins_its_original():
    model, x = MODELS["scaled_copy"]
    arch = topo.from_torch(model, x).architecture
    assert arch.n_constrained == 4 and arch.n_shared == 4


@pytest.mark.parametrize("name", sorted(MODELS))
def test_euler_identity_of_every_class(name):
    model, x = MODELS[name]
    imp = topo.from_torch(model, x)
    arch = imp.architecture
    res = euler_residuals(model, imp, x)
    assert len(res) == arch.n_constrained and max(res.values()) < 1e-9, max(res.values())
    # negative control: the members of a shared class taken one by one break the identity
    shared = [k[0] for k in arch.rescaling_classes if len(k) > 1]
    if shared:
        alone = euler_residuals(model, imp, x, units=shared[:20], drop_fixed=True)
        assert max(alone.values()) > 1e-6


@pytest.mark.parametrize("name", sorted(MODELS))
def test_rescaling_a_class_in_the_model_keeps_its_function(name):
    model, x = MODELS[name]
    imp = topo.from_torch(model, x)
    arch = imp.architecture
    rng = np.random.default_rng(99)
    shared = [r for r, k in enumerate(arch.rescaling_classes) if len(k) > 1]
    rows = np.unique(np.concatenate([rng.choice(arch.n_constrained, size=min(6, arch.n_constrained), replace=False),
                                     rng.choice(shared, size=min(3, len(shared)), replace=False)]))
    big = torch.randn((32,) + tuple(x.shape[1:]), generator=torch.Generator().manual_seed(5))  # few dead units
    changed, shared_moved = 0, False
    for r in rows.tolist():
        v = arch.constrained[r]
        alpha = float(rng.uniform(0.4, 2.5))
        before, after = rescaled_outputs(model, imp, big, v, alpha)
        np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=1e-9, atol=1e-10)
        before, control = rescaled_outputs(model, imp, big, v, alpha, leaving=False)
        moved = not np.allclose(control.numpy(), before.numpy(), rtol=1e-6, atol=1e-9)
        changed += moved
        shared_moved = shared_moved or (moved and r in shared)
    # a class dead on every sample (its ReLU never active) may not move the output
    assert changed >= len(rows) // 2 and (shared_moved or not shared)
