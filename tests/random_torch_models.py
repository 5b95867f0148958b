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


class FunctionalConv1d(nn.Conv1d):
    def forward(self, x):
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class FunctionalConv3d(nn.Conv3d):
    def forward(self, x):
        return F.conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


FREE_ACTS = ("GELU", "SiLU", "Hardswish", "Tanh", "gelu", "silu", "tanh", "sigmoid", "hardswish")
"""Non-homogeneous activations of the extended grammar: modules (capitalised) and functions."""


def _free_fn(z, name):
    return getattr(torch, name)(z) if name in ("tanh", "sigmoid") else getattr(F, name)(z)


class RandomNet(nn.Module):
    """Interprets ``steps``: tuples ``(kind, module keys..., options)`` over ``self.layers``;
    ``dim``: the number of spatial dimensions of a convolutional model (0: fully connected)."""

    def __init__(self, steps, layers, dim: int = 2):
        super().__init__()
        self.steps = steps
        self.layers = nn.ModuleDict(layers)
        self.dim = dim

    def _spatial(self) -> tuple:
        return tuple(range(2, 2 + self.dim))

    def _per_channel(self, t):
        """``t`` (one value per channel, or per sample and channel) shaped to broadcast over positions."""
        return t[(slice(None),) * t.dim() + (None,) * self.dim] if t.dim() == 2 else t.view((1, -1) + (1,) * self.dim)

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
                d = self.dim
                if opt["stem"]:  # ResNet's stem pooling
                    z = getattr(F, f"max_pool{d}d")(z, 3, stride=2, padding=1)
                else:
                    z = getattr(F, f"max_pool{d}d" if opt["max"] else f"avg_pool{d}d")(z, 2)
            elif kind == "split":  # ShuffleNet's unit: half the channels through a layer, the other half kept
                a, b = torch.chunk(z, 2, dim=1)
                z = torch.cat([a, self._layer(b, opt["key"], opt["bn"], opt["act"])], dim=1)
            elif kind == "chlast":
                d = self.dim
                z = self.layers[opt["key"]](z.permute(0, *range(2, d + 2), 1)).permute(0, d + 1, *range(1, d + 1))
                z = _act(z, opt["act"])
            elif kind == "fbn":
                z = self.layers[opt["key"]](z)
            elif kind == "se":  # squeeze-excitation: a gate computed from the tensor itself
                g = torch.sigmoid(self.layers[opt["fc"]](z.mean(self._spatial()) if self.dim else z))
                z = z * self._per_channel(g)
            elif kind == "layerscale":  # ConvNeXt's per-channel trainable scale on a residual branch
                scale = self.layers[opt["scale"]].gamma
                branch = self._layer(z, opt["key"], None, opt["act"])
                z = z + self._per_channel(scale) * branch
            elif kind == "shuffle":
                z = F.channel_shuffle(z, opt["groups"])
            elif kind == "free":  # a layer, then one or two activations that are not homogeneous
                z = self._layer(z, opt["key"], opt["bn"], "none")
                for form, a in opt["acts"]:
                    z = self.layers[a](z) if form == "module" else _free_fn(z, a)
            elif kind == "branches":  # Inception: two layers side by side, concatenated
                z = torch.cat([self._layer(z, key, None, opt["act"]) for key in opt["keys"]], dim=1)
            elif kind == "up":
                z = self.layers[opt["key"]](z) if opt["key"] else F.interpolate(z, scale_factor=2, mode="nearest")
            elif kind == "pad":
                z = F.pad(z, (1, 1) * (z.dim() - 2), mode=opt["mode"])
            elif kind == "mods":  # modules that are the identity in eval mode
                z = self.layers[opt["key"]](z)
            elif kind == "head":
                feats = z
                if self.dim:
                    if opt["flatten"]:
                        z = z.reshape(z.size(0), -1) if opt.get("view") else z.flatten(1)
                    elif opt.get("pool"):
                        z = self.layers[opt["pool"]](z)
                    else:
                        z = z.mean(self._spatial())
                out = self.layers[opt["key"]](z)
                aux = opt.get("aux")
                if aux is None:
                    return out
                extra = self.layers[aux](z)
                if opt["returns"] == "dict":
                    return {"aux": extra, "logits": out}
                return (out, extra) if opt["returns"] == "tuple" else [extra, out, feats]
        return z


