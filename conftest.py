"""Root pytest configuration: doctests that need the optional torch extra are
collected only where torch is installed (CI installs it; see .ci/run); the griffe extension of the
docs site (docs/griffe_defaults.py, loaded by mkdocs) is not a module of the package."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

collect_ignore = ["docs/griffe_defaults.py"]

try:
    import torch  # noqa: F401
except ImportError:  # the core install: torch paths are exercised in CI
    collect_ignore += ["topo/zoo.py", "docs/torch.md", "topo/experiments/pathological.py",
                       "topo/experiments/regularizers.py", "topo/experiments/optimizers.py", "docs/experiments.md",
                       "docs/monitor.md", "tests/oracles_torch.py", "tests/random_torch_models.py"]
    collect_ignore_glob = ["topo/nn/*.py"]
