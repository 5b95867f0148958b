"""torchvision-style blocks imported exactly (needs torch; torchvision itself is not importable here).

Every model is checked by the generic oracles of ``tests/oracles_torch.py``: the Euler
identity of the rescaling symmetry at every constrained unit (autograd on the model),
every edge's weights found at its ``edge_source``, and for neuron-level models
``forward == model(x)`` in random trace orders.
"""

import random
import warnings

import numpy as np
import pytest

import topo

torch = pytest.importorskip("torch")

from tests.oracles_torch import edge_terms, euler_residuals  # noqa: E402

from topo.nn.result import UnsupportedLayerWarning  # noqa: E402
from topo.nn.trace import from_torch  # noqa: E402

nn = torch.nn
F = torch.nn.functional


def _randomise_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
    return model.eval()


def _bn_relu_conv(cin, cout, k=3, **kw):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False, **kw), nn.BatchNorm2d(cout), nn.ReLU())


# ----------------------------------------------------------------------------- blocks
class DenseLayer(nn.Module):
    """DenseNet: pre-activation BN after a concatenation, BN -> ReLU -> conv twice."""

    def __init__(self, cin, growth):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(cin), nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, 2 * growth, 1, bias=False)
        self.norm2, self.relu2 = nn.BatchNorm2d(2 * growth), nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(2 * growth, growth, 3, padding=1, bias=False)

    def forward(self, features):
        x = torch.cat(features, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class TinyDenseNet(nn.Module):
    def __init__(self, growth=3):
        super().__init__()
        self.conv0, self.norm0, self.relu0 = nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU()
        self.layers = nn.ModuleList([DenseLayer(4 + i * growth, growth) for i in range(2)])
        c = 4 + 2 * growth
        self.trans = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, 4, 1, bias=False), nn.AvgPool2d(2))
        self.norm5 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        feats = [self.relu0(self.norm0(self.conv0(x)))]
        for layer in self.layers:
            feats.append(layer(feats))
        x = self.trans(torch.cat(feats, 1))
        x = F.adaptive_avg_pool2d(F.relu(self.norm5(x)), 1)
        return self.fc(torch.flatten(x, 1))


class Bottleneck(nn.Module):
    """ResNet/ResNeXt bottleneck with a projection shortcut; one ReLU module used three times, ``+=``."""

    def __init__(self, cin, width, cout, stride=1, groups=1):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class TinyResNeXt(nn.Module):
    def __init__(self, groups=2):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.MaxPool2d(2))
        self.b1 = Bottleneck(4, 4, 8, stride=1, groups=groups)
        self.b2 = Bottleneck(8, 4, 8, stride=1, groups=groups)
        self.b3 = Bottleneck(8, 4, 6, stride=2, groups=1)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        x = self.b3(self.b2(self.b1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2: expand, depthwise, project (ReLU6: free units)."""

    def __init__(self, c, expand=2):
        super().__init__()
        h = c * expand
        self.conv = nn.Sequential(
            nn.Conv2d(c, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6(inplace=True),
            nn.Conv2d(h, h, 3, 1, 1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(inplace=True),
            nn.Conv2d(h, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.conv(x)


class TinyMobileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.ReLU())
        self.block = InvertedResidual(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.block(self.dw(self.stem(x)))
        return self.fc(x.mean([2, 3]))


class Inception(nn.Module):
    """GoogLeNet: four branches concatenated along channels, max-pool branch."""

    def __init__(self, cin):
        super().__init__()
        self.b1 = _bn_relu_conv(cin, 2, 1)
        self.b2 = nn.Sequential(_bn_relu_conv(cin, 2, 1), _bn_relu_conv(2, 3, 3))
        self.b3 = nn.Sequential(_bn_relu_conv(cin, 1, 1), _bn_relu_conv(1, 2, 3))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), _bn_relu_conv(cin, 2, 1))
        self.fc = nn.Linear(9 * 16, 2)

    def forward(self, x):
        out = torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)
        return self.fc(torch.flatten(F.max_pool2d(out, 2), 1))


def channel_shuffle(x, groups: int):
    batchsize, num_channels, height, width = x.size()
    x = x.view(batchsize, groups, num_channels // groups, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, -1, height, width)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2: channel split (chunk), a branch, concatenation, channel shuffle."""

    def __init__(self, c, stride=1):
        super().__init__()
        self.stride = stride
        b = c // 2
        cin = c if stride > 1 else b
        if stride > 1:
            self.branch1 = nn.Sequential(nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False), nn.BatchNorm2d(c),
                                         nn.Conv2d(c, b, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True))
        self.branch2 = nn.Sequential(
            nn.Conv2d(cin, b, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
            nn.Conv2d(b, b, 3, stride, 1, groups=b, bias=False), nn.BatchNorm2d(b),
            nn.Conv2d(b, b, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True))

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class TinyShuffleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 4, 3, 1, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(inplace=True))
        self.stages = nn.Sequential(ShuffleUnit(4, 2), ShuffleUnit(4), ShuffleUnit(4))
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.stages(self.conv1(x)).mean([2, 3]))


