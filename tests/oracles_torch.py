"""Independent oracles for the PyTorch import (need torch).

The rescaling symmetry of a constrained unit v (in-edges x α, out-edges x 1/α)
leaves the model's function unchanged, so by Euler's identity, for any loss L of
the outputs,

    Σ_{e into v} ⟨θ_e, ∂L/∂θ_e⟩ − Σ_{e out of v} ⟨θ_e, ∂L/∂θ_e⟩ = 0.

The gradients come from torch autograd on the model itself (on a copy in which
every eval-mode BatchNorm is rewritten, by the formulas below and not by topo, so
that its parameters are the imported edge weights).  The identity fails for a unit
that is grouped wrongly (an edge missing, an extra edge, an edge assigned to the
wrong parameter) or that is not homogeneous, so it checks the imported graph and
``edge_source`` together.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from topo.nn.result import parameter_name


def _index(idx):
    return tuple(slice(*map(int, i.split(":"))) if isinstance(i, str) else i for i in idx)


def _np(t):
    return t.detach().double().numpy()


def _producers(m, x):
    """``{BatchNorm qual: module}``: the module with a weight of its own whose output each BatchNorm
    module reads, found by running the model with forward hooks (so BatchNorms called through
    ``F.batch_norm`` inside norm-act modules are found as well as leaf modules)."""
    made, read, handles = {}, {}, []

    def reads(mod, inp, qual):
        read.setdefault(qual, (id(inp[0]), inp[0]))  # kept alive: ids stay unique; return None (a value
        # returned by a pre-hook would replace the input)

    def makes(mod, inp, out):
        if torch.is_tensor(out):
            made.setdefault(id(out), (mod, out))

    for qual, mod in m.named_modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            handles.append(mod.register_forward_pre_hook(lambda mod, inp, qual=qual: reads(mod, inp, qual)))
        elif "weight" in dict(mod.named_parameters(recurse=False)):
            handles.append(mod.register_forward_hook(makes))
    try:
        with torch.no_grad():
            keep = m(x)  # noqa: F841 - the outputs stay alive while ids are compared
            return {q: made[i][0] for q, (i, _) in read.items() if i in made}
    finally:
        for h in handles:
            h.remove()


def _folded_batchnorms(imp) -> set:
    """The BatchNorms the import folded into the layer before them, read from the layer records'
    notes ("folded with BatchNorm 'q'"): a BatchNorm without affine parameters is named by no edge."""
    found = set()
    for blk in imp.edge_source.blocks():
        note = blk[7] or ""
        if note.startswith("folded with BatchNorm "):
            found.add(note[len("folded with BatchNorm "):].split("'")[1])
    return found


def rewritten_copy(model, imp, x):
    """A float64 copy of ``model`` whose parameters hold the imported edge weights.

    A BatchNorm with edges of its own (``edge_source`` names its weight) becomes the
    affine map ``s x + t`` with ``s = γ/√(var+ε)``, ``t = β − mean·s``; a BatchNorm
    folded into the layer before it moves its scale into that layer's weight and
    the whole bias ``(b − mean)·s + β`` into its own bias (the layer's bias is zeroed),
    or, without affine parameters, into the layer's bias, or (no bias anywhere) into its
    running mean as a constant.  A BatchNorm without affine parameters that is not folded
    is left as it is (its edges are fixed).
    """
    m = copy.deepcopy(model).double().eval()
    named = imp.edge_source.parameters()
    own_weight = {q for q, p in named if p == "weight"}
    folded = _folded_batchnorms(imp) - own_weight
    mods = dict(m.named_modules())
    producer = _producers(m, x.double())
    with torch.no_grad():
        for qual, bn in mods.items():
            if not isinstance(bn, torch.nn.modules.batchnorm._BatchNorm) or qual not in own_weight | folded:
                continue
            # in numpy: torch's vectorised division may differ from it in the last bit
            gamma = _np(bn.weight) if bn.weight is not None else np.ones(bn.num_features)
            beta = _np(bn.bias) if bn.bias is not None else np.zeros(bn.num_features)
            s = gamma / np.sqrt(_np(bn.running_var) + bn.eps)
            t = beta - _np(bn.running_mean) * s
            if qual in own_weight:
                bn.weight.copy_(torch.from_numpy(s))
                bn.bias.copy_(torch.from_numpy(t))
                bn.running_mean.zero_()
            else:
                layer = producer[qual]
                W = _np(layer.weight)
                layer.weight.copy_(torch.from_numpy(W * s.reshape((-1,) + (1,) * (W.ndim - 1))))
                if layer.bias is not None:
                    t = t + _np(layer.bias) * s
                    layer.bias.zero_()
                if bn.affine:
                    bn.weight.fill_(1.0)
                    bn.bias.copy_(torch.from_numpy(t))
                    bn.running_mean.zero_()
                elif layer.bias is not None:
                    layer.bias.copy_(torch.from_numpy(t))
                    bn.running_mean.zero_()
                else:
                    bn.running_mean.copy_(torch.from_numpy(-t))  # x - mean = x + t
            bn.running_var.fill_(1.0 - bn.eps)
    return m


def flat_output(out) -> torch.Tensor:
    """Every tensor a model returns (a tensor, or tuples, lists and dicts of them, in order), each
    flattened per sample and concatenated: the outputs as topo numbers them."""
    found = []

    def walk(o):
        if torch.is_tensor(o):
            found.append(o.reshape(o.shape[0], -1))
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v)

    walk(out)
    return torch.cat(found, dim=1)


def _train_copy(model):
    """A float64 copy of ``model`` in training mode, not rewritten: for an import with
    ``batch_statistics=True``, whose edges are the model's parameters themselves."""
    return copy.deepcopy(model).double().train()


def edge_terms(model, imp, x, *, seed: int = 0, edges=None, train: bool = False):
    """``⟨θ_e, ∂L/∂θ_e⟩`` for every edge with a source (L a random quadratic loss of the outputs),
    after checking that each source holds exactly the edge's imported weights; ``edges``: only those
    edge indices (the others are NaN); ``train``: of the model itself in training mode (BatchNorms
    with the batch's statistics; `_train_copy`), else of the eval-mode `rewritten_copy`."""
    m = _train_copy(model) if train else rewritten_copy(model, imp, x)
    arch = imp.architecture
    xd = x.double()
    out = flat_output(m(xd))
    if not train:
        ref = flat_output(copy.deepcopy(model).double().eval()(xd))
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-9, atol=1e-9)
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(out.shape, generator=g, dtype=torch.float64)
    loss = ((out - target) ** 2).sum() + (out ** 3).sum() * 0.1
    params = dict(m.named_parameters())
    names = list(params)
    grads = dict(zip(names, torch.autograd.grad(loss, [params[k] for k in names], allow_unused=True)))
    terms = np.full(arch.n_edges, np.nan)
    all_edges = arch.edges
    for e in (range(arch.n_edges) if edges is None else edges):
        if not arch.edge_trainable[e]:
            continue
        edge = all_edges[e]
        qual, pname, idx = imp.edge_source[edge]
        full = parameter_name(qual, pname)
        assert full in params, f"edge {edge} names {full!r}, which is not a parameter of the model"
        p, gr = params[full].detach()[_index(idx)], grads[full]
        gr = torch.zeros_like(params[full]) if gr is None else gr
        gr = gr[_index(idx)]
        np.testing.assert_array_equal(p.reshape(-1).numpy(), imp.theta[arch.edge_slice(edge)],
                                      err_msg=f"edge {edge}: {full}{list(idx)}")
        terms[e] = float((p * gr).sum())
    return terms


