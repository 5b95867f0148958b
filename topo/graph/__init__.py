"""The network as a DAG: node vocabulary (:mod:`~topo.graph.nodes`), the
:class:`~topo.graph.architecture.Architecture` itself, initialisation schemes, spec
files, generators, the built-in catalog and a numpy forward pass.

Nothing here knows balances or fibers; :mod:`topo.fiber` builds on it.
"""
