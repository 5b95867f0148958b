"""Audit PyTorch models from Python.

Imports models with topo.from_torch (torch.fx) and prints which units carry a
conservation law and why the others do not.  Then it makes two last-layer units of
a scalar-output MLP pathological by rescaling them (a symmetry of the network: the
function is unchanged), and audits it: the frozen edges are listed with the model
parameters that hold their weights.  The HTML report (with a drawing of the
network) goes to DIR.

Run:  python examples/torch_audit.py [--out DIR]
"""

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import torch

import topo


def rescale_unit(model_in, model_out, j, alpha):
    """Scale unit j's incoming weights by alpha and outgoing weights by 1/alpha (same function)."""
    with torch.no_grad():
        model_in.weight[j] *= alpha
        if model_in.bias is not None:
            model_in.bias[j] *= alpha
        model_out.weight[:, j] /= alpha


def main(out: Path):
    torch.manual_seed(0)
    # a residual MLP: each residual-stream channel (the units joined by the identity skip) is one
    # rescaling class with one conserved balance, shared by its members
    model, x = topo.zoo.residual_mlp(width=6, depth=1, d_in=3, d_out=1)
    arch = topo.from_torch(model).architecture
    print(f"residual MLP: {arch.n_constrained} conserved balances, {arch.n_shared} shared along the residual "
          f"stream; free units by reason:", dict(Counter(arch.free_reasons.values())))
    assert arch.n_shared == 6 and not arch.free_reasons
    # a LeNet-style CNN at channel level: every channel and neuron is constrained
    model, x = topo.zoo.lenet()
    arch = topo.from_torch(model, x).architecture
    print(f"LeNet: {arch.n_constrained} constrained units (channels and neurons), {arch.n_edges} edges\n")

    # a scalar-output MLP: its last hidden units reach the output through a single edge
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 1)).eval()
    x = torch.randn(16, 4)
    y_before = model(x)
    for j in (2, 5):  # make two of them pathological by a rescaling (same function)
        rescale_unit(model[2], model[4], j, 0.2)
    np.testing.assert_allclose(model(x).detach().numpy(), y_before.detach().numpy(), rtol=1e-5, atol=1e-6)
    audit = topo.audit(model, name="mlp-4-8-8-1", source="torch.nn.Sequential, two units rescaled")
    print(audit.summary())
    arch, c = audit.architecture, audit.c
    negative = [v for v in arch.constrained if v.startswith("2.") and c[arch.constrained_row(v)] < 0]
    assert audit.n_components == 2 ** len(negative) >= 4
    frozen = audit.frozen_edges(records=True)  # a DataFrame without records=True when pandas is installed
    assert all(row["module"] == "4" for row in frozen)
    paths = audit.save(out, formats=("json", "html"))
    print("wrote", ", ".join(map(str, paths)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("audit-torch-mlp"))
    main(parser.parse_args().out)
