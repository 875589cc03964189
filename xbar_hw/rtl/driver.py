"""Host side of the PE tile: the beats that program cells and configure the tile.

Each function returns plain dicts, the payloads of :class:`~xbar_hw.rtl.pe.PeTile`'s
``prog`` and ``cfg`` streams (field names as in :func:`~xbar_hw.rtl.streams.layouts`), so that
an Amaranth testbench, a cocotb co-simulation or a firmware generator can send them.
"""

from __future__ import annotations

import torch

from ..core.design import Design
from ..core.errors import XbarError
from ..core.mapping import unmap_levels
from .params import rtl_params
from .streams import ConfigTarget


def program_beats(levels: torch.Tensor, xbar: int, previous: torch.Tensor | None = None) -> list[dict]:
    """Cell writes that give crossbar ``xbar`` the levels [R, C]: every cell, or with
    ``previous`` (the levels it holds now) only the cells whose level changes."""
    lv = torch.as_tensor(levels).to(torch.int64)
    todo = torch.ones_like(lv, dtype=torch.bool) if previous is None else lv != torch.as_tensor(previous).to(torch.int64)
    return [{"xbar": xbar, "row": int(r), "col": int(c), "level": int(lv[r, c])} for r, c in todo.nonzero().tolist()]


def colsums(levels: torch.Tensor, design: Design) -> list[int]:
    """colsum_w[j] = sum_r w[r, j] of the intended levels [R, C] (signed designs' offset term)."""
    return [int(v) for v in unmap_levels(torch.as_tensor(levels), design).sum(0).tolist()]


def pack_fault_entry(design: Design, row: int, col: int, delta: int, fault_entries: int | None = None) -> int:
    """A fault entry as the integer the ``cfg`` beat's data carries: row | col | delta
    (two's complement), least significant field first."""
    p = rtl_params(design, fault_entries)
    R, L = p.rows, p.logical
    lim = 1 << (p.delta_bits - 1)
    if not (0 <= row < R and 0 <= col < L and -lim <= delta < lim):
        raise XbarError(f"fault entry: got (row {row}, col {col}, delta {delta}); allowed: row in [0, {R - 1}], "
                        f"col in [0, {L - 1}], delta in [{-lim}, {lim - 1}]")
    d = delta & ((1 << p.delta_bits) - 1)
    return row | (col << p.row_bits) | (d << (p.row_bits + p.lcol_bits))


def config_beats(design: Design, xbar: int, *, shift: int | None = None, codes=None, faults=None,
                 colsum=None, group: int | None = None, fault_entries: int | None = None) -> list[dict]:
    """Config writes for crossbar ``xbar``: ADC shift, mask codes [L], fault table (a list of
    (row, col, delta); its count is written too), colsum_w [L] (signed designs), group."""
    p = rtl_params(design, fault_entries)
    beats = []
    if shift is not None:
        beats.append({"target": ConfigTarget.ADC_SHIFT, "xbar": xbar, "index": 0, "data": int(shift)})
    if codes is not None:
        beats += [{"target": ConfigTarget.MASK_CODE, "xbar": xbar, "index": j, "data": int(c)}
                  for j, c in enumerate(list(codes))]
    if faults is not None:
        faults = list(faults)
        if len(faults) > p.fault_entries:
            raise XbarError(f"faults: got {len(faults)} entries; allowed: at most {p.fault_entries} (fault table depth)")
        beats += [{"target": ConfigTarget.FAULT_ENTRY, "xbar": xbar, "index": i,
                   "data": pack_fault_entry(design, r, j, dl, fault_entries)} for i, (r, j, dl) in enumerate(faults)]
        beats.append({"target": ConfigTarget.FAULT_COUNT, "xbar": xbar, "index": 0, "data": len(faults)})
    if colsum is not None:
        mask = (1 << p.colsum_bits) - 1
        beats += [{"target": ConfigTarget.COLSUM, "xbar": xbar, "index": j, "data": int(v) & mask}
                  for j, v in enumerate(list(colsum))]
    if group is not None:
        beats.append({"target": ConfigTarget.GROUP, "xbar": xbar, "index": 0, "data": int(group)})
    return beats


def groups_beat(groups: int) -> dict:
    """The config write that sets the output beats per MVM."""
    return {"target": ConfigTarget.GROUPS, "xbar": 0, "index": 0, "data": int(groups)}
