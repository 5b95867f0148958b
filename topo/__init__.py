"""topo: topology and geometry of the learning space of ReLU networks.

The main objects:

* [`Architecture`][topo.graph.architecture.Architecture] - a network as a DAG with weight groups on its edges;
* [`balance`][topo.fiber.balance.balance] - the conserved balances ``c = B̃ q(θ)`` of gradient flow;
* [`decompose`][topo.fiber.decompose.decompose] - bottleneck nodes, their regions, independent factors;
* [`connectivity`][topo.fiber.connectivity.connectivity] - frozen edges and the exact number of connected
  components of the fiber ``{θ : balances = c}``, with certificates;
* [`fiber_path`][topo.fiber.fiber_path.fiber_path] - a path inside the fiber between two points of one component;
* [`components_up_to_symmetry`][topo.symmetry.classes.components_up_to_symmetry] - components identified by the
  network's symmetries;
* [`audit`][topo.auditing.audit] - all of the above on one network (an Architecture, widths, a spec
  file or a PyTorch module), as an [`Audit`][topo.auditing.Audit] that renders and saves a report.

``topo.report`` (renderings), ``topo.plots`` (figures), ``topo.zoo``,
[`from_torch`][topo.nn.trace.from_torch] and [`BalanceMonitor`][topo.nn.monitor.BalanceMonitor] (balances during PyTorch
training) are imported on first use.
"""

from topo._version import __version__  # noqa: F401 - topo.__version__
from topo.auditing import Audit, audit
from topo.errors import CycleError, FiberError, GraphError, ParameterError, SpecError, TopoError
from topo.fiber.balance import balance, edge_norms, incidence_matrix, scaled_balance
from topo.fiber.connectivity import ConnectivityReport, Witness, component_label, connectivity, same_component
from topo.fiber.decompose import Decomposition, decompose
from topo.fiber.fiber_path import fiber_path
from topo.fiber.homology import betti_numbers
from topo.fiber.singular import floating_clusters, has_singularities, jacobian_rank, prunability, prune, singular_strata
from topo.graph import catalog, generators
from topo.graph.architecture import Architecture
from topo.graph.forward import forward
from topo.graph.spec import read_spec, write_spec
from topo.nn.train import Trajectory, train
from topo.sampling.persistence import estimate_betti, persistence
from topo.sampling.points import sample_fiber
from topo.sampling.verification import verify_topology
from topo.symmetry.automorphisms import AutomorphismGroup, automorphism_group
from topo.symmetry.classes import SymmetryClasses, components_up_to_symmetry
from topo.utils.validation import LIMITS  # noqa: F401 - topo.LIMITS, the limits in force
from topo.varieties.checks import check_outputs
from topo.varieties.patterns import (
    activation_patterns,
    functional_dimension,
    output_invariants,
    pattern_variety,
    realized_patterns,
)


def __getattr__(name: str):
    """``topo.from_torch``, ``topo.BalanceMonitor``, ``topo.zoo``, ``topo.report``, ``topo.plots``
    on first use (torch and matplotlib are not imported with topo)."""
    if name == "from_torch":
        from topo.nn.trace import from_torch

        return from_torch
    if name == "BalanceMonitor":
        from topo.nn.monitor import BalanceMonitor

        return BalanceMonitor
    if name in ("zoo", "report", "plots"):
        import importlib

        return importlib.import_module(f"topo.{name}")
    raise AttributeError(f"module 'topo' has no attribute {name!r}")

__all__ = [
    "catalog",
    "Audit",
    "audit",
    "generators",
    "Architecture",
    "ConnectivityReport",
    "CycleError",
    "Decomposition",
    "FiberError",
    "GraphError",
    "ParameterError",
    "SpecError",
    "TopoError",
    "Witness",
    "balance",
    "scaled_balance",
    "component_label",
    "connectivity",
    "decompose",
    "edge_norms",
    "fiber_path",
    "from_torch",
    "BalanceMonitor",
    "forward",
    "train",
    "Trajectory",
    "incidence_matrix",
    "read_spec",
    "floating_clusters",
    "has_singularities",
    "jacobian_rank",
    "prunability",
    "prune",
    "singular_strata",
    "same_component",
    "write_spec",
    "betti_numbers",
    "estimate_betti",
    "persistence",
    "sample_fiber",
    "verify_topology",
    "activation_patterns",
    "check_outputs",
    "functional_dimension",
    "output_invariants",
    "pattern_variety",
    "realized_patterns",
    "AutomorphismGroup",
    "automorphism_group",
    "SymmetryClasses",
    "components_up_to_symmetry",
]