class SqueezeExcite(nn.Module):
    def __init__(self, c, s):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.relu, self.fc2 = nn.Conv2d(c, s, 1), nn.ReLU(), nn.Conv2d(s, c, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avgpool(x)))))


class RegNetYBlock(nn.Module):
    def __init__(self, c=4):
        super().__init__()
        self.a = _bn_relu_conv(c, c, 1)
        self.b = _bn_relu_conv(c, c, 3, groups=2)
        self.se = SqueezeExcite(c, 2)
        self.c = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.c(self.se(self.b(self.a(x)))))


class TinyRegNetY(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = _bn_relu_conv(3, 4, 3)
        self.block = RegNetYBlock(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.block(self.stem(x)), 1), 1))


CHANNEL_MODELS = {
    "densenet": TinyDenseNet, "resnext": TinyResNeXt, "mobilenet": TinyMobileNet, "inception": Inception,
    "shufflenet": TinyShuffleNet, "regnety": TinyRegNetY,
}
_IN_CHANNELS = {"densenet": 2, "inception": 3}


def _channel_model(name, seed=0):
    torch.manual_seed(seed)
    model = CHANNEL_MODELS[name]() if name != "inception" else Inception(3)
    x = torch.randn(2, _IN_CHANNELS.get(name, 3), 8, 8)
    return _randomise_bn(model, seed), x


