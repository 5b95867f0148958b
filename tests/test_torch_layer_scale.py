"""Layer scale ``x * γ`` (ConvNeXt, InceptionNeXt, CaiT): a per-channel parameter broadcast along the
channels is a unit per channel with one trainable edge of weight ``γ_c`` named at ``γ``, so the
residual stream after it keeps its law.  Oracles: Euler's identity with autograd, rescaling in the
model itself, every edge source a real parameter; a buffer gives fixed edges, a scalar or shared
factor does not become an edge (free units / weight sharing refused)."""

import numpy as np
import pytest

import topo

torch = pytest.importorskip("torch")

from tests.oracles_torch import euler_residuals, rescaled_outputs  # noqa: E402

nn = torch.nn


class _Block(nn.Module):
    """``z + γ ⊙ pw(relu(dw(z)))`` twice on a stream, channels first or (``last``) channel-last."""

    def __init__(self, c=4, *, last=False, buffer=False, scalar=False, shared=False):
        super().__init__()
        self.stem, self.head = nn.Conv2d(3, c, 3, padding=1), nn.Linear(c, 2)
        self.dw = nn.ModuleList(nn.Conv2d(c, c, 3, padding=1, groups=c) for _ in range(2))
        self.pw = nn.ModuleList(nn.Linear(c, c) if last else nn.Conv2d(c, c, 1) for _ in range(2))
        shape = () if scalar else (c,)
        g = [torch.rand(shape, dtype=torch.float64) + 0.5 for _ in range(2)]
        if buffer:
            self.register_buffer("g0", g[0])
            self.register_buffer("g1", g[1])
        else:
            self.g0, self.g1 = nn.Parameter(g[0]), nn.Parameter(g[1])
        self.last, self.shared = last, shared

    def forward(self, x):
        z = self.stem(x)
        for i in range(2):
            h = torch.relu(self.dw[i](z))
            gamma = self.g0 if (i == 0 or self.shared) else self.g1
            if self.last:
                h = self.pw[i](h.permute(0, 2, 3, 1)) * gamma  # channel-last: γ broadcasts on the last dim
                h = h.permute(0, 3, 1, 2)
            else:
                h = self.pw[i](h) * (gamma.view(1, -1, 1, 1) if gamma.dim() else gamma)
            z = z + h
        return self.head(torch.relu(z).mean((2, 3)))


def _model(**kw):
    torch.manual_seed(1)
    return _Block(**kw).double().eval(), torch.randn(4, 3, 6, 6, dtype=torch.float64)


@pytest.mark.parametrize("last", [False, True])
def test_layer_scale_is_a_trainable_edge_and_the_stream_keeps_its_law(last):
    model, x = _model(last=last)
    imp = topo.from_torch(model, x)
    arch = imp.architecture
    assert imp.unsupported == [] and arch.free == []
    scale_edges = [e for e in arch.edges if e in imp.edge_source and imp.edge_source[e][1] in ("g0", "g1")]
    assert len(scale_edges) == 8 and all(arch.edge_trainable[arch.edge_index(e)] for e in scale_edges)
    assert {imp.edge_source[e][2] for e in scale_edges} == {(0,), (1,), (2,), (3,)}
    streams = [k for k in arch.rescaling_classes if len(k) > 1]
    assert len(streams) == 4  # one class per stream channel: the stem's output, the two sums
    assert max(euler_residuals(model, imp, x).values()) < 1e-9
    for v in (streams[0][0], arch.constrained[-1]):
        before, after = rescaled_outputs(model, imp, x, v, 1.8)
        np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=1e-9, atol=1e-11)
        before, control = rescaled_outputs(model, imp, x, v, 1.8, leaving=False)
        assert not np.allclose(control.numpy(), before.numpy(), rtol=1e-6, atol=1e-9)


def test_a_buffer_scale_gives_fixed_edges():
    model, x = _model(buffer=True)
    imp = topo.from_torch(model, x)
    assert imp.unsupported == [] and not any(p in ("g0", "g1") for _, p in imp.edge_source.parameters())
    assert max(euler_residuals(model, imp, x).values()) < 1e-9