def class_boundaries(arch):
    """``boundary(v, singleton=False) -> (entering, leaving)``: the trainable edges entering and
    leaving the rescaling class of ``v``, the classes computed once here from the fixed edges by
    networkx, not by topo (``singleton``: the node alone)."""
    import networkx as nx

    fixed = np.flatnonzero(~arch.edge_trainable)
    U = nx.Graph()
    U.add_nodes_from(range(arch.n_nodes))
    U.add_edges_from(zip(arch.src[fixed].tolist(), arch.dst[fixed].tolist()))
    tr = arch.edge_trainable

    def boundary(v, *, singleton: bool = False) -> tuple[np.ndarray, np.ndarray]:
        i = arch.node_index(v)
        members = {i} if singleton else nx.node_connected_component(U, i)
        mask = np.zeros(arch.n_nodes, dtype=bool)
        mask[list(members)] = True
        head, tail = mask[arch.dst], mask[arch.src]
        return np.flatnonzero(tr & head & ~tail), np.flatnonzero(tr & tail & ~head)

    return boundary


def class_edges(arch, v, *, singleton: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Trainable edges entering and leaving the rescaling class of ``v`` (see `class_boundaries`)."""
    return class_boundaries(arch)(v, singleton=singleton)


def euler_residuals(model, imp, x, *, units=None, seed: int = 0, drop_fixed: bool = False,
                    train: bool = False) -> dict:
    """Relative Euler residual of the rescaling symmetry of each unit's class (default: one unit
    per constrained class): Σ_in ⟨θ, g⟩ − Σ_out ⟨θ, g⟩ over the class's trainable boundary.

    ``drop_fixed`` treats each unit as a class of its own (as a graph that lost its fixed
    edges would): for negative controls.  ``train``: gradients of the model in training mode
    (see `edge_terms`).
    """
    arch = imp.architecture
    terms = edge_terms(model, imp, x, seed=seed, train=train)
    units = arch.constrained if units is None else units
    boundary = class_boundaries(arch)
    out = {}
    for v in units:
        e_in, e_out = boundary(v, singleton=drop_fixed)
        both = np.concatenate([terms[e_in], terms[e_out]])
        assert not np.isnan(both).any(), f"the class of {v} touches an edge without a source"
        scale = np.abs(both).sum()
        out[v] = abs(terms[e_in].sum() - terms[e_out].sum()) / max(scale, 1e-300)
    return out


def rescaled_outputs(model, imp, x, v, alpha: float, *, leaving: bool = True, train: bool = False):
    """``model(x)`` before and after rescaling the class of ``v`` in the model's own parameters
    (entering trainable edges × alpha, leaving × 1/alpha; ``leaving=False``: entering only);
    ``train``: of the model itself in training mode (see `edge_terms`), both calls with the same
    Dropout masks."""
    m = _train_copy(model) if train else rewritten_copy(model, imp, x)
    arch = imp.architecture
    xd = x.double()

    def run():
        if train:
            torch.manual_seed(0)
        return flat_output(m(xd)).detach().clone()

    before = run()
    params = dict(m.named_parameters())
    e_in, e_out = class_edges(arch, v)
    with torch.no_grad():
        for idx, factor in ((e_in, alpha), (e_out, 1.0 / alpha if leaving else 1.0)):
            for e in idx.tolist():
                qual, pname, where = imp.edge_source[arch.edges[e]]
                params[parameter_name(qual, pname)][_index(where)] *= factor
    return before, run()
