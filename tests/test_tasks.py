"""The task suite: each task's data against its definition, written out independently."""


import numpy as np
import pytest
import torch

from xbar_hw import XbarError
from xbar_hw.adapt import list_tasks, load_task
from xbar_hw.workload.data import mnist5k, uci_digits
from xbar_hw.workload.tasks import rotate


@pytest.fixture(scope="module")
def mnist():
    return mnist5k(0)


def test_list_starts_with_the_base_task():
    names = list_tasks()
    assert names[0] == "mnist_0_4" and len(names) >= 6


@pytest.mark.parametrize("name,keep", [("mnist_0_4", [0, 1, 2, 3, 4]), ("split_mnist_5_9", [5, 6, 7, 8, 9])])
def test_split_tasks(mnist, name, keep):
    t = load_task(name)
    sel = np.isin(mnist.y_train.numpy(), keep)
    assert torch.equal(t.x_train, mnist.x_train[torch.from_numpy(sel)])
    assert torch.equal(t.y_train, mnist.y_train[torch.from_numpy(sel)] - keep[0])
    assert t.num_classes == 5 and set(t.y_test.tolist()) == set(range(5))


def test_permuted_is_one_fixed_permutation(mnist):
    t = load_task("permuted_mnist")
    a, b = mnist.x_train.flatten(1), t.x_train.flatten(1)
    # every image is rearranged by the same permutation: sorted pixel values agree, and
    # the position of a unique pixel pattern is the same across images
    assert torch.equal(a.sort(1).values, b.sort(1).values)
    perm = torch.randperm(784, generator=torch.Generator().manual_seed(1234))
    assert torch.equal(b, a[:, perm])
    assert torch.equal(load_task("permuted_mnist").x_test, t.x_test)  # deterministic


def test_inverted(mnist):
    t = load_task("inverted_mnist")
    assert torch.allclose(t.x_test, 1 - mnist.x_test) and torch.equal(t.y_test, mnist.y_test)


def test_rotation_by_hand():
    # a single bright pixel right of centre on an odd grid moves up (90 degrees) / to the
    # diagonal (45 degrees); the image's mass is kept away from the borders
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 6] = 1.0
    r90 = rotate(x, 90.0)
    assert r90[0, 0].argmax().item() in (2 * 9 + 4, 6 * 9 + 4)  # (row 2 or 6, column 4): on the vertical axis
    r45 = rotate(x, 45.0)
    i, j = divmod(r45[0, 0].argmax().item(), 9)
    assert abs(abs(i - 4) - abs(j - 4)) <= 1 and (i, j) != (4, 6)
    assert r45.sum().item() == pytest.approx(1.0, abs=0.3)


def test_rotated_mnist_keeps_labels(mnist):
    t = load_task("rotated_mnist")
    assert torch.equal(t.y_train, mnist.y_train) and t.x_train.shape == mnist.x_train.shape
    assert not torch.allclose(t.x_train, mnist.x_train)


def test_uci_digits_upsampled():
    t, d = load_task("uci_digits"), uci_digits(0)
    assert t.x_train.shape[1:] == (1, 28, 28) and torch.equal(t.y_train, d.y_train)
    assert float(t.x_train.min()) >= 0 and float(t.x_train.max()) <= 1
    # bilinear upsampling keeps a constant image constant and the mean ink nearly unchanged
    from xbar_hw.workload.tasks import upsample
    assert torch.allclose(upsample(torch.full((1, 1, 8, 8), 0.25)), torch.full((1, 1, 28, 28), 0.25))
    assert abs(t.x_train.mean().item() - d.x_train.mean().item()) < 0.02


def test_folder_task_and_unknown_name(tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(np.full((10, 10), 40 * i, dtype=np.uint8)).save(tmp_path / c / f"{i}.png")
    t = load_task(str(tmp_path))
    assert t.x_train.shape[1:] == (1, 28, 28) and t.classes == ["a", "b"]
    with pytest.raises(XbarError, match="task: got 'nope'"):
        load_task("nope")