def test_a_scalar_scale_is_not_a_per_channel_edge():
    """One number for every channel is weight sharing across the channels: not an edge per channel."""
    model, x = _model(scalar=True)
    with pytest.warns(UserWarning):
        imp = topo.from_torch(model, x)
    assert ("mul", "mul") in imp.unsupported
    assert max(euler_residuals(model, imp, x).values()) < 1e-9


def test_one_scale_used_twice_is_refused_as_weight_sharing():
    model, x = _model(shared=True)
    with pytest.raises(topo.GraphError) as info:
        topo.from_torch(model, x)
    assert "shared" in str(info.value) and "g0" in str(info.value) and "\n" not in str(info.value)


def test_the_monitor_follows_layer_scale_under_sgd():
    model, x = _model()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=0.01)
    mon = topo.BalanceMonitor(model, x, frozen=False).attach(opt)
    target = torch.randn(4, 2, dtype=torch.float64)
    for _ in range(3):
        opt.zero_grad()
        ((model(x) - target) ** 2).mean().backward()
        opt.step()
    imp = topo.from_torch(model, x)
    np.testing.assert_allclose(mon.balances(), topo.balance(imp.architecture, imp.theta), rtol=1e-12, atol=1e-12)
    assert mon.euler["failed"] == [] and max(r["prediction_error"] for r in mon.history[1:]) < 1e-10


class _TorchvisionScale(nn.Module):
    """torchvision's ConvNeXt keeps its layer scale as a ``(C, 1, 1)`` parameter and multiplies directly."""

    def __init__(self, c=3):
        super().__init__()
        self.conv, self.pw, self.head = nn.Conv2d(2, c, 3, padding=1), nn.Conv2d(c, c, 1), nn.Linear(c, 2)
        self.layer_scale = nn.Parameter(torch.rand(c, 1, 1, dtype=torch.float64) + 0.5)
        self.wrong_axis = nn.Parameter(torch.rand(1, c, 1, dtype=torch.float64) + 0.5)

    def forward(self, x):
        z = self.conv(x)
        z = z + self.layer_scale * self.pw(torch.relu(z))
        return self.head(torch.relu(z).mean((2, 3)))


def test_a_c_1_1_parameter_is_a_layer_scale_named_by_its_first_index():
    torch.manual_seed(2)
    model, x = _TorchvisionScale().double().eval(), torch.randn(3, 2, 5, 5, dtype=torch.float64)
    imp = topo.from_torch(model, x)
    arch = imp.architecture
    scale = [e for e in arch.edges if e in imp.edge_source and imp.edge_source[e][1] == "layer_scale"]
    assert imp.unsupported == [] and [imp.edge_source[e][2] for e in scale] == [(0,), (1,), (2,)]
    assert max(euler_residuals(model, imp, x).values()) < 1e-9


def test_torchvision_convnext_in_eval_mode_has_no_unsupported_stochastic_depth():
    """torchvision's ConvNeXt (layer scale as a (C, 1, 1) parameter, ``torchvision.ops.stochastic_depth``,
    the identity in eval mode): nothing unsupported but GELU, and the laws it keeps hold."""
    import sys
    import types

    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    convnext = pytest.importorskip("torchvision.models.convnext")
    torch.manual_seed(0)
    model = convnext.ConvNeXt([convnext.CNBlockConfig(8, 16, 2), convnext.CNBlockConfig(16, None, 1)],
                              num_classes=3, layer_scale=0.7, stochastic_depth_prob=0.2).eval().double()
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    with pytest.warns(UserWarning):
        imp = topo.from_torch(model, x)
    assert {t for t, _ in imp.unsupported} == {"GELU"}
    scale = [e for e in imp.architecture.edges if e in imp.edge_source and imp.edge_source[e][1] == "layer_scale"]
    assert len(scale) == 2 * 8 + 16
    assert max(euler_residuals(model, imp, x).values()) < 1e-9
