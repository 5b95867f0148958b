"""Random PyTorch models drawn from a small grammar of the blocks topo imports (needs torch).

``random_model(seed)`` returns ``(model, x, recipe)``: an eval-mode ``nn.Module`` in float64 whose
forward pass interprets a list of steps (so ``torch.fx`` unrolls it), an input batch and the list
of step names (for failure messages).  Two kinds, chosen by the seed: convolutional models
(channel level) and fully connected ones (neuron level).  Steps:

- ``conv`` / ``linear``: a layer with random width, kernel, stride, groups and bias, then perhaps
  a BatchNorm (statistics perturbed) and an activation;
- ``res``: ``z + body(z)`` (two layers; a 1x1 or linear projection when the width changes), as
  ``+``, ``torch.add``, an in-place ``+=`` on a clone, or ``z - body(z)``;
- ``cat``: ``cat([z, act(layer(z))])`` along the channels;
- ``scale``: ``c * z`` for a constant (positive, or sometimes negative);
- ``split``: ``a, b = chunk(z, 2)``, then ``cat([a, act(layer(b))])`` (ShuffleNet's unit);
- ``pool``: max or average pooling, or ResNet's 3x3 stride-2 stem pooling (conv models with room left);
- ``chlast``: ``permute`` to channels-last, ``Linear`` over the channels, ``permute`` back (a 1x1
  convolution at channel level);
- ``fbn``: a BatchNorm module that calls ``F.batch_norm`` itself and applies a ReLU (timm's
  norm-act form);
- ``se``: squeeze-excitation, ``z * sigmoid(fc(mean(z)))`` (a gate: the gated units are free);
- ``layerscale``: ``z + γ * layer(z)`` with a trainable per-channel ``γ`` (ConvNeXt);
- ``shuffle``: ``channel_shuffle(z, 2)`` (ShuffleNet).

Layers are ``nn.Linear`` / ``nn.Conv2d`` (random kernel 1 or 3, stride, groups, bias) or a module
calling ``F.conv2d`` itself; BatchNorms with or without affine parameters; the head is a spatial mean
or a flatten, then a ``Linear``.  Activations: ReLU (as a function, or in place), LeakyReLU (both
positively homogeneous: their units carry a law), ReLU6 and none (the unit is linear).  The same seed
gives the same model, input and recipe.
"""

from __future__ import annotations

import numpy as np
import torch

nn = torch.nn
F = torch.nn.functional

ACTS = ("relu", "leaky", "relu6", "none", "relu_inplace")


def _act(z, kind):
    if kind == "relu":
        return torch.relu(z)
    if kind == "relu_inplace":  # ReLU(inplace=True) as ResNets use it (the input may be read again)
        return F.relu(z, inplace=True)
    if kind == "leaky":
        return F.leaky_relu(z, 0.1)
    if kind == "relu6":
        return F.relu6(z)
    return z


class NormAct(nn.BatchNorm2d):
    """timm's ``BatchNormAct2d`` in miniature: ``F.batch_norm`` with the module's own buffers, then ReLU."""

    def forward(self, x):
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return torch.relu(x)


class FunctionalConv(nn.Conv2d):
    """A convolution module that calls ``F.conv2d`` with its own parameters (timm's conv wrappers)."""

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class LayerScale(nn.Module):
    """Holds a per-channel scale ``gamma`` (1-d), as timm's and torchvision's ConvNeXt blocks do."""

    def __init__(self, values):
        super().__init__()
        self.gamma = nn.Parameter(torch.as_tensor(values, dtype=torch.float32))


def _perturb(bn: nn.modules.batchnorm._BatchNorm, rng: np.random.Generator) -> None:
    c = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.3, c)))
        bn.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, c)))
        if bn.affine:
            bn.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c) * rng.choice([-1, 1], c)))
            bn.bias.copy_(torch.from_numpy(rng.normal(0, 0.2, c)))


