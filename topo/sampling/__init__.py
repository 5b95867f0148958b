"""Sampled topology of fibers: the flow polytope, fiber and factor samples, Rips
persistence and the per-factor check of sampled against exact topology.

The modules are `polytope`, `points`,
`factors`, `persistence` and
`verification`.
"""

from topo.sampling.points import default_radius, sample_fiber
from topo.sampling.verification import FactorCheck, TopologyCheck, verify_topology

__all__ = ["sample_fiber", "default_radius", "verify_topology", "TopologyCheck", "FactorCheck"]
