"""Components of a fiber up to the network's symmetries: the automorphism group
(`automorphisms`), moves that keep the function
(`moves`), certificates (`certificate`) and the
count of classes (`classes`).
"""

from topo.symmetry.automorphisms import AutomorphismGroup, automorphism_group, edge_permutation
from topo.symmetry.classes import SymmetryClasses, components_up_to_symmetry
from topo.symmetry.moves import SymmetryCertificate, SymmetryStep, apply_automorphism, restore_balances

__all__ = [
    "AutomorphismGroup", "automorphism_group", "edge_permutation", "SymmetryClasses",
    "components_up_to_symmetry", "SymmetryCertificate", "SymmetryStep", "apply_automorphism",
    "restore_balances",
]