class RandomNet(nn.Module):
    """Interprets ``steps``: tuples ``(kind, module keys..., options)`` over ``self.layers``."""

    def __init__(self, steps, layers):
        super().__init__()
        self.steps = steps
        self.layers = nn.ModuleDict(layers)

    def _layer(self, z, key, bn, act):
        z = self.layers[key](z)
        if bn is not None:
            z = self.layers[bn](z)
        return _act(z, act)

    def forward(self, x):
        z = x
        for kind, opt in self.steps:
            if kind == "layer":
                z = self._layer(z, opt["key"], opt["bn"], opt["act"])
            elif kind == "res":
                body = self._layer(self._layer(z, opt["a"], opt["bn_a"], opt["act"]), opt["b"], opt["bn_b"], "none")
                skip = z if opt["proj"] is None else self.layers[opt["proj"]](z)
                if opt["form"] == "add":
                    z = skip + body
                elif opt["form"] == "torch.add":
                    z = torch.add(body, skip)
                elif opt["form"] == "sub":
                    z = skip - body
                else:
                    z = skip.clone()
                    z += body
                z = _act(z, opt["after"])
            elif kind == "cat":
                z = torch.cat([z, self._layer(z, opt["key"], opt["bn"], opt["act"])], dim=1)
            elif kind == "scale":
                z = opt["c"] * z
            elif kind == "pool":
                if opt["stem"]:  # ResNet's stem pooling
                    z = F.max_pool2d(z, 3, stride=2, padding=1)
                else:
                    z = F.max_pool2d(z, 2) if opt["max"] else F.avg_pool2d(z, 2)
            elif kind == "split":  # ShuffleNet's unit: half the channels through a layer, the other half kept
                a, b = torch.chunk(z, 2, dim=1)
                z = torch.cat([a, self._layer(b, opt["key"], opt["bn"], opt["act"])], dim=1)
            elif kind == "chlast":
                z = self.layers[opt["key"]](z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
                z = _act(z, opt["act"])
            elif kind == "fbn":
                z = self.layers[opt["key"]](z)
            elif kind == "se":  # squeeze-excitation: a gate computed from the tensor itself
                g = torch.sigmoid(self.layers[opt["fc"]](z.mean((2, 3)) if z.dim() == 4 else z))
                z = z * (g[:, :, None, None] if z.dim() == 4 else g)
            elif kind == "layerscale":  # ConvNeXt's per-channel trainable scale on a residual branch
                scale = self.layers[opt["scale"]].gamma
                branch = self._layer(z, opt["key"], None, opt["act"])
                z = z + (scale.view(1, -1, 1, 1) if z.dim() == 4 else scale.view(1, -1)) * branch
            elif kind == "shuffle":
                z = F.channel_shuffle(z, opt["groups"])
            elif kind == "head":
                if z.dim() == 4:
                    z = z.flatten(1) if opt["flatten"] else z.mean((2, 3))
                z = self.layers[opt["key"]](z)
        return z


class _Builder:
    def __init__(self, rng: np.random.Generator, conv: bool, batchnorm: bool = True):
        self.rng, self.conv, self.layers, self.steps, self.recipe = rng, conv, {}, [], []
        self.batchnorm = batchnorm

    def add(self, module) -> str:
        key = f"m{len(self.layers)}"
        self.layers[key] = module
        return key

    def bn(self, c) -> str | None:
        if self.rng.random() < 0.4 and self.batchnorm:
            affine = bool(self.rng.random() < 0.85)
            bn = nn.BatchNorm2d(c, affine=affine) if self.conv else nn.BatchNorm1d(c, affine=affine)
            _perturb(bn, self.rng)
            return self.add(bn)
        return None

    def layer(self, cin, cout, *, k=None, stride=1, groups=1) -> str:
        bias = bool(self.rng.random() < 0.7)
        if not self.conv:
            return self.add(nn.Linear(cin, cout, bias=bias))
        k = int(self.rng.choice([1, 3])) if k is None else k
        kind = FunctionalConv if self.rng.random() < 0.2 else nn.Conv2d
        return self.add(kind(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=bias))

    def act(self) -> str:
        return str(self.rng.choice(ACTS, p=[0.4, 0.2, 0.1, 0.2, 0.1]))


def _draw_step(b: _Builder, c: int, size: int) -> tuple[int, int]:
    """One random step on a state with ``c`` channels (features) and spatial ``size``."""
    rng = b.rng
    kinds = ["layer", "res", "cat", "scale", "split", "se", "layerscale"]
    kinds += ["pool", "chlast", "shuffle"] if b.conv else []
    kinds += ["fbn"] if b.conv and b.batchnorm else []
    kind = str(rng.choice(kinds))
    if (kind == "pool" and size < 4) or (kind in ("split", "shuffle") and c % 2):
        kind = "layer"
    b.recipe.append(kind)
    if kind == "layer":
        c2 = int(rng.integers(2, 6))
        groups = 1
        if b.conv and rng.random() < 0.3:
            g = int(np.gcd(c, c2))
            groups = int(rng.choice([d for d in range(1, g + 1) if g % d == 0]))
        stride = 2 if b.conv and size >= 4 and rng.random() < 0.2 else 1
        key = b.layer(c, c2, stride=stride, groups=groups)
        b.steps.append(("layer", {"key": key, "bn": b.bn(c2), "act": b.act()}))
        return c2, (size + 1) // 2 if stride == 2 else size
    if kind == "res":
        c2 = c if rng.random() < 0.7 else int(rng.integers(2, 6))
        mid = int(rng.integers(2, 6))
        opt = {"a": b.layer(c, mid), "bn_a": b.bn(mid), "act": b.act(), "b": b.layer(mid, c2), "bn_b": b.bn(c2),
               "proj": None if c2 == c else b.layer(c, c2, k=1),
               "form": str(rng.choice(["add", "torch.add", "iadd", "sub"])),
               "after": str(rng.choice(["relu", "none"]))}
        b.steps.append(("res", opt))
        return c2, size
    if kind == "cat":
        c2 = int(rng.integers(1, 4))
        b.steps.append(("cat", {"key": b.layer(c, c2), "bn": b.bn(c2), "act": b.act()}))
        return c + c2, size
    if kind == "scale":  # a negative factor too: the fixed edge has a negative weight
        b.steps.append(("scale", {"c": float(rng.uniform(0.3, 2.0) * (1 if rng.random() < 0.8 else -1))}))
        return c, size
    if kind == "split":
        half = c // 2
        b.steps.append(("split", {"key": b.layer(half, half), "bn": b.bn(half), "act": b.act()}))
        return c, size
    if kind == "se":
        b.steps.append(("se", {"fc": b.add(nn.Linear(c, c))}))
        return c, size
    if kind == "layerscale":
        scale = LayerScale(rng.uniform(0.2, 1.5, c))
        b.steps.append(("layerscale", {"scale": b.add(scale), "key": b.layer(c, c), "act": b.act()}))
        return c, size
    if kind == "shuffle":
        b.steps.append(("shuffle", {"groups": 2}))
        return c, size
    if kind == "pool":
        stem = bool(rng.random() < 0.3)
        b.steps.append(("pool", {"max": bool(rng.random() < 0.5), "stem": stem}))
        return c, (size + 1) // 2 if stem else size // 2
    if kind == "chlast":
        c2 = int(rng.integers(2, 6))
        b.steps.append(("chlast", {"key": b.add(nn.Linear(c, c2, bias=bool(rng.random() < 0.7))), "act": b.act()}))
        return c2, size
    norm = NormAct(c)  # "fbn"
    _perturb(norm, rng)
    b.steps.append(("fbn", {"key": b.add(norm)}))
    return c, size


def random_model(seed: int, *, max_steps: int = 6, batchnorm: bool = True):
    """``(model, x, recipe)``: a random eval-mode float64 model, its input batch, its step names
    (``batchnorm=False``: no BatchNorm anywhere, as `topo.BalanceMonitor` needs)."""
    rng = np.random.default_rng(seed)
    conv = bool(rng.random() < 0.6)
    b = _Builder(rng, conv, batchnorm)
    c, size = (int(rng.integers(1, 4)), int(rng.choice([4, 6, 8]))) if conv else (int(rng.integers(2, 6)), 0)
    c0, size0 = c, size
    for _ in range(int(rng.integers(2, max_steps + 1))):
        c, size = _draw_step(b, c, size)
    n_out = int(rng.integers(1, 4))
    flatten = bool(conv and rng.random() < 0.3)
    b.steps.append(("head", {"key": b.add(nn.Linear(c * size * size if flatten else c, n_out)), "flatten": flatten}))
    torch.manual_seed(seed)
    model = RandomNet(b.steps, b.layers)
    with torch.no_grad():  # reseed every parameter from the numpy generator: independent of torch's defaults
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.from_numpy(rng.normal(0, 1.0 / np.sqrt(p[0].numel()), tuple(p.shape))))
    model = model.double().eval()
    batch = 8
    shape = (batch, c0, size0, size0) if conv else (batch, c0)
    x = torch.from_numpy(rng.normal(size=shape))
    return model, x, ("conv " if conv else "mlp ") + " ".join(b.recipe)


