"""The baseline of the PyTorch benchmarks, shared by ``torch_import.py`` and ``zoo_speed.py``:
``torch.fx.symbolic_trace`` of the model plus one pass over its weights (a float64 sum of each
tensor), the best of ``repeats`` runs."""

import time


def fx_baseline(model, repeats: int = 3) -> float:
    """Seconds of the best of ``repeats`` runs of an fx trace and one pass over the weights."""
    import torch

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.fx.symbolic_trace(model)
        total = 0.0
        for p in model.parameters():
            total += float(p.detach().double().sum())
        times.append(time.perf_counter() - t0)
    return min(times)