# ----------------------------------------------------------------------------- oracles on every block
@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("name", sorted(CHANNEL_MODELS))
def test_euler_identity_at_every_constrained_unit(name, seed):
    model, x = _channel_model(name, seed)
    with pytest.warns() if name in ("mobilenet", "regnety") else _no_warning():
        imp = from_torch(model, x)
    arch = imp.architecture
    assert arch.n_constrained > 0
    res = euler_residuals(model, imp, x)
    worst = max(res, key=res.get)
    assert res[worst] < 1e-9, (worst, res[worst])
    # every trainable parameter of the model is on some edge, exactly once (nothing silently dropped)
    n_trainable = int(arch.edge_sizes[arch.edge_trainable].sum())
    bn_stats = sum(2 * m.num_features for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    folded = sum(m.num_features for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params - bn_stats <= n_trainable <= n_params + folded


class _no_warning:
    """Fail on an UnsupportedLayerWarning (models topo imports completely)."""

    def __enter__(self):
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("error", UnsupportedLayerWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def test_euler_check_is_sensitive():
    """Negative controls: the gated units of squeeze-excitation, a SiLU unit, and a wrong edge grouping."""
    model, x = _channel_model("regnety")
    with pytest.warns(UnsupportedLayerWarning, match="mul"):
        imp = from_torch(model, x)
    arch = imp.architecture
    gated = [v for v in arch.free if v.startswith("block.b.0.")]
    assert len(gated) == 4 and all("mul" in arch.free_reasons[v] for v in gated)  # the reason is in reports
    # the graph that dropped the product's input x (as topo once did) would call them constrained: wrong
    res = euler_residuals(model, imp, x, units=gated, drop_fixed=True)
    assert min(res.values()) > 1e-3  # rescaling x in x * sigmoid(f(x)) changes the function
    # a non-homogeneous unit
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(3, 4), nn.SiLU(), nn.Linear(4, 2)).eval()
    with pytest.warns(UnsupportedLayerWarning):
        imp2 = from_torch(mlp)
    res2 = euler_residuals(mlp, imp2, torch.randn(5, 3), units=imp2.architecture.free)
    assert min(res2.values()) > 1e-3
    # a mis-built graph: one unit's out-edge terms attributed to another unit of the same layer
    terms = edge_terms(model, imp, x)

    def side(v, ends):  # trainable edges only: a fixed edge has no term (NaN)
        return np.nansum(terms[np.flatnonzero(ends == arch.node_index(v))])

    alone = [u for u, k in zip(arch.constrained, arch.class_sizes) if k == 1]  # units that are their class
    v = max(alone, key=lambda u: abs(side(u, arch.dst)))
    w = next(u for u in alone if u != v and u.rsplit(".", 1)[0] == v.rsplit(".", 1)[0])
    right = side(v, arch.dst) - side(v, arch.src)
    wrong = side(v, arch.dst) - side(w, arch.src)
    scale = abs(side(v, arch.dst))
    assert abs(right) < 1e-9 * scale < abs(wrong)


# ----------------------------------------------------------------------------- block structure
def test_densenet_preactivation_batchnorm_units():
    model, x = _channel_model("densenet")
    imp = from_torch(model, x)
    arch = imp.architecture
    # BN after the concatenation: one unit per channel, a scaled edge in and a bias, then the ReLU
    units = [f"layers.1.norm1.{c}" for c in range(7)]
    assert all(arch.activation(u) == "relu" and u in arch.constrained for u in units)
    assert sorted(u for u, v in arch.edges if v == "layers.1.norm1.6") == ["layers.0.conv2.2", "layers.1.norm1.bias"]
    src = imp.edge_source[("layers.0.conv2.2", "layers.1.norm1.6")]
    assert src == ("layers.1.norm1", "weight", (6,)) and "scale" in imp.edge_source.note(
        ("layers.0.conv2.2", "layers.1.norm1.6"))
    # the conv outputs read by later concatenations are linear units with every reader as out-edges
    assert arch.activation("layers.0.conv2.0") == "linear" and "layers.0.conv2.0" in arch.constrained
    readers = {v.rsplit(".", 1)[0] for u, v in arch.edges if u == "layers.0.conv2.0"}
    assert readers == {"layers.1.norm1", "trans.0"}
    # BN directly after a conv is folded, its bias named at the BatchNorm
    assert not any(v.startswith("layers.0.norm2.") and not v.endswith("bias") for v in arch.nodes)
    e = ("layers.0.conv1.bias", "layers.0.conv1.0")
    assert imp.edge_source[e] == ("layers.0.norm2", "bias", (0,)) and "folded" in imp.edge_source.note(e)


def test_shufflenet_split_and_shuffle_are_relabellings():
    model, x = _channel_model("shufflenet")
    imp = from_torch(model, x)
    arch = imp.architecture
    assert not imp.unsupported and not arch.free
    # unit 1 (stride 1): x1 = first half of the shuffled channels of unit 0 goes straight into the cat
    # the shuffle of cat(b1, b2) with 2 groups interleaves: [b1_0, b2_0, b1_1, b2_1]
    # so unit 1's input channels are [b1_0, b2_0 | b1_1, b2_1]; x2 = (b1_1, b2_1) feeds branch2
    def reads(unit):
        return sorted(u for u, v in arch.edges if v == unit and not u.endswith("bias"))

    assert reads("stages.1.branch2.0.0") == ["stages.0.branch1.2.1", "stages.0.branch2.5.1"]
    # unit 2 reads channels of unit 1 after its shuffle: [x1_0, b2_0, x1_1, b2_1] -> x2 = (x1_1 = b2_0 of unit 0, b2_1)
    assert reads("stages.2.branch2.0.0") == ["stages.0.branch2.5.0", "stages.1.branch2.5.1"]
    # unit 2's output [b1_0, c_0 | d_0, d_1] shuffled; the classifier reads every channel once
    assert reads("fc.0") == ["stages.0.branch1.2.0", "stages.1.branch2.5.0", "stages.2.branch2.5.0",
                             "stages.2.branch2.5.1"]


def test_inception_concatenation_and_grouped_convs():
    model, x = _channel_model("inception")
    imp = from_torch(model, x)
    arch = imp.architecture
    fc_in = [u for u, v in arch.edges if v == "fc.0" and not u.endswith("bias")]
    assert fc_in == ["b1.0.0", "b1.0.1", "b2.1.0.0", "b2.1.0.1", "b2.1.0.2", "b3.1.0.0", "b3.1.0.1",
                     "b4.1.0.0", "b4.1.0.1"]
    assert all(arch.edge_sizes[arch.edge_index((u, "fc.0"))] == 16 for u in fc_in)
    # the max-pool branch keeps the input channels (a pooled channel is the same unit)
    assert {u for u, v in arch.edges if v == "b4.1.0.0"} == {"x.c0", "x.c1", "x.c2", "b4.1.0.bias"}
    model, x = _channel_model("resnext")
    arch = from_torch(model, x).architecture
    ins = sorted(u for u, v in arch.edges if v == "b1.conv2.3" and not u.endswith("bias"))
    assert ins == ["b1.conv1.2", "b1.conv1.3"]  # groups=2: output channel 3 sees input channels 2, 3


def test_free_activations_with_reasons_and_exact_forward():
    for act, label in [(nn.ReLU6(), "relu6"), (nn.Hardswish(), "hardswish"), (nn.SiLU(), "silu"),
                       (nn.GELU(), "gelu"), (nn.Sigmoid(), "sigmoid"), (nn.Tanh(), "tanh")]:
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 5), act, nn.Linear(5, 2)).eval()
        with pytest.warns(UnsupportedLayerWarning, match=type(act).__name__):
            imp = from_torch(model)
        arch = imp.architecture
        assert arch.free == [f"2.{j}" for j in range(5)]
        assert all(f"activation {label!r} is not positively homogeneous" == r for r in arch.free_reasons.values())
        assert arch.constrained == [f"0.{j}" for j in range(4)]
        x = torch.randn(7, 3)
        np.testing.assert_allclose(topo.forward(arch, imp.theta, x.numpy()), model(x).detach().numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_mobilenet_relu6_units_free_and_depthwise():
    model, x = _channel_model("mobilenet")
    with pytest.warns(UnsupportedLayerWarning, match="ReLU6"):
        imp = from_torch(model, x)
    arch = imp.architecture
    assert all(arch.free_reasons[f"block.conv.0.{c}"] == "activation 'relu6' is not positively homogeneous"
               for c in range(8))
    assert arch.activation("dw.0.1") == "relu" and "dw.0.1" in arch.constrained
    assert sorted(u for u, v in arch.edges if v == "dw.0.1") == ["dw.0.bias", "stem.0.1"]


# ----------------------------------------------------------------------------- neuron level: exact forward
class _Probe(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.lin, self.o1, self.o2 = nn.Linear(3, 4), nn.Linear(4, 2), nn.Linear(4, 2)
        self.o3, self.o4 = nn.Linear(8, 2), nn.Linear(6, 2)
        self.act = nn.ReLU()
        self.leaky = nn.LeakyReLU(0.2)

    def forward(self, x):
        h = self.lin(x)
        if self.kind == "relu_and_raw":
            return self.o2(torch.relu(h)) + self.o1(h)
        if self.kind == "relu_after_leaky":
            return self.o1(self.act(self.leaky(h)))
        if self.kind == "leaky_0.3":
            return self.o1(F.leaky_relu(h, 0.3))
        if self.kind == "crelu":
            return self.o3(torch.cat([h, torch.relu(h)], dim=1))
        if self.kind == "crelu_neg":
            return self.o3(torch.cat([F.relu(h), F.relu(-h)], dim=1))
        if self.kind == "relu_module_twice":
            return self.o1(self.act(h)) + self.o2(self.act(h))
        if self.kind == "gating":
            return self.o1(h * torch.sigmoid(h))
        if self.kind == "split":
            a, b = h.chunk(2, dim=1)
            return self.o4(torch.cat([F.relu(b), a * 2.0, -a], dim=1))
        raise AssertionError(self.kind)


def _random_topological_order(gm, rng):
    nodes = list(gm.graph.nodes)
    deps = {n: set(n.all_input_nodes) for n in nodes}
    done, order = set(), []
    while len(order) < len(nodes):
        ready = [n for n in nodes if n not in done and deps[n] <= done and n.op != "output"]
        if not ready:
            ready = [n for n in nodes if n.op == "output"]
        n = rng.choice(ready)
        order.append(n)
        done.add(n)
    new = torch.fx.Graph()
    env = {}
    for n in order:
        env[n] = new.node_copy(n, lambda a: env[a])
    return torch.fx.GraphModule(gm, new)


@pytest.mark.parametrize("kind", ["relu_and_raw", "relu_after_leaky", "leaky_0.3", "crelu", "crelu_neg",
                                  "relu_module_twice", "gating", "split"])
def test_neuron_level_forward_is_exact_in_every_trace_order(kind):
    torch.manual_seed(2)
    model = _Probe(kind).eval()
    x = torch.randn(9, 3)
    gm = torch.fx.symbolic_trace(model)
    rng = random.Random(0)
    results = []
    for k in range(4):
        g = gm if k == 0 else _random_topological_order(gm, rng)
        with _maybe_warns(kind):
            imp = from_torch(g)
        arch = imp.architecture
        np.testing.assert_allclose(topo.forward(arch, imp.theta, x.numpy()), model(x).detach().numpy(),
                                   rtol=1e-5, atol=1e-6) if kind != "gating" else None
        results.append((sorted(arch.constrained), sorted((v, arch.activation(v)) for v in arch.hidden)))
        res = euler_residuals(model, imp, x)
        assert max(res.values(), default=0.0) < 1e-9
    assert all(r == results[0] for r in results)
    acts = dict(results[0][1])
    if kind == "relu_and_raw":
        assert {acts[f"lin.{j}"] for j in range(4)} == {"linear"}  # the raw h stays linear
    if kind == "relu_after_leaky":
        assert {acts[f"lin.{j}"] for j in range(4)} == {"relu"}
    if kind == "leaky_0.3":
        assert {acts[f"lin.{j}"] for j in range(4)} == {"leaky_relu(0.3)"}
        assert arch.constrained == [f"lin.{j}" for j in range(4)]


class _maybe_warns(warnings.catch_warnings):
    """Gating warns (tested separately); every other probe is imported completely."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def __enter__(self):
        super().__enter__()
        warnings.simplefilter("ignore" if self.kind == "gating" else "error", UnsupportedLayerWarning)


def test_gating_keeps_every_input_and_frees_what_it_touches():
    torch.manual_seed(0)
    model = _Probe("gating").eval()
    with pytest.warns(UnsupportedLayerWarning, match=r"mul \(mul\)"):
        imp = from_torch(model)
    arch = imp.architecture
    # h feeds both the sigmoid copy and the product: kept, and free
    for j in range(4):
        into_mul = {u for u, v in arch.edges if v == f"mul.{j}"}
        assert f"lin.{j}" in into_mul and len(into_mul) == 2
        assert f"lin.{j}" in arch.free
    with pytest.raises(topo.GraphError, match="unsupported layer (sigmoid|mul)"):
        from_torch(model, strict=True)


def test_weight_sharing_is_refused_with_the_module_name():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.out = nn.Linear(4, 4), nn.Linear(4, 1)

        def forward(self, x):
            return self.out(torch.relu(self.fc(torch.relu(self.fc(x)))))

    with pytest.raises(topo.GraphError, match=r"module 'fc' \(Linear\) is called 2 times"):
        from_torch(Shared().eval())

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    with pytest.raises(topo.GraphError, match="'a' and 'b' share a parameter"):
        from_torch(Tied().eval())


def test_edge_sources_of_zoo_resnet_name_real_parameters():
    model, x = topo.zoo.resnet18(width=4)
    imp = from_torch(model, x)
    arch = imp.architecture
    params = dict(model.named_parameters())
    notes = 0
    for edge in arch.edges:
        if not arch.edge_trainable[arch.edge_index(edge)]:
            continue
        qual, name, _ = imp.edge_source[edge]
        assert f"{qual}.{name}" in params, edge
        if edge[0].endswith(".bias") and not edge[0].startswith("fc"):
            assert isinstance(model.get_submodule(qual), nn.BatchNorm2d)
            assert "folded" in imp.edge_source.note(edge)
            notes += 1
    assert notes > 0
    res = euler_residuals(model, imp, x)
    assert max(res.values()) < 1e-9


def test_imported_activations_train_in_topo_dynamics():
    """Leaky slopes and ReLU6 from an import are evaluated by topo.forward and topo.train alike."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.3), nn.Linear(4, 4), nn.ReLU6(), nn.Linear(4, 1)).eval()
    with pytest.warns(UnsupportedLayerWarning, match="ReLU6"):
        imp = from_torch(model)
    arch = imp.architecture
    assert {arch.activation(f"0.{j}") for j in range(4)} == {"leaky_relu(0.3)"}
    x = torch.randn(6, 3)
    np.testing.assert_allclose(topo.forward(arch, imp.theta, x.numpy()), model(x).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    y = model(x).detach().numpy() + 1.0
    traj = topo.train(arch, imp.theta, x.numpy(), y, steps=3, lr=1e-3)
    # the loss at the start is the model's own mean squared error on (x, y)
    np.testing.assert_allclose(traj.losses[0], float(((model(x).detach().numpy() - y) ** 2).mean()), rtol=1e-5)


@pytest.mark.parametrize("name", ["mlp", "residual_mlp", "lenet"])
def test_euler_identity_on_the_zoo(name):
    model, x = topo.zoo.MODELS[name](seed=5)
    imp = from_torch(model, x)
    res = euler_residuals(model, imp, x)
    assert len(res) == imp.architecture.n_constrained > 0 and max(res.values()) < 1e-9
    if imp.level == "neuron":
        np.testing.assert_allclose(topo.forward(imp.architecture, imp.theta, x.numpy()), model(x).detach().numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_unmodelled_operation_on_a_tuple_keeps_every_input():
    class StackChunks(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.out = nn.Linear(3, 4), nn.Linear(2, 1)

        def forward(self, x):
            return self.out(torch.relu(torch.stack(self.a(x).chunk(2, dim=1), dim=1).sum(dim=1)))

    torch.manual_seed(0)
    with pytest.warns(UnsupportedLayerWarning):
        imp = from_torch(StackChunks().eval())
    arch = imp.architecture
    # every unit of the chunked tensor reaches the output, and is free
    assert all(f"a.{j}" in arch.free for j in range(4))
    assert not arch.constrained or all(v.startswith("out") for v in arch.constrained)


def test_report_says_when_a_frozen_edge_weight_is_derived_from_a_batchnorm():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.BatchNorm1d(2), nn.Linear(2, 1)).eval()
    _randomise_bn(model)
    with torch.no_grad():
        model[0].weight.mul_(0.01)
        model[0].bias.mul_(0.01)
        model[2].weight.fill_(5.0)  # c < 0 at the ReLU units: their single out-edge (the BN scale) freezes
    imp = from_torch(model)
    rep = topo.audit(imp).report
    noted = [w for w in rep["connectivity"]["frozen_edges"] if w.get("source", {}).get("module") == "2"]
    assert len(noted) == 2
    assert all(w["source"]["parameter"] == "weight" and "γ/√(running_var+ε)" in w["source"]["note"] for w in noted)


# ----------------------------------------------------------------------------- convolutions across the units
class EfficientChannelAttention(nn.Module):
    """ECA (timm's ``EcaModule``): a Conv1d slides over the pooled channels, its sigmoid gates them."""

    def __init__(self, k=3):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x):
        y = self.conv(x.mean((2, 3)).view(x.shape[0], 1, -1))
        return x * y.view(x.shape[0], -1, 1, 1).sigmoid().expand_as(x)


class TinyEcaNet(nn.Module):
    def __init__(self, c=6, k=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3), nn.BatchNorm2d(c), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())
        self.eca = EfficientChannelAttention(k)
        self.head = nn.Sequential(nn.Conv2d(c, c, 1), nn.ReLU())
        self.fc = nn.Linear(c, 2)

    def forward(self, x):
        g = self.eca(self.body(self.stem(x)))
        return self.fc(F.adaptive_avg_pool2d(self.head(g), 1).flatten(1))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_eca_attention_imports_with_its_gate_free(k):
    """The Conv1d over the channels makes free units (with the precise reason), the gated channels are
    free, every other unit keeps its law: the Euler identity holds at each constrained class, and a
    rescaling of each leaves model(x) unchanged."""
    from tests.oracles_torch import rescaled_outputs

    torch.manual_seed(k)
    model, x = _randomise_bn(TinyEcaNet(k=k), k), torch.randn(2, 3, 8, 8)
    with pytest.warns(UnsupportedLayerWarning, match="sigmoid"):
        imp = from_torch(model, x)
    arch = imp.architecture
    conv_units = [v for v in arch.nodes if str(v).startswith("eca_conv.")]
    assert len(conv_units) == 6
    reasons = imp.free_reasons
    assert all("slides along dimension 2, which runs over the units" in reasons[v] for v in conv_units)
    # the stem's and the head's channels keep their laws; the body's feed the gate and are free
    assert {str(v).split(".")[0] for v in arch.constrained} == {"stem", "head"}
    res = euler_residuals(model, imp, x)
    assert max(res.values()) < 1e-9
    for v in arch.constrained:
        before, after = rescaled_outputs(model, imp, x, v, 1.7)
        torch.testing.assert_close(after, before, rtol=1e-10, atol=1e-10)


class _ConvOverUnits(nn.Module):
    """x: (batch, units, cin); the Conv1d slides along the units (after a permute)."""

    def __init__(self, units, cin, cout, k, stride, padding, dilation, mode):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, padding_mode=mode)
        length = (units + 2 * padding - dilation * (k - 1) - 1) // stride + 1
        self.fc = nn.Linear(length * cout, 2)

    def forward(self, x):
        return self.fc(self.conv(x.permute(0, 2, 1)).permute(0, 2, 1).flatten(1))


@pytest.mark.parametrize("seed", range(12))
def test_convolution_across_units_reads_exactly_the_units_of_its_window(seed):
    """The fixed edges into the free units of a convolution across the units are the nonzero pattern
    of its Jacobian (autograd, random weights), unit by unit, for random kernel, stride, padding
    (zeros or circular) and dilation."""
    rng = np.random.default_rng(seed)
    units, cin, cout = int(rng.integers(3, 9)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
    k, stride, dilation = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
    mode = "circular" if seed % 3 == 0 else "zeros"
    padding = int(rng.integers(0, min(3, units)))
    if (units + 2 * padding - dilation * (k - 1) - 1) < 0:
        padding, dilation = units, 1
    torch.manual_seed(seed)
    model = _ConvOverUnits(units, cin, cout, k, stride, padding, dilation, mode).double().eval()
    x = torch.randn(1, units, cin, dtype=torch.float64)
    imp = from_torch(model, x, level="channel")
    arch = imp.architecture
    got = {(int(str(u).rsplit("c", 1)[1]), int(str(v).rsplit(".", 1)[1])) for u, v in arch.edges
           if str(v).startswith("conv.") and not str(u).endswith("bias")}
    J = torch.autograd.functional.jacobian(lambda t: model.conv(t.permute(0, 2, 1)), x)[0]  # (cout, L, 1, units, cin)
    dep = J.abs().sum(dim=(0, 2, 4)).numpy() > 0  # (L, units)
    want = {(int(i), int(j)) for j, i in zip(*np.nonzero(dep))}
    assert got == want


class _FixedFilter(nn.Module):
    """timm's BlurPool2d: one fixed filter (a buffer, or with ``trainable`` a parameter) expanded to every
    channel and applied by a depthwise ``F.conv2d``; ``mixing`` applies it across channel pairs instead."""

    def __init__(self, channels=4, trainable=False, mixing=False):
        super().__init__()
        self.channels = channels
        filt = torch.tensor([[1.0, -2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
        if trainable:
            self.filt = nn.Parameter(filt)
        else:
            self.register_buffer("filt", filt, persistent=False)
        self.mixing = mixing

    def forward(self, x):
        c = self.channels
        if self.mixing:
            return F.conv2d(x, self.filt.expand(c, c, 3, 3), padding=1)
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt.expand(c, 1, 3, 3), stride=2, groups=c)


class _Blurred(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.aa = _FixedFilter(**kw)
        self.b = nn.Sequential(nn.Conv2d(4, 5, 3), nn.ReLU())
        self.fc = nn.Linear(5, 2)

    def forward(self, x):
        return self.fc(self.b(self.aa(self.a(x))).mean((2, 3)))


def test_a_fixed_filter_per_channel_keeps_each_channel_its_unit():
    """A constant depthwise filter (a buffer, with a negative tap) is a channel-wise linear map: the
    channels before it keep their laws, checked by Euler's identity and by rescaling the model. The
    same filter as a parameter, or mixing channels, leaves the channels free with the reason."""
    from tests.oracles_torch import rescaled_outputs

    torch.manual_seed(4)
    model, x = _randomise_bn(_Blurred(), 4), torch.randn(2, 3, 12, 12)
    imp = from_torch(model, x)
    arch = imp.architecture
    assert {str(v).split(".")[0] for v in arch.constrained} == {"a", "b"} and not arch.free
    assert max(euler_residuals(model, imp, x).values()) < 1e-9
    for v in arch.constrained:
        before, after = rescaled_outputs(model, imp, x, v, 0.6)
        torch.testing.assert_close(after, before, rtol=1e-10, atol=1e-10)
    for kw, why in (({"trainable": True}, "conv 'aa' are computed from parameters"),
                    ({"mixing": True}, "are constants, not parameters, and mix channels")):
        torch.manual_seed(4)
        imp = from_torch(_randomise_bn(_Blurred(**kw), 4), x)
        reasons = imp.free_reasons
        blocked = [v for v in imp.architecture.nodes if str(v).startswith("a.") and "bias" not in str(v)]
        assert len(blocked) == 4 and all(why in reasons[v] for v in blocked), reasons
        assert not any(str(v).startswith("a.") for v in imp.architecture.constrained)