def random_sequential(seed: int):
    """``(model, x)``: a random ``nn.Sequential`` of modules only (layers, BatchNorms with or without
    affine parameters, ReLU in place or not, LeakyReLU, ReLU6, pooling, dropout), the kind of model
    the forward-hook trace can rebuild, in float64 and eval mode."""
    rng = np.random.default_rng(seed)
    conv = bool(rng.random() < 0.6)
    c = c_in = int(rng.integers(1, 4))
    size, mods = 8, []
    for _ in range(int(rng.integers(1, 6))):
        kind = str(rng.choice(["layer", "bn", "relu", "leaky", "pool", "drop", "relu6"]))
        if kind == "layer":
            c2, bias = int(rng.integers(1, 5)), bool(rng.random() < 0.7)
            mods.append(nn.Conv2d(c, c2, int(rng.choice([1, 3])), padding="same", bias=bias) if conv
                        else nn.Linear(c, c2, bias=bias))
            c = c2
        elif kind == "bn":
            affine = bool(rng.random() < 0.8)
            bn = nn.BatchNorm2d(c, affine=affine) if conv else nn.BatchNorm1d(c, affine=affine)
            _perturb(bn, rng)
            mods.append(bn)
        elif kind == "relu":
            mods.append(nn.ReLU(inplace=bool(rng.random() < 0.5)))
        elif kind == "leaky":
            mods.append(nn.LeakyReLU(0.2))
        elif kind == "relu6":
            mods.append(nn.ReLU6())
        elif kind == "pool" and conv and size >= 2:
            mods.append(nn.MaxPool2d(2))
            size //= 2
        elif kind == "drop":
            mods.append(nn.Dropout(0.3))
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()] if conv else []
    mods.append(nn.Linear(c, 2))
    torch.manual_seed(seed)
    model = nn.Sequential(*mods).double().eval()
    x = torch.from_numpy(rng.normal(size=(4, c_in, 8, 8) if conv else (4, c_in)))
    return model, x
