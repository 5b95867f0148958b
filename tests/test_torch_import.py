"""from_torch against the models' own weight tensors and outputs (needs torch)."""


import numpy as np
import pytest

import topo

torch = pytest.importorskip("torch")  # CI installs torch==2.13.0 before the test extra

from topo import zoo  # noqa: E402
from topo.nn.result import UnsupportedLayerWarning, fold_bn  # noqa: E402
from topo.nn.trace import from_torch  # noqa: E402


def _np(t):
    return t.detach().double().numpy()


def test_mlp_balances_from_weight_tensors_and_outputs():
    model, x = zoo.mlp((5, 7, 6, 2))
    imp = from_torch(model)
    arch = imp.architecture
    c = dict(zip(arch.constrained, topo.balance(arch, imp.theta)))
    lin = [m for m in model if isinstance(m, torch.nn.Linear)]
    for layer in range(2):
        W, b, W_next = _np(lin[layer].weight), _np(lin[layer].bias), _np(lin[layer + 1].weight)
        direct = (W**2).sum(1) + b**2 - (W_next**2).sum(0)
        qual = str(list(model).index(lin[layer]))
        np.testing.assert_allclose([c[f"{qual}.{j}"] for j in range(len(direct))], direct, rtol=1e-12)
    np.testing.assert_allclose(topo.forward(arch, imp.theta, _np(x)), _np(model(x)), rtol=1e-6, atol=1e-6)


def test_residual_mlp_stream_channels_carry_their_balance_and_same_outputs():
    model, x = zoo.residual_mlp(width=5, depth=2)
    imp = from_torch(model)
    arch = imp.architecture
    assert not arch.free  # the residual sums are linear: every unit is a member of a constrained class
    sums = [v for v in arch.nodes if arch.activation(v) == "sum"]
    assert len(sums) == 2 * 5  # one sum node per unit and residual add
    np.testing.assert_allclose(topo.forward(arch, imp.theta, _np(x)), _np(model(x)), rtol=1e-6, atol=1e-6)
    c = dict(zip(arch.constrained, topo.balance(arch, imp.theta)))
    b0, b1 = model.blocks
    # the first layer of each block is its own class: in = fc1 row + bias, out = fc2 column
    W1, bias1, W2 = _np(b0.fc1.weight), _np(b0.fc1.bias), _np(b0.fc2.weight)
    np.testing.assert_allclose([c[f"blocks.0.fc1.{j}"] for j in range(5)],
                               (W1**2).sum(1) + bias1**2 - (W2**2).sum(0), rtol=1e-12)
    # stream channel k: {inp_k, blocks.0.fc2_k, add_k, blocks.1.fc2_k, add_1_k}, entered by the rows of inp and
    # of both fc2 (with their biases), left by the columns of both fc1 and of out
    entering = (_np(model.inp.weight)**2).sum(1) + _np(model.inp.bias)**2
    leaving = (_np(model.out.weight)**2).sum(0)
    for blk in (b0, b1):
        entering = entering + (_np(blk.fc2.weight)**2).sum(1) + _np(blk.fc2.bias)**2
        leaving = leaving + (_np(blk.fc1.weight)**2).sum(0)
    for k in range(5):
        assert arch.class_members(f"inp.{k}") == [f"inp.{k}", f"blocks.0.fc2.{k}", f"add.{k}",
                                                  f"blocks.1.fc2.{k}", f"add_1.{k}"]
        assert c[f"inp.{k}"] == pytest.approx(entering[k] - leaving[k], rel=1e-12)


def test_lenet_channel_level_balances_and_edge_sources():
    model, x = zoo.lenet()
    imp = from_torch(model, x)
    arch = imp.architecture
    assert imp.level == "channel" and arch.n_params == sum(p.numel() for p in model.parameters())
    conv1, conv2, fc1 = model[0], model[3], model[7]
    c = dict(zip(arch.constrained, topo.balance(arch, imp.theta)))
    direct1 = (_np(conv1.weight) ** 2).sum((1, 2, 3)) + _np(conv1.bias) ** 2 - (_np(conv2.weight) ** 2).sum((0, 2, 3))
    np.testing.assert_allclose([c[f"0.{o}"] for o in range(6)], direct1, rtol=1e-12)
    W = _np(fc1.weight).reshape(120, 16, 25)
    direct2 = (_np(conv2.weight) ** 2).sum((1, 2, 3)) + _np(conv2.bias) ** 2 - (W**2).sum((0, 2))
    np.testing.assert_allclose([c[f"3.{o}"] for o in range(16)], direct2, rtol=1e-12)
    # every edge's weights are where edge_source says they are
    params = dict(model.named_parameters())
    rng = np.random.default_rng(0)
    for e in rng.choice(arch.n_edges, size=200, replace=False).tolist():
        edge = arch.edges[e]
        qual, name, idx = imp.edge_source[edge]
        t = _np(params[f"{qual}.{name}"])
        index = tuple(slice(*map(int, i.split(":"))) if isinstance(i, str) else i for i in idx)
        np.testing.assert_array_equal(t[index].ravel(), imp.theta[arch.edge_slice(edge)])


