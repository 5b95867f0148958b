"""Built-in example networks, used by ``topo audit --example NAME``.

Examples
--------
>>> import topo
>>> sorted(topo.catalog.EXAMPLES)
['deep-mlp', 'shallow', 'skip-dag', 'theory-chain']
>>> ex = topo.catalog.get("theory-chain")
>>> ex.theta is not None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from topo.graph.architecture import Architecture
from topo.utils.validation import NAME, validate_params

__all__ = ["Example", "EXAMPLES", "get"]


@dataclass(frozen=True)
class Example:
    """A named architecture with a description and optional fixed weights."""

    name: str
    description: str
    architecture: Architecture
    theta: np.ndarray | None = None


def _shallow() -> Example:
    arch = Architecture.mlp([2, 6, 1])
    rng = np.random.default_rng(1)
    theta = 0.7 * rng.standard_normal(arch.n_params)
    theta[18:24] *= 2.0  # larger output weights: some neurons get a negative balance
    return Example(
        "shallow",
        "Scalar-output shallow ReLU network 2-6-1 with biases (the 2024 paper's setting), with "
        "fixed weights: each hidden neuron with negative balance freezes its output weight, so "
        "the fiber has 2^(number of such neurons) components.",
        arch,
        theta,
    )


def _skip_dag() -> Example:
    edges = [
        ("x0", "h1"), ("x1", "h1"), ("b", "h1"),
        ("x0", "h2"), ("x1", "h2"), ("b", "h2"),
        ("h1", "h3"), ("h2", "h3"),
        ("h1", "h4"), ("x0", "h4"),            # skip connection from the input
        ("h3", "h5"),                          # h5: in-bottleneck
        ("h4", "h6"), ("h2", "h6"),
        ("h5", "h7"),                          # h7: in-bottleneck inside h5's region
        ("h7", "y0"), ("h6", "y0"), ("h1", "y0"),  # skip connection to the output
        ("h7", "y1"), ("h6", "y1"),
        ("h4", "h8"), ("h8", "y1"),            # h8: in- and out-bottleneck
    ]
    return Example(
        "skip-dag",
        "A small DAG with skip connections (x0 -> h4, h1 -> y0) and bottleneck nodes "
        "(h5, h7, h8 have a single incoming edge; h3, h5, h8 a single outgoing edge).",
        Architecture.from_edges(edges, roles={"b": "bias"}),
    )


def _deep_mlp() -> Example:
    return Example(
        "deep-mlp",
        "Deep scalar-output MLP 3-8-8-8-1 with biases: connected except for the output "
        "weights of last-layer neurons with negative balance.",
        Architecture.mlp([3, 8, 8, 8, 1]),
    )


def _theory_chain() -> Example:
    arch = Architecture.from_edges(
        [("x", "h3"), ("x2", "h3"), ("h3", "h5"), ("h5", "h7"), ("h7", "y"), ("h7", "y2")]
    )
    theta = np.array([1.0, 1.0, np.sqrt(2.0), np.sqrt(3.0), np.sqrt(0.5), np.sqrt(0.5)])
    return Example(
        "theory-chain",
        "The chain h3 -> h5 -> h7 with balances c5 = -1, c7 = 2 (fixed weights): the "
        "local rule says h3 -> h5 is free, but S = {h5, h7} freezes it.",
        arch,
        theta,
    )


EXAMPLES: dict[str, Callable[[], Example]] = {
    "shallow": _shallow,
    "skip-dag": _skip_dag,
    "deep-mlp": _deep_mlp,
    "theory-chain": _theory_chain,
}


@validate_params(name=NAME)
def get(name: str) -> Example:
    """The built-in example called ``name``."""
    import difflib

    try:
        return EXAMPLES[name]()
    except KeyError:
        close = difflib.get_close_matches(name, sorted(EXAMPLES), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise KeyError(f"unknown example {name!r}; {hint}available: {', '.join(sorted(EXAMPLES))}") from None
