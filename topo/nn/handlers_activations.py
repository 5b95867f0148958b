"""Torch import handlers of activations (ReLU, LeakyReLU, and the non-homogeneous ones) and their
labels; a mixin of `topo.nn.handlers.Importer`."""

from __future__ import annotations

from topo.errors import GraphError
from topo.graph.nodes import DEFAULT_LEAKY_SLOPE, leaky_name
from topo.nn.units import Value, compose, op_name


class ActivationHandlers:
    """Handlers of elementwise activations (homogeneous: the units' activation; others: free, with the reason)."""

    def activation(self, n, act: str, homogeneous: bool, *, what: str | None = None) -> Value:
        x = self.channels(n)
        if not homogeneous:
            if self.strict:
                raise GraphError(f"unsupported layer {what} ({self._qual(n)!r})")
            self.unsupported.append((what, self._qual(n)))
        acts = self.b.acts
        why = f"{act} applied to units that are also read elsewhere ({self._qual(n)!r})"
        if x.fresh and self.single_user(n):
            new = [compose(acts[i], act) for i in x.ids.tolist()]
            if all(a is not None for a in new):
                for i, a in zip(x.ids.tolist(), new):
                    acts[i] = a
                return x.like(x.ids, fresh=True)
            first = acts[int(x.ids[[a is None for a in new].index(True)])]
            why = f"{act} applied after {first} ({self._qual(n)!r}; no one activation is both)"
        outs = self.b.units(n.name, len(x.ids), act=act)
        self.b.fixed(x.ids, outs)
        for i in outs.tolist():
            self.b.reasons[i] = f"{why}: a copy joined by a fixed identity edge"
        return x.like(outs, fresh=True)

    def relu_module(self, n, mod) -> Value:
        return self.activation(n, "relu", True)

    def leaky_module(self, n, mod) -> Value:
        return self.activation(n, leaky_name(float(mod.negative_slope)), True)

    def relu_function(self, n) -> Value:
        return self.activation(n, "relu", True)

    def leaky_function(self, n) -> Value:
        given = n.args[1] if len(n.args) > 1 else n.kwargs.get("negative_slope", DEFAULT_LEAKY_SLOPE)
        slope = self.concrete(given)
        return self.activation(n, leaky_name(float(slope)), True)

    def free_activation_module(self, n, mod) -> Value:
        return self.activation(n, free_label(mod), False, what=type(mod).__name__)

    def free_activation_function(self, n) -> Value:
        name = op_name(n)
        label = FREE_FUNCTION_LABELS.get(name, f"free:{name}")
        if len(n.args) > 1 or any(k != "inplace" for k in n.kwargs):  # parametrised off-default (fx records
            label = f"free:{name}"  # F.silu(x) with inplace=False, which changes nothing)
        return self.activation(n, label, False, what=name)


FREE_MODULE_LABELS = {
    "GELU": "gelu", "SiLU": "silu", "Sigmoid": "sigmoid", "Tanh": "tanh", "ReLU6": "relu6",
    "Hardswish": "hardswish", "Hardsigmoid": "hardsigmoid", "Mish": "mish", "Softsign": "softsign",
    "SELU": "selu",
}


FREE_FUNCTION_LABELS = {
    "gelu": "gelu", "silu": "silu", "sigmoid": "sigmoid", "tanh": "tanh", "relu6": "relu6",
    "hardswish": "hardswish", "hardsigmoid": "hardsigmoid", "mish": "mish", "softsign": "softsign",
    "selu": "selu", "elu": "elu", "softplus": "softplus",
}


def free_label(mod) -> str:
    """Activation label of a non-homogeneous activation module (``free:...`` when parametrised off-default)."""
    name = type(mod).__name__
    if name == "GELU" and getattr(mod, "approximate", "none") != "none":
        return "free:gelu(tanh)"
    if name == "ELU":
        return "elu" if mod.alpha == 1.0 else f"free:elu(alpha={mod.alpha})"
    if name == "Softplus":
        return "softplus" if mod.beta == 1.0 else f"free:softplus(beta={mod.beta})"
    if name == "Hardtanh" and not isinstance(mod, __import__("torch").nn.ReLU6):
        default = (mod.min_val, mod.max_val) == (-1.0, 1.0)
        return "hardtanh" if default else f"free:hardtanh({mod.min_val},{mod.max_val})"
    return FREE_MODULE_LABELS.get(name, f"free:{name.lower()}")
