"""Run a network over data in batches and observe what chosen layers receive: the one
place for the forward-pre-hook pattern (calibration, NIA statistics, event counts, the
co-simulation's activations, the adaptation's frozen features)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


class StopForward(Exception):
    """Ends a forward pass once every observed layer has seen its input."""


@torch.no_grad()
def observe_inputs(net: nn.Module, layers: Iterable[nn.Module], observe: Callable[[nn.Module, torch.Tensor], None],
                   data: torch.Tensor, batch: int = 64, stop: bool = False) -> None:
    """Forward ``data`` through ``net`` in batches of ``batch`` samples, calling
    ``observe(layer, x)`` with the input ``x`` of each of ``layers`` before the layer runs.
    With ``stop``, each batch's pass ends as soon as every observed layer has seen its
    input (the layers after them do not run). Hooks are removed whatever happens."""
    layers = list(layers)
    pending: set[int] = set()

    def hook(mod: nn.Module, args) -> None:
        observe(mod, args[0])
        if stop:
            pending.discard(id(mod))
            if not pending:
                raise StopForward

    handles = [m.register_forward_pre_hook(hook) for m in layers]
    try:
        for i in range(0, len(data), batch):
            pending.update(id(m) for m in layers)
            try:
                net(data[i : i + batch])
            except StopForward:
                pass
    finally:
        for h in handles:
            h.remove()
