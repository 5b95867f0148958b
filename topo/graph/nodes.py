"""The vocabulary of nodes: roles, activation names and what they imply.

One place decides which activation names exist, which are positively homogeneous
(``f(a x) = a f(x)`` for ``a > 0``, so that a unit carries a rescaling symmetry) and
how a leaky ReLU's slope is written (``"leaky_relu"`` is PyTorch's default slope 0.01,
``"leaky_relu(0.2)"`` any other).

Examples
--------
>>> from topo.graph.nodes import is_homogeneous, negative_slope, leaky_name
>>> is_homogeneous("relu"), is_homogeneous("gelu"), is_homogeneous("leaky_relu(0.2)")
(True, False, True)
>>> negative_slope("leaky_relu"), negative_slope("leaky_relu(0.2)"), negative_slope("relu"), negative_slope("gelu")
(0.01, 0.2, 0.0, None)
>>> leaky_name(0.01), leaky_name(0.5), leaky_name(0.0)
('leaky_relu', 'leaky_relu(0.5)', 'relu')
"""

from __future__ import annotations

from topo.errors import GraphError
from topo.utils.text import short

__all__ = [
    "ROLES", "ROLE_CODE", "INPUT", "BIAS", "HIDDEN", "OUTPUT",
    "HOMOGENEOUS_ACTIVATIONS", "NON_HOMOGENEOUS_ACTIVATIONS", "DEFAULT_LEAKY_SLOPE",
    "negative_slope", "leaky_name", "is_homogeneous", "check_activation",
]

#: PyTorch's default negative slope of ``LeakyReLU``: what ``"leaky_relu"`` means.
DEFAULT_LEAKY_SLOPE = 0.01

#: Activations that are positively homogeneous (``f(a x) = a f(x)`` for ``a > 0``):
#: a hidden node with one of these, and only trainable edges, is *constrained*.
HOMOGENEOUS_ACTIVATIONS = frozenset(
    {"relu", "leaky_relu", "linear", "identity", "sum", "maxpool", "avgpool"}
)
#: Known activations without that property: their nodes are *free*.  ``"free"``
#: (or any name starting with ``"free:"``) marks a free node explicitly.
NON_HOMOGENEOUS_ACTIVATIONS = frozenset(
    {
        "gelu", "tanh", "sigmoid", "silu", "swish", "softplus", "elu", "selu", "celu",
        "mish", "hardtanh", "hardswish", "hardsigmoid", "softsign", "sin", "square",
        "exp", "free", "relu6",
    }
)
#: Node roles.  ``bias`` is a constant source (value 1); ``input`` a data source.
ROLES = ("input", "bias", "hidden", "output")
ROLE_CODE = {name: i for i, name in enumerate(ROLES)}
INPUT, BIAS, HIDDEN, OUTPUT = range(4)


def negative_slope(name: str) -> float | None:
    """Negative slope of a ReLU-family activation name: ``"relu"`` (0), ``"leaky_relu"`` (0.01)
    or ``"leaky_relu(<slope>)"``; None for any other name (including a malformed slope).

    This is the one parser of leaky-ReLU names; `leaky_name` is its inverse.
    """
    if name == "relu":
        return 0.0
    if name == "leaky_relu":
        return DEFAULT_LEAKY_SLOPE
    if name.startswith("leaky_relu(") and name.endswith(")"):
        try:
            return float(name[len("leaky_relu("):-1])
        except ValueError:
            return None
    return None


def leaky_name(slope: float) -> str:
    """The activation name of the ReLU of negative slope ``slope`` (inverse of `negative_slope`):
    ``"relu"`` for 0, ``"leaky_relu"`` for PyTorch's default 0.01."""
    if slope == 0.0:
        return "relu"
    if abs(slope - DEFAULT_LEAKY_SLOPE) < 1e-15:
        return "leaky_relu"
    return f"leaky_relu({slope!r})"


def is_homogeneous(activation: str) -> bool:
    """Whether an activation name is positively homogeneous (``leaky_relu(<slope>)`` included)."""
    return activation in HOMOGENEOUS_ACTIVATIONS or negative_slope(activation) is not None


def check_activation(node, name) -> str:
    """The lower-cased activation name of ``node``, or a GraphError listing the known names."""
    if not isinstance(name, str):
        raise GraphError(f"activation of node {short(node)} must be a string, got {short(name)}")
    key = name.lower()
    if is_homogeneous(key) or key in NON_HOMOGENEOUS_ACTIVATIONS or key.startswith("free:"):
        return key
    known = ", ".join(sorted(HOMOGENEOUS_ACTIVATIONS | NON_HOMOGENEOUS_ACTIVATIONS))
    raise GraphError(
        f"unknown activation {short(name)} for node {short(node)}; known: {known} "
        "(use 'free' or 'free:<description>' for a node without a conservation law)"
    )
