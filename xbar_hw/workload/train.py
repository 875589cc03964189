"""Training and evaluation loops (float models and mapped modules alike)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .data import Dataset


def default_device() -> torch.device:
    """CPU by default, CUDA when present."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train(model: nn.Module, data: Dataset, epochs: int = 5, seed: int = 0, lr: float = 1e-3,
          batch: int = 64, progress: bool = True, device=None) -> nn.Module:
    """Adam + cross-entropy; shuffling and initialisation follow ``seed``."""
    device = device or default_device()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(data.x_train)
    steps = epochs * (-(-n // batch))
    with tqdm(total=steps, desc="train", disable=not progress, leave=False) as bar:
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, batch):
                idx = perm[i : i + batch]
                x, y = data.x_train[idx].to(device), data.y_train[idx].to(device)
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 250,
             progress: bool = False, desc: str = "eval") -> float:
    model.eval()
    device = next((t.device for t in list(model.parameters()) + list(model.buffers())), torch.device("cpu"))
    correct = 0
    for i in tqdm(range(0, len(x), batch), desc=desc, disable=not progress, leave=False):
        correct += int((model(x[i : i + batch].to(device)).argmax(1).cpu() == y[i : i + batch]).sum())
    return correct / max(1, len(x))