def test_batchnorm_folding_matches_the_eval_model():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    bn = torch.nn.BatchNorm2d(4).eval()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    W, b = fold_bn(_np(conv.weight), _np(conv.bias), bn)
    folded = torch.nn.Conv2d(3, 4, 3, padding=1).double()
    with torch.no_grad():
        folded.weight.copy_(torch.from_numpy(W))
        folded.bias.copy_(torch.from_numpy(b))
    x = torch.randn(2, 3, 8, 8)
    np.testing.assert_allclose(_np(folded(x.double())), _np(bn(conv(x))), rtol=1e-5, atol=1e-5)


def test_resnet18_shaped_cnn():
    model, x = zoo.resnet18(width=8)
    imp = from_torch(model, x)
    arch = imp.architecture
    assert imp.level == "channel" and not imp.unsupported
    # channels of each block's first convolution are constrained, each its own class
    c = dict(zip(arch.constrained, topo.balance(arch, imp.theta)))
    blk = model.layers[0]
    W1, b1 = fold_bn(_np(blk.conv1.weight), np.zeros(8), blk.bn1)
    W2, _ = fold_bn(_np(blk.conv2.weight), np.zeros(8), blk.bn2)
    direct = (W1**2).sum((1, 2, 3)) + b1**2 - (W2**2).sum((0, 2, 3))
    np.testing.assert_allclose([c[f"layers.0.conv1.{o}"] for o in range(8)], direct, rtol=1e-10)
    # the residual sums join the stream channels of each stage into one class each (8 + 16 + 32 + 64)
    assert not arch.free and arch.n_shared == 8 + 16 + 32 + 64
    assert all(arch.activation(v) in ("sum", "relu") and arch.class_sizes[arch.node_row[arch.node_index(v)]] > 1
               for v in arch.nodes if arch.activation(v) == "sum")
    rep = topo.connectivity(arch, topo.balance(arch, imp.theta))
    assert rep.n_components >= 1


def test_unsupported_layers_warn_or_raise():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GELU(), torch.nn.Linear(4, 1))
    with pytest.warns(UnsupportedLayerWarning, match=r"GELU \(1\)"):
        imp = from_torch(model)
    assert imp.unsupported == [("GELU", "1")]
    assert all(v.startswith(("0.", "1.")) for v in imp.architecture.free)
    with pytest.raises(topo.GraphError, match=r"unsupported layer GELU \('1'\)"):
        from_torch(model, strict=True)


def test_state_dict_loading_and_errors(tmp_path):
    model, x = zoo.mlp((3, 4, 1), seed=1)
    other, _ = zoo.mlp((3, 4, 1), seed=2)
    path = tmp_path / "w.pt"
    torch.save(other.state_dict(), path)
    imp = from_torch(model, state_dict=str(path))
    np.testing.assert_array_equal(imp.theta[:12], _np(other[0].weight).ravel())
    cnn, _ = zoo.lenet()
    with pytest.raises(topo.GraphError, match="example_input"):
        from_torch(cnn)
    with pytest.raises(ValueError, match="level"):
        from_torch(model, level="layer")


