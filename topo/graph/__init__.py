"""The network as a DAG: node vocabulary (`nodes`), the
[`Architecture`][topo.graph.architecture.Architecture] itself, initialisation schemes, spec
files, generators, the built-in catalog and a numpy forward pass.

Nothing here knows balances or fibers; `topo.fiber` builds on it.
"""
