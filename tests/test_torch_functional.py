"""Functional forms and channel-last blocks, as timm writes them (needs torch, not timm).

The blocks below are written the way timm's layers are (a ``BatchNorm2d`` subclass that calls
``F.batch_norm`` and applies its own activation, an ``nn.Linear`` subclass calling ``F.linear``,
weight-standardised convolutions, ConvNeXt's permute-to-NHWC ``Linear``, TResNet's space-to-depth):
torch.fx traces through them, so the import sees functions and ``get_attr`` nodes, not modules.
Every model is checked by the autograd Euler identity of ``tests/oracles_torch.py``.
"""

import warnings

import numpy as np
import pytest

import topo

torch = pytest.importorskip("torch")

from tests.oracles_torch import edge_terms, euler_residuals  # noqa: E402

from topo.errors import GraphError  # noqa: E402
from topo.nn.result import UnsupportedLayerWarning  # noqa: E402
from topo.nn.trace import from_torch  # noqa: E402

nn = torch.nn
F = torch.nn.functional


class BatchNormAct(nn.BatchNorm2d):
    """timm's ``BatchNormAct2d``: the functional BatchNorm, then its own activation."""

    def __init__(self, c):
        super().__init__(c)
        self.drop = nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                         self.momentum, self.eps)
        return self.act(self.drop(x))


class Linear(nn.Linear):
    """timm's ``Linear``: an ``nn.Linear`` subclass that calls ``F.linear``."""

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class Conv(nn.Conv2d):
    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class StdConv(nn.Conv2d):
    """timm's ``StdConv2d``: weights standardised per output filter before the convolution."""

    def forward(self, x):
        w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, training=True,
                         momentum=0.0, eps=1e-6).reshape_as(self.weight)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class NormActNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = Conv(3, 6, 3, padding=1, bias=False), BatchNormAct(6)
        self.conv2, self.bn2 = nn.Conv2d(6, 6, 3, padding=1, groups=2), BatchNormAct(6)
        self.pre = BatchNormAct(6)  # pre-activation: read by the residual too, so a unit per channel
        self.conv3 = nn.Conv2d(6, 6, 1)
        self.fc = Linear(6, 3)

    def forward(self, x):
        x = self.bn2(self.conv2(self.bn1(self.conv1(x))))
        x = x + self.conv3(self.pre(x))
        return self.fc(x.mean((2, 3)))


class ConvNeXtBlock(nn.Module):
    """ConvNeXt with ReLU: depthwise conv, permute to NHWC, LayerNorm and Linear over channels, back."""

    def __init__(self, c=4):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 2, stride=2)
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.norm = nn.LayerNorm(c)
        self.fc1, self.fc2 = nn.Linear(c, 2 * c), Linear(2 * c, c)
        self.head = nn.Linear(c, 2)

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(torch.relu(self.fc1(self.norm(y))))
        x = x + y.permute(0, 3, 1, 2)
        return self.head(x.mean((2, 3)))


