"""Small PyTorch models for tests, examples and benchmarks (no torchvision).

Each factory returns ``(model, example_input)``.
"""

from __future__ import annotations

__all__ = ["mlp", "residual_mlp", "lenet", "resnet18", "MODELS"]


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover
        raise ImportError(
            "topo.zoo needs PyTorch: pip install torch, or pip install '.[torch]' from a topo checkout"
        ) from None
    return torch


def mlp(widths=(8, 16, 16, 1), *, seed: int = 0):
    """A ReLU MLP with the given widths."""
    torch = _torch()
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval(), torch.randn(4, widths[0])


def residual_mlp(width: int = 8, depth: int = 2, *, d_in: int = 4, d_out: int = 2, seed: int = 0):
    """An MLP with residual blocks ``x + W2 relu(W1 x)``."""
    torch = _torch()
    torch.manual_seed(seed)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(width, width)
            self.fc2 = torch.nn.Linear(width, width)

        def forward(self, x):
            return x + self.fc2(torch.relu(self.fc1(x)))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = torch.nn.Linear(d_in, width)
            self.blocks = torch.nn.Sequential(*[Block() for _ in range(depth)])
            self.out = torch.nn.Linear(width, d_out)

        def forward(self, x):
            return self.out(self.blocks(torch.relu(self.inp(x))))

    return Net().eval(), torch.randn(4, d_in)


def lenet(*, seed: int = 0):
    """A LeNet-style CNN for 1x28x28 inputs (conv-relu-pool twice, three Linear layers)."""
    torch = _torch()
    torch.manual_seed(seed)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    return model.eval(), torch.randn(2, 1, 28, 28)


def resnet18(*, num_classes: int = 10, width: int = 64, seed: int = 0, batchnorm: bool = True):
    """A ResNet-18-shaped CNN (basic blocks [2, 2, 2, 2], widths 64..512) for 3x32x32 inputs."""
    torch = _torch()
    torch.manual_seed(seed)
    nn = torch.nn

    def norm(c):
        return nn.BatchNorm2d(c) if batchnorm else nn.Identity()

    class Basic(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = norm(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = norm(cout)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), norm(cout))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            s = x if self.short is None else self.short(x)
            return torch.relu(out + s)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
            self.bn1 = norm(width)
            layers, cin = [], width
            for i, mult in enumerate((1, 2, 4, 8)):
                cout = width * mult
                layers += [Basic(cin, cout, 1 if i == 0 else 2), Basic(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, num_classes)

        def forward(self, x):
            x = torch.relu(self.bn1(self.conv1(x)))
            x = self.pool(self.layers(x))
            return self.fc(torch.flatten(x, 1))

    model = Net()
    if batchnorm:  # non-trivial running statistics, so that folding is tested for real
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
    return model.eval(), torch.randn(2, 3, 32, 32)


MODELS = {"mlp": mlp, "residual_mlp": residual_mlp, "lenet": lenet, "resnet18": resnet18}
