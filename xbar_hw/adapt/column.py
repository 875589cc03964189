"""Column masks (spec section 3): one code per logical column of each crossbar.

Code 0 gates the column; code i >= 1 scales it by 2^e_i, e_i = ``mask.exponents[i-1]``.
- :class:`BinaryColumnMask` (XBM): a real score per column, binarized at a threshold with
  a straight-through gradient; on = the code of exponent 0, off = code 0. One bit per
  column of mask memory.
- :class:`ShiftColumnMask` (XMA, XMA² tier 2): a real scale per column, rounded to the
  nearest level of {0} U {2^e} (boundaries: half the smallest level, then the geometric
  means of neighbouring levels), straight-through gradient. b_m bits per column.
``frozen`` crossbars (XMA²'s reprogrammed PEs) keep the code of exponent 0.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.design import Design
from ..core.errors import XbarError
from .proxy import ste


def pass_code(design: Design, method: str) -> int:
    """The code that scales by 2^0."""
    if 0 not in design.mask.exponents:
        raise XbarError(
            f"mask.exponents: got {list(design.mask.exponents)}; allowed: a list that holds 0 "
            f"({method} keeps columns unscaled with exponent 0)"
        )
    return list(design.mask.exponents).index(0) + 1


class _ColumnMask(nn.Module):
    def __init__(self, n_crossbars: int, design: Design, frozen: torch.Tensor | None, method: str):
        super().__init__()
        self.design = design
        self.on_code = pass_code(design, method)
        frozen = torch.zeros(n_crossbars, dtype=torch.bool) if frozen is None else frozen.to(torch.bool)
        self.register_buffer("frozen", frozen.view(-1, 1))
        self.shape = (n_crossbars, design.logical_cols)

    def forward(self) -> torch.Tensor:
        v = self.values()
        return torch.where(self.frozen, torch.ones_like(v), v)

    def codes(self) -> torch.Tensor:
        c = self.hard_codes()
        return torch.where(self.frozen, torch.full_like(c, self.on_code), c).to(torch.uint8)


class BinaryColumnMask(_ColumnMask):
    def __init__(self, n_crossbars, design, frozen=None, init: float = 1e-2, threshold: float = 5e-3):
        super().__init__(n_crossbars, design, frozen, "XBM")
        self.threshold = threshold
        self.score = nn.Parameter(torch.full(self.shape, init))

    def values(self) -> torch.Tensor:
        return ste((self.score >= self.threshold).to(self.score.dtype), self.score)

    def hard_codes(self) -> torch.Tensor:
        return torch.where(self.score >= self.threshold, self.on_code, 0)


class ShiftColumnMask(_ColumnMask):
    def __init__(self, n_crossbars, design, frozen=None):
        super().__init__(n_crossbars, design, frozen, "XMA")
        exps = list(design.mask.exponents)
        order = sorted(range(len(exps)), key=lambda i: exps[i])
        levels = [0.0] + [2.0 ** exps[i] for i in order]
        codes = [0] + [i + 1 for i in order]
        # duplicates in the exponent list collapse onto their first code
        bounds = [levels[1] / 2] + [(levels[i] * levels[i + 1]) ** 0.5 for i in range(1, len(levels) - 1)]
        self.register_buffer("levels", torch.tensor(levels))
        self.register_buffer("level_codes", torch.tensor(codes))
        self.register_buffer("bounds", torch.tensor(bounds))
        self.scale = nn.Parameter(torch.ones(self.shape))

    def _index(self) -> torch.Tensor:
        return torch.bucketize(self.scale.detach(), self.bounds, right=True)

    def values(self) -> torch.Tensor:
        return ste(self.levels[self._index()], self.scale)

    def hard_codes(self) -> torch.Tensor:
        return self.level_codes[self._index()]


def code_values(codes: torch.Tensor, design: Design) -> torch.Tensor:
    """The scale each code stands for (0 for a gated column), float32."""
    table = torch.tensor([0.0] + [2.0 ** e for e in design.mask.exponents])
    return table[codes.to(torch.int64)]
