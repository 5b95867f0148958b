"""timm's ReLU families imported with their laws (needs torch and timm).

timm is an optional test dependency installed without its dependencies next to the CPU torch
(``pip install --no-deps torchvision==0.28.0 timm==1.0.31 huggingface_hub safetensors``; see
docs/torch.md).  The suite checks the cheapest architecture of each kind of block
(``tests/zoo_timm.CI``); ``python benchmarks/zoo_table.py`` checks all of ``tests/zoo_timm.ZOO``
and prints the table of docs/torch.md.
"""

import pytest

pytest.importorskip("torch", reason="needs torch (pip install torch from the CPU index)")

from tests import zoo_timm  # noqa: E402

try:
    zoo_timm.import_timm()
except ImportError as exc:  # pragma: no cover - timm is an optional test dependency
    pytest.skip(f"needs timm (pip install --no-deps timm==1.0.31 torchvision==0.28.0 huggingface_hub "
                f"safetensors): {exc}", allow_module_level=True)


@pytest.mark.parametrize("name", zoo_timm.CI)
def test_timm_architecture_imports_with_its_laws(name):
    row = zoo_timm.check(name, n_units=12)
    assert "refused" not in row, row.get("refused")
    assert row["constrained"] > 0 and row["checked"] >= 3, row
