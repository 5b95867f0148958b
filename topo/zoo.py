"""``topo.zoo``: small PyTorch models for examples, tests and ``topo audit --torch topo.zoo:NAME``.

The models live in [`topo.nn.zoo`][topo.nn.zoo]; this module keeps the short name that command
lines and scripts use.  Importing it needs PyTorch.
"""

from topo.nn.zoo import *  # noqa: F401,F403
from topo.nn.zoo import __all__  # noqa: F401