class _DataDependent(torch.nn.Module):
    """fx cannot trace the data-dependent branch; forward hooks can."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Linear(3, 4)
        self.act = torch.nn.ReLU()
        self.b = torch.nn.Linear(4, 2)

    def forward(self, x):
        if float(x.abs().sum()) >= 0:
            return self.b(self.act(self.a(x)))
        return x  # pragma: no cover


class _Functional(_DataDependent):
    def forward(self, x):
        if float(x.abs().sum()) >= 0:
            return self.b(torch.relu(self.a(x)) * 2)
        return x  # pragma: no cover


def test_forward_hook_fallback_for_untraceable_models():
    model = _DataDependent().eval()
    with pytest.raises(Exception):
        torch.fx.symbolic_trace(model)
    x = torch.randn(5, 3)
    imp = from_torch(model, x)
    arch = imp.architecture
    assert len(arch.constrained) == 4 and all(arch.activation(v) == "relu" for v in arch.constrained)
    np.testing.assert_allclose(topo.forward(arch, imp.theta, _np(x)), _np(model(x)), rtol=1e-6, atol=1e-6)
    # without example_input, a zero batch of the first Linear's width drives the hook trace
    assert from_torch(model).architecture == arch
    with pytest.raises(topo.GraphError, match="functional operations"):
        from_torch(_Functional().eval(), x)


class _AssertsWidth(torch.nn.Module):
    """Untraceable (a branch on a value) and failing on a wrong input with an empty AssertionError,
    as timm's blocks assert their input sizes."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x):
        if x.sum() > 1e9:
            x = x * 0
        torch._assert(x.shape[-1] % 4 == 0, "")
        return self.fc(x)


def test_a_model_failing_on_its_example_under_the_hook_trace_is_refused_in_one_line():
    with pytest.raises(Exception):
        torch.fx.symbolic_trace(_AssertsWidth())
    with pytest.raises(topo.GraphError) as info:
        from_torch(_AssertsWidth().eval(), torch.randn(2, 3))
    msg = str(info.value)
    assert "\n" not in msg and "could not trace _AssertsWidth" in msg
    assert "running the model on example_input of shape (2, 3) failed: AssertionError (raised by the model" in msg


def test_conv1d_grouped_and_depthwise_channels():
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv1d(4, 6, 3, groups=2), nn.ReLU(),          # grouped: channels connect within a group
        nn.Conv1d(6, 6, 3, groups=6), nn.ReLU(),          # depthwise: one edge per channel
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(6, 1),
    ).eval()
    x = torch.randn(2, 4, 10)
    imp = from_torch(model, x)
    arch = imp.architecture
    assert imp.level == "channel"
    trainable = int(arch.edge_sizes[arch.edge_trainable].sum())
    assert trainable == sum(p.numel() for p in model.parameters())
    # grouped conv: output channel o sees input channels of its group only, with kernel slices of 3
    ins = {v: sorted(u for (u, w) in arch.edges if w == v and not u.endswith("bias")) for v in ("0.0", "0.5")}
    assert ins == {"0.0": ["input_1.c0", "input_1.c1"], "0.5": ["input_1.c2", "input_1.c3"]}
    assert all(arch.edge_sizes[arch.edge_index((u, "0.0"))] == 3 for u in ins["0.0"])
    # depthwise: a single incoming weight edge per channel, so its channels are in-bottlenecks
    d = topo.decompose(arch)
    assert all(f"2.{o}" in arch.constrained for o in range(6))
    c = dict(zip(arch.constrained, topo.balance(arch, imp.theta)))
    W0, b0, W2, b2, W6 = (_np(model[0].weight), _np(model[0].bias), _np(model[2].weight), _np(model[2].bias),
                          _np(model[6].weight))
    direct0 = (W0**2).sum((1, 2)) + b0**2 - (W2**2).sum((1, 2))  # depthwise: channel o feeds only 2.o
    np.testing.assert_allclose([c[f"0.{o}"] for o in range(6)], direct0, rtol=1e-12)
    direct2 = (W2**2).sum((1, 2)) + b2**2 - W6[0] ** 2
    np.testing.assert_allclose([c[f"2.{o}"] for o in range(6)], direct2, rtol=1e-12)
    assert set(d.out_bottlenecks) >= {f"2.{o}" for o in range(6)}


def test_top_level_lazy_access():
    assert topo.from_torch is from_torch
    assert topo.zoo.MODELS["lenet"] is zoo.lenet
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        topo.nothing  # noqa: B018


