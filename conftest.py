"""Root pytest configuration: doctests that need the optional torch extra are
collected only where torch is installed (CI installs it; see .ci/run)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

try:
    import torch  # noqa: F401
except ImportError:  # the core install: torch paths are exercised in CI
    collect_ignore = ["topo/torch_import.py", "topo/zoo.py", "topo/dynamics.py", "docs/torch.md",
                      "topo/experiments/pathological.py", "topo/experiments/regularizers.py",
                      "docs/experiments.md", "tests/oracles_torch.py"]
