"""The timm model zoo check shared by ``tests/test_zoo_timm.py`` and ``benchmarks/zoo_table.py``.

For one timm architecture (``pretrained=False``, float64, eval mode, perturbed BatchNorm
statistics, a 1x3x64x64 input): import it, refuse nothing silently, and check a sample of its
constrained classes against the autograd Euler identity (``tests/oracles_torch.py``), with a
negative control that must fail: the same class's entering terms against the leaving terms of
another class of the same layer.
"""

from __future__ import annotations

import sys
import time
import types
import warnings

import numpy as np

#: >= 25 ReLU-family architectures (and the blocks around them) spanning timm's families.
ZOO = [
    "resnet18", "resnet26d", "resnext26ts", "seresnet18", "res2net50_14w_8s", "resnest14d", "densenet121",
    "dla34", "dpn68", "regnetx_002", "regnety_002", "cspresnet50", "cspdarknet53", "darknet53", "repvgg_a0",
    "hrnet_w18_small", "ese_vovnet19b_dw", "ghostnet_100", "mobilenetv2_100", "mobilenetv3_small_100",
    "efficientnet_b0", "mnasnet_100", "convnext_atto", "tresnet_m", "resnetv2_50", "gernet_s", "mixnet_s",
    "lcnet_050", "nf_resnet26", "selecsls42b",
]
#: A wider sweep beyond the acceptance set (docs/torch.md, "Beyond the acceptance set"): more ReLU families,
#: attention and token-mixing blocks, reparameterised and non-ReLU networks, each imported or refused in one line.
WIDER = [
    "resnet10t", "resnet14t", "resnet18d", "resnet34d", "resnet50d", "resnetaa50", "resnetblur18", "resnetrs50",
    "seresnext26d_32x4d", "legacy_seresnet18", "legacy_senet154", "ecaresnet26t", "ecaresnet50d", "eca_resnet33ts",
    "seresnet33ts", "gcresnet33ts", "skresnet18", "skresnext50_32x4d", "resnest26d", "res2next50", "cspresnext50",
    "cs3darknet_s", "darknet17", "dla46_c", "dla60x", "dpn92", "hrnet_w18", "vovnet39a", "ese_vovnet39b",
    "densenet169", "regnetx_004", "regnety_004", "regnetz_005", "repvgg_b0", "mobileone_s0", "repghostnet_050",
    "ghostnetv2_100", "mobilenetv2_050", "mobilenetv3_large_100", "lcnet_100", "hardcorenas_a", "fbnetc_100",
    "spnasnet_100", "semnasnet_100", "efficientnet_lite0", "tinynet_a", "rexnet_100", "xception41", "xception65",
    "inception_v4", "inception_v3", "inception_resnet_v2", "tresnet_l", "convmixer_768_32", "convnext_femto",
    "convnextv2_atto", "inception_next_tiny", "rdnet_tiny", "hgnet_tiny", "hgnetv2_b0", "fastvit_t8",
    "efficientformer_l1", "poolformer_s12", "edgenext_xx_small", "mobilevit_xxs", "efficientvit_b0",
    "nf_regnet_b0", "dm_nfnet_f0", "vgg11_bn", "lambda_resnet26t", "bat_resnext26ts", "sebotnet33ts_256",
    "coat_lite_tiny", "levit_128s", "pit_ti_224", "mixer_s16_224", "resmlp_12_224", "vit_tiny_patch16_224",
]
#: Input side for the architectures whose blocks need their native size (every other one: 64).
INPUT_SIZE = {"inception_v3": 299, "inception_v4": 299, "inception_resnet_v2": 299, "mixer_s16_224": 224,
              "resmlp_12_224": 224, "vit_tiny_patch16_224": 224, "coat_lite_tiny": 224, "levit_128s": 224,
              "pit_ti_224": 224, "sebotnet33ts_256": 256, "bat_resnext26ts": 256, "efficientformer_l1": 224}
