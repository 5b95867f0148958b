"""Output varieties on data (arXiv 2508.03867): activation patterns, exact dimensions of
pattern varieties, functional dimension, output invariants (`patterns`)
and whether given outputs can come from the network (`checks`).
"""

from topo.varieties.checks import OutputCheck, check_outputs
from topo.varieties.patterns import (Invariant, PatternVariety, activation_patterns, functional_dimension,
                                     modular_rank, output_invariants, pattern_units, pattern_variety,
                                     realized_patterns, unpack_pattern)

__all__ = [
    "OutputCheck", "check_outputs", "Invariant", "PatternVariety", "activation_patterns",
    "functional_dimension", "modular_rank", "output_invariants", "pattern_units", "pattern_variety",
    "realized_patterns", "unpack_pattern",
]
