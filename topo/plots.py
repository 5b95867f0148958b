"""``topo.plots``: figures of single networks (activation regions, persistence diagrams,
fiber scatter plots, the report's DAG drawing and balance histogram).

The functions live in [`topo.report.plots`][topo.report.plots]; this module keeps the short name.
Importing it needs matplotlib (a core dependency), never torch.
"""

from topo.report.plots import *  # noqa: F401,F403
from topo.report.plots import __all__  # noqa: F401