class _Builder:
    def __init__(self, rng: np.random.Generator, conv: bool, batchnorm: bool = True, dim: int = 2,
                 extended: bool = False):
        self.rng, self.conv, self.layers, self.steps, self.recipe = rng, conv, {}, [], []
        self.batchnorm, self.dim, self.extended = batchnorm, dim if conv else 0, extended

    def add(self, module) -> str:
        key = f"m{len(self.layers)}"
        self.layers[key] = module
        return key

    def bn(self, c) -> str | None:
        if self.rng.random() < 0.4 and self.batchnorm:
            affine = bool(self.rng.random() < 0.85)
            bn = getattr(nn, f"BatchNorm{max(self.dim, 1)}d")(c, affine=affine)
            _perturb(bn, self.rng)
            return self.add(bn)
        return None

    def layer(self, cin, cout, *, k=None, stride=1, groups=1, dilation=1) -> str:
        """A random layer; ``k`` an int or a tuple (an asymmetric kernel, odd sizes: the shape is kept)."""
        bias = bool(self.rng.random() < 0.7)
        if not self.conv:
            return self.add(nn.Linear(cin, cout, bias=bias))
        k = int(self.rng.choice([1, 3])) if k is None else k
        functional = self.rng.random() < 0.2
        kind = {1: (nn.Conv1d, FunctionalConv1d), 2: (nn.Conv2d, FunctionalConv),
                3: (nn.Conv3d, FunctionalConv3d)}[self.dim][int(functional)]
        pad = tuple(dilation * (j // 2) for j in k) if isinstance(k, tuple) else dilation * (k // 2)
        return self.add(kind(cin, cout, k, stride=stride, padding=pad, groups=groups, bias=bias, dilation=dilation))

    def act(self) -> str:
        return str(self.rng.choice(ACTS, p=[0.4, 0.2, 0.1, 0.2, 0.1]))


def _draw_step(b: _Builder, c: int, size: int) -> tuple[int, int]:
    """One random step on a state with ``c`` channels (features) and spatial ``size``."""
    rng = b.rng
    kinds = ["layer", "res", "cat", "scale", "split", "se", "layerscale"]
    kinds += ["pool", "chlast", "shuffle"] if b.conv else []
    kinds += ["fbn"] if b.conv and b.batchnorm else []
    kinds += (["free", "branches", "mods"] + (["up", "pad"] if b.conv else [])) if b.extended else []
    kind = str(rng.choice(kinds))
    if (kind == "pool" and size < 4) or (kind in ("split", "shuffle") and c % 2) or (kind == "up" and size > 6):
        kind = "layer"
    b.recipe.append(kind)
    if kind in EXTENDED_STEPS:
        return EXTENDED_STEPS[kind](b, c, size)
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


def _free_step(b: _Builder, c: int, size: int) -> tuple[int, int]:
    c2 = int(b.rng.integers(2, 6))
    acts = [("module", b.add(getattr(nn, a)())) if a[0].isupper() else ("function", a)
            for a in (str(a) for a in b.rng.choice(FREE_ACTS, size=int(b.rng.integers(1, 3))))]
    b.steps.append(("free", {"key": b.layer(c, c2), "bn": b.bn(c2), "acts": acts}))
    return c2, size


def _branches_step(b: _Builder, c: int, size: int) -> tuple[int, int]:
    """Two layers side by side: at channel level one with an asymmetric (2-d), dilated or 5-wide kernel."""
    widths = [int(b.rng.integers(1, 4)) for _ in range(2)]
    first = b.layer(c, widths[0])
    if not b.conv:
        second = b.layer(c, widths[1])
    else:
        form = str(b.rng.choice(["asym", "dilated", "wide"] if b.dim == 2 else ["dilated", "wide"]))
        k = {"asym": tuple(int(v) for v in b.rng.permutation([1, 3])), "dilated": 3, "wide": 5}[form]
        second = b.layer(c, widths[1], k=k, dilation=2 if form == "dilated" else 1)
    b.steps.append(("branches", {"keys": [first, second], "act": b.act()}))
    return sum(widths), size


def _up_step(b: _Builder, c: int, size: int) -> tuple[int, int]:
    key = b.add(nn.Upsample(scale_factor=2, mode="nearest")) if b.rng.random() < 0.5 else None
    b.steps.append(("up", {"key": key}))
    return c, 2 * size


def _pad_step(b: _Builder, c: int, size: int) -> tuple[int, int]:
    b.steps.append(("pad", {"mode": str(b.rng.choice(["constant", "replicate"]))}))
    return c, size + 2


def _mods_step(b: _Builder, c: int, size: int) -> tuple[int, int]:
    mods = [nn.Dropout(0.3), nn.Identity()] + ([getattr(nn, f"Dropout{b.dim}d")(0.2)] if b.conv else [])
    b.steps.append(("mods", {"key": b.add(nn.Sequential(*b.rng.permutation(np.array(mods, dtype=object))))}))
    return c, size


EXTENDED_STEPS = {"free": _free_step, "branches": _branches_step, "up": _up_step, "pad": _pad_step,
                  "mods": _mods_step}


def _head(b: _Builder, c: int, size: int) -> None:
    rng, dim = b.rng, b.dim
    n_out = int(rng.integers(1, 4))
    flatten = bool(b.conv and rng.random() < 0.3)
    n_in = c * size ** dim if flatten else c
    opt = {"key": b.add(nn.Linear(n_in, n_out)), "flatten": flatten}
    if b.extended:
        if flatten:
            opt["view"] = bool(rng.random() < 0.5)  # reshape(batch, -1) instead of flatten(1)
        elif b.conv and rng.random() < 0.5:
            opt["pool"] = b.add(nn.Sequential(getattr(nn, f"AdaptiveAvgPool{dim}d")(1), nn.Flatten()))
        if rng.random() < 0.4:  # a second head: the model returns a tuple, a dict or a list
            opt["aux"] = b.add(nn.Linear(n_in, int(rng.integers(1, 3))))
            opt["returns"] = str(rng.choice(["tuple", "dict", "list"]))
    b.steps.append(("head", opt))


def random_model(seed: int, *, max_steps: int = 6, batchnorm: bool = True, extended: bool = False):
    """``(model, x, recipe)``: a random eval-mode float64 model, its input batch, its step names
    (``batchnorm=False``: no BatchNorm anywhere, as `topo.BalanceMonitor` needs).

    ``extended``: the grammar above and more: convolutions in 1, 2 or 3 spatial dimensions,
    non-homogeneous activations (``free``), Inception branches with asymmetric, dilated or wide
    kernels (``branches``), nearest upsampling (``up``), padding (``pad``), Dropout and Identity
    modules (``mods``), heads through ``view`` or ``AdaptiveAvgPool + Flatten`` modules, and second
    heads (the model returns a tuple, a dict or a list); the same seed gives another model than
    without it (the recipe starts with ``conv1d`` / ``conv2d`` / ``conv3d`` / ``mlp``).
    """
    rng = np.random.default_rng(seed)
    conv = bool(rng.random() < 0.6)
    dim = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25])) if extended and conv else 2
    b = _Builder(rng, conv, batchnorm, dim, extended)
    c, size = (int(rng.integers(1, 4)), int(rng.choice([4, 6, 8]))) if conv else (int(rng.integers(2, 6)), 0)
    if dim == 3:
        size = min(size, 4)
    c0, size0 = c, size
    for _ in range(int(rng.integers(2, max_steps + 1))):
        c, size = _draw_step(b, c, size)
    _head(b, c, size)
    torch.manual_seed(seed)
    model = RandomNet(b.steps, b.layers, b.dim)
    with torch.no_grad():  # reseed every parameter from the numpy generator: independent of torch's defaults
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.from_numpy(rng.normal(0, 1.0 / np.sqrt(p[0].numel()), tuple(p.shape))))
    model = model.double().eval()
    batch = 8
    shape = (batch, c0) + (size0,) * b.dim
    x = torch.from_numpy(rng.normal(size=shape))
    kind = (f"conv{dim}d " if extended else "conv ") if conv else "mlp "
    return model, x, kind + " ".join(b.recipe)


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