#: The cheapest ones, one per kind of block, for the test suite.
CI = ["regnetx_002", "mobilenetv2_100", "mnasnet_100", "lcnet_050", "convnext_atto", "dla34", "ghostnet_100",
      "repvgg_a0"]


def import_timm():
    """timm (and torchvision under it), importable next to this torch build: torchvision's meta
    registrations (for torch.compile) are replaced by an empty module, as the notes explain."""
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    import timm

    return timm


def build(name: str, seed: int = 0):
    """``(model, x)``: float64, eval mode, BatchNorm statistics and affine parameters perturbed; ``x`` is
    1x3x64x64 (1x3xSxS for the architectures of `INPUT_SIZE`)."""
    import torch

    timm = import_timm()
    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                if m.weight is not None:
                    m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    m.bias.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
    side = INPUT_SIZE.get(name, 64)
    x = torch.randn(1, 3, side, side, generator=g, dtype=torch.float64)
    return model.double().eval(), x


def check(name: str, *, n_units: int = 16, seed: int = 0) -> dict:
    """Import ``name`` and check it; a row of the docs table (raises AssertionError when a check fails)."""
    from tests.oracles_torch import edge_terms
    from topo.errors import GraphError
    from topo.nn.result import UnsupportedLayerWarning
    from topo.nn.trace import from_torch

    model, x = build(name, seed)
    row = {"model": name, "params": sum(p.numel() for p in model.parameters())}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedLayerWarning)
        try:
            imp = from_torch(model, x)
        except GraphError as exc:
            assert "\n" not in str(exc), f"{name}: a refusal must be one line"
            return {**row, "refused": str(exc)}
    row["import_s"] = time.perf_counter() - t0
    arch = imp.architecture
    unsupported = sorted({what for what, _ in imp.unsupported})
    assert not any("batch_norm" in w.lower() for w in unsupported), (name, unsupported)
    row.update(units=arch.n_nodes, constrained=arch.n_constrained, free=len(arch.free), unsupported=unsupported)
    rng = np.random.default_rng(seed)
    sample = [arch.constrained[i] for i in rng.permutation(arch.n_constrained)[:n_units].tolist()]
    row["checked"], row["worst"] = _euler(model, imp, x, sample, edge_terms)
    return row


def _euler(model, imp, x, sample, edge_terms) -> tuple[int, float]:
    """Worst relative Euler residual over the live sampled classes (the trainable edges entering and
    leaving each sampled unit's rescaling class); the negative control fails on each: the class's
    entering terms against the leaving terms of another class of the same layer."""
    from tests.oracles_torch import class_boundaries

    arch = imp.architecture
    if not sample:
        return 0, 0.0
    boundary = class_boundaries(arch)
    layer = {v: str(v).rsplit(".", 1)[0] for v in arch.constrained}
    partner = {}
    for v in sample:  # another constrained class of the same layer, for the negative control
        others = [u for u in arch.constrained[:: max(1, arch.n_constrained // 4000)] if layer[u] == layer[v] and u != v]
        if others:
            partner[v] = others[0]
    sides = {v: boundary(v) for v in [*sample, *partner.values()]}
    touching = np.unique(np.concatenate([e for pair in sides.values() for e in pair])).tolist()
    terms = edge_terms(model, imp, x, edges=touching)
    worst, live = 0.0, 0
    for v in sample:
        t_in, t_out = terms[sides[v][0]], terms[sides[v][1]]
        assert not np.isnan(t_in).any() and not np.isnan(t_out).any(), f"{v} touches an edge without a source"
        scale = np.abs(t_in).sum() + np.abs(t_out).sum()
        if scale < 1e-12:  # a dead unit on this input: nothing to check
            continue
        live += 1
        worst = max(worst, abs(t_in.sum() - t_out.sum()) / scale)
        if v in partner:
            wrong = abs(t_in.sum() - terms[sides[partner[v]][1]].sum()) / scale
            assert wrong > 1e-6, f"negative control passed at {v} (partner {partner[v]}): the check is blind"
    assert worst < 1e-9, worst
    return live, worst