class _TwoBranches(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.a = torch.nn.Linear(3, 2)
        self.b = torch.nn.Linear(3, 3)
        self.out = torch.nn.Linear(5, 1)

    def forward(self, x):
        return self.out(torch.cat([torch.relu(self.a(x)), torch.nn.functional.relu(self.b(x))], dim=1))


def test_concatenated_branches():
    model = _TwoBranches().eval()
    x = torch.randn(6, 3)
    imp = from_torch(model)
    arch = imp.architecture
    assert len(arch.constrained) == 5 and not arch.free
    np.testing.assert_allclose(topo.forward(arch, imp.theta, _np(x)), _np(model(x)), rtol=1e-6, atol=1e-6)
    c = dict(zip(arch.constrained, topo.balance(arch, imp.theta)))
    Wo = _np(model.out.weight)
    for name, lin, offset in (("a", model.a, 0), ("b", model.b, 2)):
        W, bias = _np(lin.weight), _np(lin.bias)
        direct = (W**2).sum(1) + bias**2 - Wo[0, offset:offset + len(bias)] ** 2
        np.testing.assert_allclose([c[f"{name}.{j}"] for j in range(len(bias))], direct, rtol=1e-12)
    # each branch unit reaches the output through one edge: out-bottlenecks
    assert set(topo.decompose(arch).out_bottlenecks) == set(arch.constrained)


class _ShapeBranches(torch.nn.Module):
    """Branches on shapes and on the device (as timm's VGG head and EfficientViT do): fx cannot trace it; a
    functional BatchNorm reads buffers (as timm's MobileViT does)."""

    def __init__(self, bn=False):
        super().__init__()
        self.bn = bn
        self.conv, self.fc = torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4 * 7 * 7, 2)
        self.register_buffer("mean", torch.rand(4) - 0.5)  # read by F.batch_norm: fx passes buffers as constants
        self.register_buffer("var", torch.rand(4) + 0.5)

    def forward(self, x):
        h = self.conv(x)
        if self.bn:
            h = torch.nn.functional.batch_norm(h, self.mean, self.var, training=False)
        h = torch.relu(h)
        if h.shape[-2] != 7 or h.size(-1) != 7:
            h = torch.nn.functional.adaptive_avg_pool2d(h, (7, 7))
        if h.device.type != "meta" and len(h) > 0 and h.ndim == 4:
            h = h * 1.0
        return self.fc(h.flatten(1))


def test_a_model_branching_on_shapes_is_traced_at_the_example_shapes():
    from tests.oracles_torch import euler_residuals
    from topo.nn.shape_trace import shape_trace

    model = _ShapeBranches().eval()
    with pytest.raises(Exception):
        torch.fx.symbolic_trace(model)
    for side in (8, 9, 12):  # the pooling branch taken (conv output 6x6, 10x10) or not (7x7)
        x = torch.randn(2, 3, side, side)
        gm = shape_trace(model, x)
        torch.testing.assert_close(gm(x), model(x))
        imp = from_torch(model, x)
        arch = imp.architecture
        assert {str(v).split(".")[0] for v in arch.constrained} == {"conv"}
        assert max(euler_residuals(model, imp, x).values()) < 1e-9
    # a functional BatchNorm on buffers inside the traced forward (MobileViT's norm-act): the meta values need them
    # on the meta device too (the Euler oracle rewrites BatchNorm modules only, so the trace is compared instead)
    model, x = _ShapeBranches(bn=True).eval(), torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(shape_trace(model, x)(x), model(x))
    assert {str(v).split(".")[0] for v in from_torch(model, x).architecture.constrained} == {"conv"}


def test_the_meta_copy_for_shapes_keeps_ties_and_flags_and_leaves_the_model_alone():
    from topo.nn.shape_trace import meta_copy

    lin = torch.nn.Linear(4, 4)
    model = torch.nn.Sequential(lin, torch.nn.ReLU(), lin, torch.nn.BatchNorm1d(4))  # one Linear used twice
    model[3].weight.requires_grad_(False)
    before = [p.detach().clone() for p in model.state_dict().values()]
    copy = meta_copy(model)
    assert copy[0] is copy[2] and copy[0].weight is copy[2].weight  # the tie survives the copy
    assert all(t.device.type == "meta" for t in [*copy.parameters(), *copy.buffers()])
    assert [p.requires_grad for p in copy.parameters()] == [p.requires_grad for p in model.parameters()]
    assert all(isinstance(p, torch.nn.Parameter) for p in copy.parameters())
    assert copy(torch.zeros(2, 4, device="meta")).shape == (2, 4)
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.state_dict().values()))
