"""Helpers below everything else: how user values are quoted in messages
(:mod:`topo.utils.text`) and the checks of types, ranges and sizes done at every
public entry point (:mod:`topo.utils.validation`)."""
