"""The model zoo: architectures a Program can name and rebuild (``arch`` + ``kwargs``)."""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import nn

from ..core.check import need_dict, need_key, need_str
from ..core.errors import XbarError, field_error
from ..core.io import load_tensors, save_tensors
from .circulant import BLOCK_SIZES, make_circulant


class MnistCNN(nn.Module):
    """Two 3x3 conv layers (ReLU, 2x2 max-pool) and a linear classifier."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, in_size: int = 28, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.fc = nn.Linear(2 * width * (in_size // 4) ** 2, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


class TaskCNN(nn.Module):
    """The adaptation backbone: four 3x3 conv layers (ReLU, 2x2 max-pool after each of the
    first three), global average pooling and a linear head ``fc``, the one layer that is
    replaced per task. On the default design (8 crossbars per PE) the four conv layers span
    2 + 12 + 40 + 144 crossbars in 1 + 2 + 5 + 18 = 26 PEs, so a reprogramming budget of a
    few percent of PEs still has PEs to choose between; most weights sit at low resolution
    (7x7 and 3x3), which keeps the bit-serial crossbar evaluation affordable."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: tuple = (32, 64, 128, 256)):
        super().__init__()
        w1, w2, w3, w4 = widths
        self.conv1 = nn.Conv2d(in_channels, w1, 3, padding=1)
        self.conv2 = nn.Conv2d(w1, w2, 3, padding=1)
        self.conv3 = nn.Conv2d(w2, w3, 3, padding=1)
        self.conv4 = nn.Conv2d(w3, w4, 3, padding=1)
        self.fc = nn.Linear(w4, num_classes)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        return F.adaptive_avg_pool2d(F.relu(self.conv4(x)), 1).flatten(1)

    def forward(self, x):
        return self.fc(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """CIFAR-style ResNet-20 (He et al. 2016): 3 stages of 3 basic blocks, 1x1 conv shortcuts."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, cin = [], width
        for i, cout in enumerate([width, 2 * width, 4 * width]):
            for j in range(3):
                layers.append(BasicBlock(cin, cout, 2 if (i > 0 and j == 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


ARCHS = {"mnist_cnn": MnistCNN, "task_cnn": TaskCNN, "resnet20": ResNet20}
#: allowed range of each architecture argument (the classifier head of every zoo model, the
#: layer a task replaces, is ``fc``: xbar_hw.core.program.ZOO_HEADS)
KWARG_RANGES = {"in_channels": (1, 64), "num_classes": (1, 10000), "in_size": (4, 1024), "width": (1, 1024)}
#: the most float parameters a zoo model may have (4 GiB of float32): past this an argument is a typo
MAX_PARAMETERS = 1 << 30


def check_kwargs(arch: str, kwargs: dict, where: str = "model") -> None:
    """Raise a one-line XbarError unless ``kwargs`` are arguments of ``arch`` within range."""
    if not isinstance(kwargs, dict):
        raise field_error(f"{where}.kwargs", kwargs, "a mapping of architecture arguments")
    allowed = [p for p in inspect.signature(ARCHS[arch]).parameters]
    for key, value in kwargs.items():
        if key not in allowed:
            raise field_error(f"{where}.kwargs", key, f"arguments of {arch}: {', '.join(allowed)}")
        if key == "widths":
            ok = isinstance(value, (list, tuple)) and len(value) == 4 and all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1024 for v in value)
            if not ok:
                raise field_error(f"{where}.kwargs.widths", value, "4 integers in [1, 1024]")
            continue
        lo, hi = KWARG_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise field_error(f"{where}.kwargs.{key}", value, f"an integer in [{lo}, {hi}]")
    if arch == "mnist_cnn":
        size, width = kwargs.get("in_size", 28), kwargs.get("width", 16)
        fc = 2 * width * (size // 4) ** 2 * kwargs.get("num_classes", 10)
        if fc > MAX_PARAMETERS:
            raise field_error(f"{where}.kwargs.width", width, f"a model of at most {MAX_PARAMETERS} parameters "
                              f"(its fc layer alone has 2 * width * (in_size // 4)^2 * num_classes = {fc})")


def build_model(arch: str, seed: int | None = None, **kwargs) -> nn.Module:
    """A zoo model; with ``seed``, its initial weights depend on nothing else. Unknown or
    out-of-range arguments raise a one-line XbarError."""
    if arch not in ARCHS:
        raise field_error("arch", arch, "one of " + ", ".join(ARCHS))
    check_kwargs(arch, kwargs)
    if seed is None:
        return ARCHS[arch](**kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ARCHS[arch](**kwargs)


MODEL_KEY = "xbar_hw.model"


def save_model(model: nn.Module, arch: str, kwargs: dict, path, meta: dict | None = None) -> None:
    """A float model as safetensors; its architecture and ``meta`` as JSON in the header."""

    save_tensors(path, model.state_dict(), MODEL_KEY, {"arch": arch, "kwargs": kwargs, "meta": meta or {}})


def load_model(path) -> tuple[nn.Module, dict]:
    """Rebuild a model written by :func:`save_model`; returns (model, its JSON document)."""

    tensors, doc = load_tensors(path, MODEL_KEY, "model")
    need_dict(doc, "model header")
    arch = need_str(need_key(doc, "arch", "model"), "model.arch", tuple(ARCHS))
    kwargs = need_dict(doc.get("kwargs", {}), "model.kwargs")
    check_kwargs(arch, kwargs)
    meta = need_dict(doc.get("meta", {}), "model.meta")
    for key, t in tensors.items():
        if t.dtype.is_floating_point and not bool(torch.isfinite(t).all()):
            raise XbarError(f"model: tensor {key!r} holds NaN or infinite values; allowed: finite numbers")
    model = build_model(arch, **kwargs)
    if meta.get("circulant") is not None:  # a block-circulant model (train --circulant B)
        b = meta["circulant"]
        if isinstance(b, bool) or b not in BLOCK_SIZES:
            raise field_error("model.meta.circulant", b, "one of " + ", ".join(map(str, BLOCK_SIZES)))
        names = meta.get("circulant_layers")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise field_error("model.meta.circulant_layers", names, "a list of layer names")
        make_circulant(model, b, names)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise XbarError(f"model: {path} does not fit architecture {arch!r} ({str(exc).splitlines()[0][:200]})") from None
    return model.eval(), doc
