"""XMA (DAC 2022): a column-wise, shift-based multi-level mask per task on the frozen
backbone: each logical column of each crossbar gets a code of ``mask.bits`` bits, gating
it or scaling it by 2^e for e in ``mask.exponents``. No cell is written."""

from __future__ import annotations

from .column import ShiftColumnMask
from .method import Method


def column_mask_meta(masks) -> dict:
    gated = sum(int((c == 0).sum()) for c in masks.values())
    return {"gated_columns": gated}


class XMA(Method):
    name = "xma"

    def attach(self, program, layers, net, data, cfg):
        for proxy in layers.values():
            proxy.column_mask = ShiftColumnMask(proxy.lp.n_crossbars, program.design)
        return [{"params": [p.column_mask.scale for p in layers.values()], "lr": cfg.lr_scale}]

    def parts(self, program, layers):
        masks = {n: p.column_mask.codes().cpu() for n, p in layers.items()}
        return {"masks": masks, "meta": column_mask_meta(masks)}

    def mask_bits(self, program, layers):
        d = program.design
        return sum(p.lp.n_crossbars * d.logical_cols * d.mask.bits for p in layers.values())
