"""Exceptions raised by topo.

Every error a user can trigger with bad input is a subclass of [`TopoError`][topo.errors.TopoError]
and of the matching built-in (``ValueError`` or ``TypeError``), so that
``except ValueError`` keeps working in user code.

This module is the bottom of the package: it imports nothing from topo.
"""

from __future__ import annotations

__all__ = [
    "TopoError",
    "GraphError",
    "CycleError",
    "ParameterError",
    "SpecError",
    "FiberError",
    "UsageError",
    "ReportError",
    "TargetError",
]


class TopoError(Exception):
    """Base class of every error raised on purpose by topo."""


class GraphError(TopoError, ValueError):
    """The network graph is not a valid architecture (self-loop, duplicate edge, role...)."""


class CycleError(GraphError):
    """The network graph has a directed cycle; ``cycle`` lists its nodes in order."""

    def __init__(self, cycle: list, message: str | None = None):
        self.cycle = list(cycle)
        if message is None:  # the raiser usually formats the names (topo.graph.architecture)
            message = "the network graph has a directed cycle: " + " -> ".join(
                repr(v) for v in self.cycle + self.cycle[:1])
        super().__init__(message)


class ParameterError(TopoError, ValueError):
    """A parameter vector or mapping does not fit the architecture (shape, NaN, missing edge)."""


class SpecError(TopoError, ValueError):
    """A spec file cannot be read or does not describe a valid network."""


class FiberError(TopoError, ValueError):
    """Two parameter points do not lie in the same fiber or component."""


class UsageError(TopoError, ValueError):
    """A command-line argument is malformed or out of range (the CLI exits with code 2)."""


class TargetError(TopoError, TypeError):
    """``topo.audit`` was given something it cannot audit (or a PyTorch model failed to import)."""


class ReportError(TopoError, ValueError):
    """A report folder holds no complete report set (missing manifest, or files of two runs)."""
