"""XMA (DAC 2022): a column-wise, shift-based multi-level mask per task on the frozen
backbone: each logical column of each crossbar gets a code of ``mask.bits`` bits, gating
it or scaling it by 2^e for e in ``mask.exponents``. No cell is written.

:class:`ColumnMaskMethod` is what XMA and XBM share: a column mask on every shared layer,
trained alone, whose codes are the task entry."""

from __future__ import annotations

from .column import ShiftColumnMask
from .method import Method


class ColumnMaskMethod(Method):
    """A method that trains one column mask per shared layer: ``mask_class`` (built from the
    layer's crossbar count and the design), its trainable tensor ``parameter`` at learning
    rate ``cfg.<lr>``; ``bits_per_column`` mask bits per logical column (None: mask.bits)."""

    mask_class = ShiftColumnMask
    parameter = "scale"
    lr = "lr_scale"
    bits_per_column: int | None = None

    def attach(self, program, layers, net, data, cfg):
        for proxy in layers.values():
            proxy.column_mask = self.mask_class(proxy.lp.n_crossbars, program.design)
        params = [getattr(p.column_mask, self.parameter) for p in layers.values()]
        return [{"params": params, "lr": getattr(cfg, self.lr)}]

    def parts(self, program, layers):
        masks = {n: p.column_mask.codes().cpu() for n, p in layers.items()}
        gated = sum(int((c == 0).sum()) for c in masks.values())
        return {"masks": masks, "meta": {"gated_columns": gated}}

    def mask_bits(self, program, layers):
        d = program.design
        bits = d.mask.bits if self.bits_per_column is None else self.bits_per_column
        return sum(p.lp.n_crossbars * d.logical_cols * bits for p in layers.values())


class XMA(ColumnMaskMethod):
    name = "xma"
