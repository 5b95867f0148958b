"""BatchNorm without affine parameters (``affine=False``, or ``F.batch_norm`` without γ / β): its scale
``1/√(var+ε)`` and shift ``−mean/√(var+ε)`` are constants.  Folded into a layer with a bias, the
folded bias still comes from that bias; into a layer without one, it is a fixed bias, which breaks
the rescaling symmetry (the unit is free, and says why); not folded, the scale is a fixed edge that
joins the unit to its input's class.  Found by the random-model oracle
(tests/test_torch_random_models.py): the import used to name a β that does not exist and to claim
laws that do not hold.  Oracles: every edge source is a real parameter holding the edge's weights,
Euler's identity with autograd, and rescaling in the model itself."""

import numpy as np
import pytest

import topo

torch = pytest.importorskip("torch")

from tests.oracles_torch import euler_residuals, rescaled_outputs  # noqa: E402
from topo.nn.result import parameter_name  # noqa: E402

nn = torch.nn
F = torch.nn.functional


def _stats(bn, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=g, dtype=torch.float64))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=g, dtype=torch.float64) + 0.5)
    return bn


class _Net(nn.Module):
    def __init__(self, *, bias: bool, fold: bool):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1, bias=bias)
        self.bn = nn.BatchNorm2d(3, affine=False)
        self.mid, self.head = nn.Conv2d(3, 4, 1), nn.Linear(4, 2)
        self.fold = fold

    def forward(self, x):
        z = self.conv(x)
        w = self.bn(z)
        if not self.fold:  # the layer's output is read twice: the BatchNorm cannot be folded
            w = w + 0.0 * z
        return self.head(torch.relu(self.mid(torch.relu(w))).mean((2, 3)))


def _model(bias, fold, seed=0):
    torch.manual_seed(seed)
    m = _Net(bias=bias, fold=fold).double().eval()
    _stats(m.bn, seed)
    return m, torch.randn(6, 2, 5, 5, dtype=torch.float64)


def _sources_are_parameters(model, imp):
    """Every trainable edge names a parameter the model has (and only trainable edges have sources)."""
    params = dict(model.named_parameters())
    arch = imp.architecture
    for e, trainable in zip(arch.edges, arch.edge_trainable.tolist()):
        assert (e in imp.edge_source) == trainable, e
        if trainable:
            qual, pname, _ = imp.edge_source[e]
            assert parameter_name(qual, pname) in params, (e, qual, pname)


def test_folded_into_a_layer_with_a_bias_the_units_keep_their_law():
    model, x = _model(bias=True, fold=True)
    imp = topo.from_torch(model, x)
    arch = imp.architecture
    assert [v for v in arch.constrained if v.startswith("conv")] == ["conv.0", "conv.1", "conv.2"]
    _sources_are_parameters(model, imp)
    bias_edges = [e for e in arch.edges if e[0] == "conv.bias"]
    assert {imp.edge_source[e][:2] for e in bias_edges} == {("conv", "bias")}
    assert "(bias − running_mean)/√(running_var+ε)" in imp.edge_source.note(bias_edges[0])
    assert max(euler_residuals(model, imp, x).values()) < 1e-9
    before, after = rescaled_outputs(model, imp, x, "conv.1", 1.9)
    np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=1e-9, atol=1e-11)


def test_folded_into_a_layer_without_a_bias_the_constant_shift_frees_the_units():
    model, x = _model(bias=False, fold=True)
    imp = topo.from_torch(model, x)
    arch = imp.architecture
    assert not [v for v in arch.constrained if v.startswith("conv")]
    for v in ("conv.0", "conv.1", "conv.2"):
        assert "constant shift" in arch.free_reasons[v] and "no β" in arch.free_reasons[v]
    _sources_are_parameters(model, imp)
    assert max(euler_residuals(model, imp, x).values()) < 1e-9  # the laws that remain hold
    # the symmetry is really broken: rescaling a conv channel changes the function
    m = model
    with torch.no_grad():
        before = m(x)
        m.conv.weight[1] *= 2.0
        m.mid.weight[:, 1] /= 2.0
        assert not torch.allclose(m(x), before, rtol=1e-6, atol=1e-9)


