"""Importing or auditing a PyTorch model leaves the caller's module exactly as it was:
train/eval mode of every submodule, parameters and buffers (BatchNorm running statistics),
also when other weights are given with ``state_dict=`` (needs torch)."""

import numpy as np
import pytest

import topo

torch = pytest.importorskip("torch")

from topo.nn.trace import from_torch  # noqa: E402


def _model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Dropout(0.5),
        torch.nn.Conv2d(4, 5, 3, padding=1), torch.nn.BatchNorm2d(5), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(5, 2),
    )
    model.train()
    model(torch.randn(8, 3, 6, 6))  # running statistics away from their defaults
    model[5].eval()  # a mixed state: one BatchNorm frozen by the user, the rest training
    return model


def _state(model):
    """Modes of every submodule, and a copy of every parameter and buffer."""
    modes = [(name, m.training) for name, m in model.named_modules()]
    tensors = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    return modes, tensors


def _assert_same(model, before):
    modes, tensors = _state(model)
    assert modes == before[0]
    assert tensors.keys() == before[1].keys()
    for k, v in tensors.items():
        assert torch.equal(v, before[1][k]), k


def _other_weights(model):
    other = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for k, v in other.items():
        if v.is_floating_point():
            other[k] = v + 1.0 if "running_var" in k else v * 2.0 + 0.5
    return other


x = torch.randn(2, 3, 6, 6)


def test_from_torch_restores_modes_and_keeps_weights():
    model = _model()
    before = _state(model)
    from_torch(model, x)
    _assert_same(model, before)
    assert model.training and not model[5].training and model[1].training


def test_audit_restores_modes_and_keeps_weights():
    model = _model()
    before = _state(model)
    topo.audit(model, example_input=x, max_strata=0)
    _assert_same(model, before)


@pytest.mark.parametrize("as_file", [False, True])
def test_state_dict_goes_into_a_copy(tmp_path, as_file):
    model = _model()
    before = _state(model)
    other = _other_weights(model)
    given = other
    if as_file:
        given = tmp_path / "w.pt"
        torch.save(other, given)
    imp = from_torch(model, x, state_dict=given)
    _assert_same(model, before)
    # the import is of the given weights, not of the model's own
    twin = _model()
    twin.load_state_dict(other)
    np.testing.assert_array_equal(imp.theta, from_torch(twin, x).theta)
    assert not np.array_equal(imp.theta, from_torch(model, x).theta)
    a = topo.audit(model, example_input=x, state_dict=given, max_strata=0)
    _assert_same(model, before)
    np.testing.assert_array_equal(a.theta, imp.theta)


def test_modes_restored_when_the_import_fails():
    model = _model()
    before = _state(model)
    with pytest.raises(topo.TopoError):
        from_torch(model, torch.randn(2, 7, 6, 6))  # wrong channel count: the model fails on it
    _assert_same(model, before)


class _Caching(torch.nn.Module):
    """Fills caches in eval mode as timm's EfficientViT and LeViT attention does
    (``attention_bias_cache``), keeps a list of what it saw, and sets a new attribute."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Linear(4, 2)
        self.bias = torch.nn.Parameter(torch.randn(4))
        self.cache, self.seen = {}, []

    def forward(self, x):
        if not self.training:
            if "cpu" not in self.cache:
                self.cache["cpu"] = self.bias * 2.0
            b = self.cache["cpu"]
        else:
            b = self.bias * 2.0
        self.seen.append(1)
        self.last = 1
        z = torch.relu(self.conv(x) + b.view(1, -1, 1, 1))
        return self.head(z.mean((2, 3)))


def test_caches_filled_while_tracing_are_emptied_again():
    """Tracing ran the forward with torch.fx proxies, so the cache kept a proxy and the model's next
    call returned a proxy instead of a tensor (and could no longer be deep-copied)."""
    import copy

    torch.manual_seed(0)
    model = _Caching().eval()
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        want = model(x)
    model.cache.clear()
    model.seen.clear()
    del model.last
    cache, seen = model.cache, model.seen
    imp = from_torch(model, x)
    assert imp.architecture.n_params > 0
    assert model.cache is cache and model.cache == {} and model.seen is seen and model.seen == []
    assert not hasattr(model, "last")
    with torch.no_grad():
        got = model(x)
    assert isinstance(got, torch.Tensor) and torch.equal(got, want)
    copy.deepcopy(model)
    model.cache.clear()  # the call above filled it, with a tensor
    model.seen.clear()
    topo.audit(model, example_input=x)  # and again through the audit
    assert model.cache == {} and model.seen == []
