"""XBM (ASP-DAC 2022): one binary mask bit per logical column per crossbar (spec section 3,
b_m = 1): a column is either kept (the code of exponent 0) or gated (code 0, its ADC
conversions skipped). No cell is written."""

from __future__ import annotations

from .column import BinaryColumnMask
from .xma import ColumnMaskMethod


class XBM(ColumnMaskMethod):
    name = "xbm"
    mask_class = BinaryColumnMask
    parameter = "score"
    lr = "lr_gate"
    bits_per_column = 1
