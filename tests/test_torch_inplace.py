"""In-place operations in traced models (``topo.nn.inplace``): every read after an in-place change
sees the change.  Oracles: the imported network's forward pass against the model itself (neuron
level) and Euler's identity at every constrained unit (autograd on the model)."""

import numpy as np
import pytest

import topo

torch = pytest.importorskip("torch")

from tests.oracles_torch import euler_residuals  # noqa: E402
from topo.nn.trace import from_torch  # noqa: E402

nn = torch.nn
F = torch.nn.functional


class _InPlace(nn.Module):
    """``h = fc1(x)``, changed in place by one of several patterns, then read again."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.fc1, self.fc2 = nn.Linear(3, 4), nn.Linear(3, 4)
        self.out1, self.out2 = nn.Linear(4, 2), nn.Linear(4, 2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.fc1(x)
        if self.kind == "add_":  # a statement: its result is never used
            h.add_(self.fc2(x))
            return self.out1(torch.relu(h))
        if self.kind == "iadd alias":  # `identity` is the same tensor as h: it sees the addition too
            identity = h
            h += self.fc2(x)
            return self.out1(torch.relu(identity)) + self.out2(torch.relu(h))
        if self.kind == "relu module":  # ReLU(inplace=True) on a tensor that is read again
            r = self.relu(h)
            return self.out1(r) + self.out2(h)
        if self.kind == "relu function":
            F.relu(h, inplace=True)
            return self.out1(h)
        if self.kind == "torch.relu_":
            torch.relu_(h)
            return self.out1(h) + self.out2(h)
        if self.kind == "mul_":
            h.mul_(-0.5)
            return self.out1(torch.relu(h))
        raise ValueError(self.kind)


KINDS = ["add_", "iadd alias", "relu module", "relu function", "torch.relu_", "mul_"]


@pytest.mark.parametrize("kind", KINDS)
def test_reads_after_an_inplace_change_see_it(kind):
    torch.manual_seed(KINDS.index(kind))
    model, x = _InPlace(kind).eval(), torch.randn(6, 3)
    imp = from_torch(model, x.clone())
    arch = imp.architecture
    want = model(x.clone()).detach().numpy()
    np.testing.assert_allclose(topo.forward(arch, imp.theta, x.numpy()), want, rtol=1e-5, atol=1e-6)
    if arch.n_constrained:
        assert max(euler_residuals(model, imp, x.clone()).values()) < 1e-9


def test_without_the_rewrite_an_inplace_addition_is_lost(monkeypatch):
    """Negative control: with the graph left as fx traced it, the addition of fc2 is dropped and the
    imported function differs from the model's."""
    import topo.nn.trace as trace

    monkeypatch.setattr(trace, "redirect_inplace", lambda gm: False)
    torch.manual_seed(0)
    model, x = _InPlace("add_").eval(), torch.randn(6, 3)
    imp = from_torch(model, x.clone())
    assert not any(str(v).startswith("fc2") for v in imp.architecture.nodes)
    got = topo.forward(imp.architecture, imp.theta, x.numpy())
    assert np.abs(got - model(x.clone()).detach().numpy()).max() > 1e-3


class _ThroughView(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.out = nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = self.fc1(x)
        h[:, :2].mul_(2.0)  # changes h through a view; h is read afterwards
        return self.out(h)


def test_a_change_through_a_view_is_refused_in_one_line():
    with pytest.raises(topo.GraphError) as info:
        from_torch(_ThroughView().eval(), torch.randn(2, 3))
    msg = str(info.value)
    assert "\n" not in msg and "changes in place a view" in msg and "mul_" in msg
