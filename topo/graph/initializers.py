"""Random initialisation schemes, with the bias rule made explicit.

Every scheme draws each scalar parameter independently from a centred normal or
uniform law whose scale depends on the fan-in (and, for Xavier, the fan-out) of
the edge's endpoints.  What differs between conventions is the treatment of
biases:

``"input"``
    A bias is an input edge of the theory: it counts in the fan-in of its unit
    and is drawn like the unit's other input weights (topo's historical rule).
``"pytorch"``
    The rule of ``torch.nn.Linear``: fan-ins and fan-outs count weight edges
    only, and a bias is drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
    whatever the weight scheme.
``"zeros"``
    Fan-ins count weight edges only; biases are zero.

[`init_scales`][topo.graph.initializers.init_scales] returns the law and scale of every parameter, so that exact
computations (e.g. obstruction probabilities) and the sampler share one source.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topo.errors import ParameterError
from topo.graph.nodes import BIAS
from topo.utils.text import short
from topo.utils.validation import SEED, Interval, NoneOr, Options, check_parameter_memory, validate_params

__all__ = ["SCHEMES", "BIAS_RULES", "SCHEME", "BIAS_RULE", "INIT_BYTES_PER_PARAMETER", "init_scales", "draw_parameters", "resolve_bias_rule"]

#: scheme -> (law, gain function of (fan_in, fan_out)); the law's scale is the
#: standard deviation for "normal", the half-width of the support for "uniform".
SCHEMES = {
    "kaiming": ("normal", lambda fi, fo: np.sqrt(2.0 / fi)),
    "kaiming_normal": ("normal", lambda fi, fo: np.sqrt(2.0 / fi)),
    "kaiming_uniform": ("uniform", lambda fi, fo: np.sqrt(6.0 / fi)),
    "xavier": ("normal", lambda fi, fo: np.sqrt(2.0 / (fi + fo))),
    "xavier_normal": ("normal", lambda fi, fo: np.sqrt(2.0 / (fi + fo))),
    "xavier_uniform": ("uniform", lambda fi, fo: np.sqrt(6.0 / (fi + fo))),
    "normal": ("normal", lambda fi, fo: np.ones_like(fi)),
    "uniform": ("uniform", lambda fi, fo: 1.0 / np.sqrt(fi)),
    "pytorch": ("uniform", lambda fi, fo: 1.0 / np.sqrt(fi)),
}
BIAS_RULES = ("input", "pytorch", "zeros")
_DEFAULT_BIAS = {"pytorch": "pytorch"}

#: The constraints of ``scheme`` and ``bias`` arguments (`validate_params`).
SCHEME = Options(*SCHEMES, unknown="init scheme")
BIAS_RULE = Options(None, *BIAS_RULES, unknown="bias rule")

#: Peak bytes per parameter of one random draw (laws, scales, the draws), checked before it starts.
INIT_BYTES_PER_PARAMETER = 48


def resolve_bias_rule(scheme: str, bias: str | None) -> str:
    """The bias rule in force for ``scheme`` (its default when ``bias`` is None), after
    checking both names.

    Examples
    --------
    >>> resolve_bias_rule("pytorch", None), resolve_bias_rule("kaiming", None)
    ('pytorch', 'input')
    """
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ParameterError(f"unknown init scheme {short(scheme)}; expected one of {', '.join(SCHEMES)}")
    rule = _DEFAULT_BIAS.get(scheme, "input") if bias is None else bias
    if not isinstance(rule, str) or rule not in BIAS_RULES:
        raise ParameterError(f"unknown bias rule {short(bias)}; expected one of {', '.join(BIAS_RULES)}")
    return rule


@validate_params(scheme=SCHEME, bias=BIAS_RULE)
def init_scales(arch, scheme: str = "kaiming", *, bias: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Law and scale of every parameter under an initialisation scheme.

    Parameters
    ----------
    arch : Architecture
    scheme : str
        ``"kaiming"`` (= ``"kaiming_normal"``, N(0, 2/fan_in)), ``"kaiming_uniform"``
        (U(±sqrt(6/fan_in))), ``"xavier"`` (= ``"xavier_normal"``, N(0, 2/(fan_in+fan_out))),
        ``"xavier_uniform"`` (U(±sqrt(6/(fan_in+fan_out)))), ``"normal"`` (N(0, 1)),
        ``"uniform"`` (U(±1/sqrt(fan_in))) or ``"pytorch"`` (the default of
        ``torch.nn.Linear``: U(±1/sqrt(fan_in)) for weights and biases).
    bias : {"input", "pytorch", "zeros"}, optional
        The bias rule (module docstring); default ``"pytorch"`` for the ``"pytorch"``
        scheme and ``"input"`` otherwise.

    Returns
    -------
    (numpy.ndarray of str, numpy.ndarray of float)
        Per parameter: ``"normal"``, ``"uniform"`` or ``"zero"``, and the standard
        deviation (normal) or half-width (uniform).

    Examples
    --------
    >>> import topo
    >>> from topo.graph.initializers import init_scales
    >>> arch = topo.Architecture.mlp([2, 1])          # y = w0 x0 + w1 x1 + b
    >>> law, scale = init_scales(arch, "pytorch")
    >>> law.tolist(), scale.round(4).tolist()
    (['uniform', 'uniform', 'uniform'], [0.7071, 0.7071, 0.7071])
    >>> init_scales(arch, "kaiming")[1].round(4).tolist()          # bias counted in fan_in
    [0.8165, 0.8165, 0.8165]
    >>> init_scales(arch, "kaiming", bias="zeros")[0].tolist()
    ['normal', 'normal', 'zero']
    """
    rule = resolve_bias_rule(scheme, bias)
    law, gain = SCHEMES[scheme]
    sizes = arch.edge_sizes
    src, dst = arch.src, arch.dst
    is_bias = arch.role_codes[src] == BIAS
    counted = sizes * (~is_bias if rule != "input" else np.ones(len(src), dtype=bool))
    fan_in = np.bincount(dst, weights=counted, minlength=arch.n_nodes)
    fan_out = np.bincount(src, weights=counted, minlength=arch.n_nodes)
    fi = np.maximum(fan_in[dst], 1.0)
    edge_scale = gain(fi, fan_out[src]).astype(np.float64)
    edge_law = np.full(len(src), law, dtype=object)
    if rule == "pytorch":
        edge_law[is_bias] = "uniform"
        edge_scale[is_bias] = 1.0 / np.sqrt(fi[is_bias])
    elif rule == "zeros":
        edge_law[is_bias] = "zero"
        edge_scale[is_bias] = 0.0
    return np.repeat(edge_law, sizes).astype(str), np.repeat(edge_scale, sizes)


