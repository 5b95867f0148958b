"""Helpers below everything else: how user values are quoted in messages
([`topo.utils.text`][topo.utils.text]) and the checks of types, ranges and sizes done at every
public entry point ([`topo.utils.validation`][topo.utils.validation])."""
