"""XBM (ASP-DAC 2022): one binary mask bit per logical column per crossbar (spec section 3,
b_m = 1): a column is either kept (the code of exponent 0) or gated (code 0, its ADC
conversions skipped). No cell is written."""

from __future__ import annotations

from .column import BinaryColumnMask
from .method import Method


class XBM(Method):
    name = "xbm"

    def attach(self, program, layers, net, data, cfg):
        for proxy in layers.values():
            proxy.column_mask = BinaryColumnMask(proxy.lp.n_crossbars, program.design)
        return [{"params": [p.column_mask.score for p in layers.values()], "lr": cfg.lr_gate}]

    def parts(self, program, layers):
        masks = {n: p.column_mask.codes().cpu() for n, p in layers.items()}
        gated = sum(int((c == 0).sum()) for c in masks.values())
        return {"masks": masks, "meta": {"gated_columns": gated}}

    def mask_bits(self, program, layers):
        return sum(p.lp.n_crossbars * program.design.logical_cols for p in layers.values())
