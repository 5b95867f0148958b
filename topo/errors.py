"""Exceptions raised by topo.

Every error a user can trigger with bad input is a subclass of :class:`TopoError`
and of the matching built-in (``ValueError`` or ``TypeError``), so that
``except ValueError`` keeps working in user code.
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
]


class TopoError(Exception):
    """Base class of every error raised on purpose by topo."""


class GraphError(TopoError, ValueError):
    """The network graph is not a valid architecture (self-loop, duplicate edge, role...)."""


class CycleError(GraphError):
    """The network graph has a directed cycle; ``cycle`` lists its nodes in order."""

    def __init__(self, cycle: list):
        from .validation import short

        self.cycle = list(cycle)
        shown = self.cycle + self.cycle[:1]
        if len(shown) > 12:  # a long cycle: its start and end
            path = " -> ".join(short(v) for v in shown[:6]) + f" -> ... ({len(self.cycle) - 10} more) -> " + \
                " -> ".join(short(v) for v in shown[-5:])
        else:
            path = " -> ".join(short(v) for v in shown)
        super().__init__(f"the network graph has a directed cycle: {path}")


class ParameterError(TopoError, ValueError):
    """A parameter vector or mapping does not fit the architecture (shape, NaN, missing edge)."""


class SpecError(TopoError, ValueError):
    """A spec file cannot be read or does not describe a valid network."""


class FiberError(TopoError, ValueError):
    """Two parameter points do not lie in the same fiber or component."""


class UsageError(TopoError, ValueError):
    """A command-line argument is malformed or out of range (the CLI exits with code 2)."""


class ReportError(TopoError, ValueError):
    """A report folder holds no complete report set (missing manifest, or files of two runs)."""
