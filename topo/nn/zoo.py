"""Small PyTorch models for tests, examples and benchmarks (no torchvision).

Each factory returns ``(model, example_input)``.
"""

from __future__ import annotations

from topo.utils.validation import BOOLEAN, COUNT, COUNT_OR_ZERO, Interval, SequenceOf, validate_params

__all__ = ["mlp", "residual_mlp", "lenet", "resnet18", "resnet50", "MODELS"]

_SEED = Interval(int, 0, 2**64 - 1)  # torch.manual_seed


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover
        raise ImportError(
            "topo.zoo needs PyTorch: pip install torch, or pip install '.[torch]' from a topo checkout"
        ) from None
    return torch


@validate_params(widths=SequenceOf(COUNT, min_length=2), seed=_SEED)
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


@validate_params(width=COUNT, depth=COUNT_OR_ZERO, d_in=COUNT, d_out=COUNT, seed=_SEED)
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


@validate_params(seed=_SEED)
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


@validate_params(num_classes=COUNT, width=COUNT, seed=_SEED, batchnorm=BOOLEAN)
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


def _perturb_batchnorm(model, seed: int):
    """Non-trivial running statistics and affine parameters, so that BatchNorm folding is tested for real."""
    torch = _torch()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
    return model


@validate_params(num_classes=COUNT, width=COUNT, image_size=COUNT, seed=_SEED)
def resnet50(*, num_classes: int = 1000, width: int = 64, image_size: int = 224, seed: int = 0):
    """A ResNet-50-shaped CNN: torchvision's layout (bottleneck blocks [3, 4, 6, 3], expansion 4,
    projection shortcuts, one ReLU module per block used three times, ``out += identity``).

    Examples
    --------
    >>> from topo import zoo
    >>> model, x = zoo.resnet50(width=4, num_classes=3, image_size=32)
    >>> tuple(model(x).shape)
    (1, 3)
    """
    torch = _torch()
    torch.manual_seed(seed)
    nn = torch.nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, planes, stride):
            super().__init__()
            cout = planes * 4
            self.conv1, self.bn1 = nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes)
            self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes)
            self.conv3, self.bn3 = nn.Conv2d(planes, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            return self.relu(out)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
            self.bn1, self.relu, self.maxpool = nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
            cin, stages = width, []
            for i, blocks in enumerate((3, 4, 6, 3)):
                planes = width * 2**i
                layer = [Bottleneck(cin, planes, 1 if i == 0 else 2)]
                cin = planes * 4
                layer += [Bottleneck(cin, planes, 1) for _ in range(blocks - 1)]
                stages.append(nn.Sequential(*layer))
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(cin, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    model = _perturb_batchnorm(Net(), seed)
    return model.eval(), torch.randn(1, 3, image_size, image_size)


MODELS = {"mlp": mlp, "residual_mlp": residual_mlp, "lenet": lenet, "resnet18": resnet18, "resnet50": resnet50}
