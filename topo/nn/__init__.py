"""PyTorch: importing models (:mod:`~topo.nn.trace`, :mod:`~topo.nn.handlers`,
:mod:`~topo.nn.result`), the model zoo and the small trainer :func:`topo.train`.

The only part of topo that imports torch (always lazily: ``import topo.nn`` does not).
The subpackage is called ``nn`` rather than ``torch`` so that ``import torch`` inside it
means PyTorch.
"""