class SpaceToDepth(nn.Module):
    """TResNet's stem: a space-to-depth view, then a convolution."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(12, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        x = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).contiguous()
        x = x.view(n, c * 4, h // 2, w // 2)
        return self.conv2(torch.relu(self.conv(x)))


def _bn_stats(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm)):
                n = m.weight.numel()
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
    return model.eval().double()


def _checked(model, x):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnsupportedLayerWarning)
        imp = from_torch(model, x)
    res = euler_residuals(model, imp, x)
    assert res and max(res.values()) < 1e-9, max(res.items(), key=lambda kv: kv[1])
    return imp


def test_functional_batchnorm_is_the_module_form():
    torch.manual_seed(0)
    model, x = _bn_stats(NormActNet()), torch.randn(2, 3, 6, 6, dtype=torch.float64)
    imp = _checked(model, x)
    arch, src = imp.architecture, imp.edge_source
    # bn1 and bn2 fold into the convolutions before them (as the module form does); pre is a unit per channel
    assert "folded with BatchNorm 'bn1'" in src.note(("x.c0", "conv1.0"))
    assert "folded with BatchNorm 'bn2'" in src.note(("conv1.0", "conv2.0"))
    assert src[("pre.0", "conv3.0")] == ("conv3", "weight", (0, 0))
    assert "BatchNorm scale" in src.note(("conv2.0", "pre.0")) or "BatchNorm scale" in src.note(("add.0", "pre.0"))
    # conv2's units are read twice (pre and the residual): the residual's fixed edge and conv3's put them in
    # one stream class per channel with the sum
    assert set(arch.constrained) == {f"{q}.{i}" for q in ("conv1", "conv2", "pre") for i in range(6)}
    assert all(sorted(arch.class_members(f"conv2.{i}")) == sorted([f"conv2.{i}", f"conv3.{i}", f"add.{i}"])
               for i in range(6))
    assert src[("conv2.5", "pre.5")][:2] == ("pre", "weight")
    # the timm Linear's weights are on the graph
    assert src[("add.2", "fc.1")] == ("fc", "weight", (1, 2))
    n_trainable = int(arch.edge_sizes[arch.edge_trainable].sum())
    # every parameter is on an edge, less what folding merges: bn1's and bn2's γ, bn2's β into conv2's bias
    assert n_trainable == sum(p.numel() for p in model.parameters()) - 6 - 6 - 6


def test_channel_last_linear_is_a_1x1_convolution():
    torch.manual_seed(1)
    model, x = _bn_stats(ConvNeXtBlock()), torch.randn(2, 3, 8, 8, dtype=torch.float64)
    imp = _checked(model, x)
    arch = imp.architecture
    # fc1's units are constrained (a 1x1 convolution over the channels, ReLU); the LayerNorm's are free
    assert {f"fc1.{i}" for i in range(8)} <= set(arch.constrained)
    assert imp.edge_source[("fc1.3", "fc2.1")] == ("fc2", "weight", (1, 3))
    reasons = imp.free_reasons
    normed = [v for v in arch.free if reasons[v].startswith("LayerNorm 'norm' normalises across all channels")]
    assert len(normed) == 4 + 4  # its input (the depthwise conv) and its output
    assert "no rescaling law" in reasons[normed[0]]
    # γ and β of the LayerNorm are a unit per channel, constrained (its out-edges are fc1's weights)
    assert {f"norm.{i}" for i in range(4)} <= set(arch.constrained)


def test_space_to_depth_is_a_relabelling():
    torch.manual_seed(2)
    model, x = SpaceToDepth().eval().double(), torch.randn(1, 3, 8, 8, dtype=torch.float64)
    imp = _checked(model, x)
    arch = imp.architecture
    assert set(arch.constrained) == {f"conv.{i}" for i in range(4)}
    # each of the 12 channels the convolution reads is one input channel (a copy by a fixed edge)
    assert sum(1 for v in arch.nodes if str(v).startswith("view_1")) == 12 - 3
    assert arch.n_params - int((~arch.edge_trainable).sum()) == sum(p.numel() for p in model.parameters())


def test_weight_standardised_convolution_is_free_with_the_reason():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), StdConv(4, 5, 3), nn.ReLU(), nn.Conv2d(5, 2, 1)).eval()
    x = torch.randn(1, 3, 9, 9)
    imp = from_torch(model, x)
    reasons = imp.free_reasons
    std = [v for v in imp.architecture.free if "standardised" in reasons[v]]
    assert sorted(std) == sorted([f"0.{i}" for i in range(4)] + [f"conv2d.{i}" for i in range(5)])
    assert "scale-invariant weights: no rescaling law" in reasons["0.0"]
    assert not imp.unsupported  # a stated reason, not an unsupported operation


def test_negative_control_fails_on_a_wrong_grouping():
    torch.manual_seed(4)
    model, x = _bn_stats(NormActNet()), torch.randn(2, 3, 6, 6, dtype=torch.float64)
    imp = from_torch(model, x)
    arch = imp.architecture
    terms = edge_terms(model, imp, x)
    v, w = "conv1.1", "conv1.4"  # the same layer, different units

    def side(u, ends):
        return terms[np.flatnonzero(ends == arch.node_index(u))].sum()

    right, wrong = side(v, arch.dst) - side(v, arch.src), side(v, arch.dst) - side(w, arch.src)
    assert abs(right) < 1e-9 * abs(side(v, arch.dst)) < abs(wrong)


class ClassToken(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, 4, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, 4))
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1)
        return self.head(torch.relu(t[:, 0]))


def test_parameters_in_a_relabelling_and_tuple_outputs():
    torch.manual_seed(5)
    with pytest.warns(UnsupportedLayerWarning, match="cat"):
        imp = from_torch(ClassToken().eval(), torch.randn(1, 3, 8, 8))
    assert imp.architecture.n_nodes > 0

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, x, mask=None):
            h = torch.relu(self.a(x))
            return {"logits": self.b(h), "features": (h, None)}

    imp = from_torch(Two().eval(), torch.randn(2, 3))
    assert len(imp.architecture.outputs) == 2 + 4


def test_nested_outputs_and_in_place_hook_trace_refused_in_one_line():
    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.fc = nn.LSTM(3, 4, batch_first=True), nn.Linear(4, 2)

        def forward(self, x):
            out, (h, c) = self.rnn(x)
            return self.fc(out[:, -1])

    with pytest.raises(GraphError, match="LSTM 'rnn' returns a nested structure") as err:
        from_torch(Recurrent().eval(), torch.randn(2, 5, 3))
    assert "\n" not in str(err.value)

    class GuardedBN(nn.BatchNorm2d):
        def forward(self, x):
            return super().forward(x) if x.sum() > -1e9 else x  # torch.fx cannot trace this

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.relu, self.out = nn.Conv2d(3, 3, 3, padding=1), GuardedBN(3), nn.ReLU(), nn.Conv2d(3, 2, 1)

        def forward(self, x):
            y = self.bn(self.conv(x))
            y += x  # in place: the tensor keeps its id()
            return self.out(self.relu(y))

    with pytest.raises(GraphError, match=r"output of 'bn' was modified in place .* before 'relu' read it") as err:
        from_torch(Block().eval(), torch.randn(1, 3, 6, 6))
    assert "\n" not in str(err.value)


def test_token_mixing_refused_naming_the_layer():
    class Mixer(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Conv2d(3, 4, 2, stride=2)
            self.tokens = nn.Linear(16, 16)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            t = self.embed(x).flatten(2)  # (batch, channels, tokens)
            t = self.tokens(t)  # mixes the tokens of each channel
            return self.head(t.mean(2))

    with pytest.raises(GraphError, match=r"Linear 'tokens' .*\(token mixing\)") as err:
        from_torch(Mixer().eval(), torch.randn(1, 3, 8, 8))
    assert "\n" not in str(err.value)


class _Heads(torch.nn.Module):
    """A Linear to 3C split into three C-wide parts (q, k, v of attention) by ``unbind`` or by ``chunk``."""

    def __init__(self, by_unbind: bool, c: int = 4):
        super().__init__()
        self.by_unbind, self.c = by_unbind, c
        self.lin, self.out = torch.nn.Linear(3, 3 * c), torch.nn.Linear(c, 2)

    def forward(self, x):
        h = self.lin(x)
        q, k, v = h.reshape(x.shape[0], 3, self.c).unbind(1) if self.by_unbind else h.chunk(3, dim=1)
        return self.out(torch.relu(q) + torch.relu(k) - v)


def test_unbind_is_a_relabelling_like_chunk():
    torch.manual_seed(0)
    a, b = _Heads(True), _Heads(False)
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 3)
    ia, ib = from_torch(a.eval(), x), from_torch(b.eval(), x)
    assert ia.architecture.edges == ib.architecture.edges
    np.testing.assert_array_equal(ia.theta, ib.theta)
    np.testing.assert_allclose(topo.forward(ia.architecture, ia.theta, x.numpy()), a(x).detach().numpy(), rtol=1e-6,
                               atol=1e-6)
