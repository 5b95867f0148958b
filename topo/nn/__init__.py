"""PyTorch: importing models (`trace`, `handlers`,
`result`), the model zoo and the small trainer [`topo.train`][topo.nn.train.train].

The only part of topo that imports torch (always lazily: ``import topo.nn`` does not).
The subpackage is called ``nn`` rather than ``torch`` so that ``import torch`` inside it
means PyTorch.
"""