@validate_params(scheme=SCHEME, bias=BIAS_RULE, seed=SEED, size=NoneOr(Interval(int, 0)))
def draw_parameters(
    arch, scheme: str = "kaiming", *, bias: str | None = None, seed: Any = None, size: int | None = None,
) -> np.ndarray:
    """Random parameter vector(s) of ``arch`` (see [`init_scales`][topo.graph.initializers.init_scales]).

    ``size=None`` gives one vector of shape ``(n_params,)``; ``size=n`` a matrix of
    ``n`` independent vectors (one per row).  The same ``seed`` gives the same draw.

    Examples
    --------
    >>> import topo
    >>> from topo.graph.initializers import draw_parameters
    >>> arch = topo.Architecture.mlp([3, 4, 1])
    >>> draw_parameters(arch, "pytorch", seed=0, size=5).shape
    (5, 21)
    >>> bool((draw_parameters(arch, seed=1) == arch.init("kaiming", seed=1)).all())
    True
    """
    check_parameter_memory(arch, INIT_BYTES_PER_PARAMETER, "a random initialisation", rows=1 if size is None else size)
    law, scale = init_scales(arch, scheme, bias=bias)
    rng = np.random.default_rng(seed)
    shape = (arch.n_params,) if size is None else (int(size), arch.n_params)
    if (law == "normal").all():
        return rng.standard_normal(shape) * scale
    if (law == "uniform").all():
        return rng.uniform(-1.0, 1.0, shape) * scale
    normal = rng.standard_normal(shape)
    uniform = rng.uniform(-1.0, 1.0, shape)
    return np.where(law == "normal", normal, np.where(law == "uniform", uniform, 0.0)) * scale
