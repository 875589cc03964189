"""Piggyback (Mallya, Davis, Lazebnik; ECCV 2018): a binary mask per weight, learned as
real scores (init 1e-2, threshold 5e-3, straight-through gradient) on the frozen backbone.
On crossbars a masked weight is not free: each weight the mask zeroes is rewritten to
level 0, so its non-zero cells are cell writes at every switch to the task. Mask memory:
one bit per weight of the shared layers."""

from __future__ import annotations

from .method import Method, reprogrammed
from .proxy import WeightMask


class Piggyback(Method):
    name = "piggyback"

    def attach(self, program, layers, net, data, cfg):
        for proxy in layers.values():
            proxy.weight_mask = WeightMask(tuple(proxy.w_int.shape))
        return [{"params": [p.weight_mask.score for p in layers.values()], "lr": cfg.lr_score}]

    def parts(self, program, layers):
        kept = {n: int(p.weight_mask.hard().sum()) for n, p in layers.items()}
        zeroed = sum(p.w_int.numel() for p in layers.values()) - sum(kept.values())
        return {"levels": reprogrammed(program, layers, lambda p: p.w_int * p.weight_mask.hard()),
                "meta": {"weights_zeroed": zeroed}}

    def mask_bits(self, program, layers):
        return sum(p.w_int.numel() for p in layers.values())