def test_not_folded_its_constant_scale_joins_the_unit_to_its_input():
    model, x = _model(bias=True, fold=False)
    imp = topo.from_torch(model, x)
    arch = imp.architecture
    _sources_are_parameters(model, imp)
    bn_units = [v for v in arch.nodes if str(v).startswith("bn.") and v != "bn.bias"]
    assert bn_units and all(v in arch.free for v in bn_units)  # its nonzero constant shift is a fixed bias
    assert all("constant shift" in arch.free_reasons[v] for v in bn_units)
    assert max(euler_residuals(model, imp, x).values()) < 1e-9


def test_with_zero_running_mean_the_unfolded_batchnorm_is_a_positive_scale():
    model, x = _model(bias=True, fold=False)
    with torch.no_grad():
        model.bn.running_mean.zero_()
    imp = topo.from_torch(model, x)
    arch = imp.architecture
    bn_units = [v for v in arch.nodes if str(v).startswith("bn.")]
    assert "bn.bias" not in arch.nodes and bn_units
    assert all(v not in arch.free for v in bn_units)
    assert max(euler_residuals(model, imp, x).values()) < 1e-9


class _Functional(nn.Module):
    """``F.batch_norm`` with the running statistics of a module and γ only, β only, or neither."""

    def __init__(self, which):
        super().__init__()
        self.conv, self.bn, self.head = nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3), nn.Linear(3, 2)
        self.which = which

    def forward(self, x):
        w = self.bn.weight if "g" in self.which else None
        b = self.bn.bias if "b" in self.which else None
        z = F.batch_norm(self.conv(x), self.bn.running_mean, self.bn.running_var, w, b, False, 0.0, self.bn.eps)
        return self.head(torch.relu(z).mean((2, 3)))


@pytest.mark.parametrize("which", ["gb", "g", "b", ""])
def test_functional_batch_norm_with_some_of_its_parameters(which):
    """Folded into the convolution (which has a bias): each conv channel keeps its law.  Checked in the
    model itself: the channel's weights times α, its bias moved so that the folded bias
    ``(b − mean)·s + β`` is times α, the head's column over α: the function does not change."""
    torch.manual_seed(3)
    model = _Functional(which).double().eval()
    _stats(model.bn, 3)
    x = torch.randn(5, 2, 4, 4, dtype=torch.float64)
    imp = topo.from_torch(model, x)
    arch = imp.architecture
    _sources_are_parameters(model, imp)
    named = imp.edge_source.parameters()
    assert (("bn", "bias") in named) == ("b" in which) and ("bn", "weight") not in named
    assert [v for v in arch.constrained if v.startswith("conv")] == ["conv.0", "conv.1", "conv.2"]
    bn = model.bn
    g = bn.weight.detach() if "g" in which else torch.ones(3, dtype=torch.float64)
    beta = bn.bias.detach() if "b" in which else torch.zeros(3, dtype=torch.float64)
    s = g / torch.sqrt(bn.running_var + bn.eps)
    with torch.no_grad():
        before = model(x)
        for k, alpha in ((0, 1.7), (2, 0.6)):
            folded = (model.conv.bias[k] - bn.running_mean[k]) * s[k] + beta[k]
            model.conv.weight[k] *= alpha
            model.conv.bias[k] = (alpha * folded - beta[k]) / s[k] + bn.running_mean[k]
            model.head.weight[:, k] /= alpha
        np.testing.assert_allclose(model(x).numpy(), before.numpy(), rtol=1e-9, atol=1e-11)
        model.conv.weight[1] *= 1.5  # negative control: the channel's weights alone
        assert not torch.allclose(model(x), before, rtol=1e-6, atol=1e-9)
