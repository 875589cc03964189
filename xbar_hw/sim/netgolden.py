"""The golden side of the whole-network co-simulation: the mapped network of a task view
as the chip holds it (the task's column masks, every layer's profiled stuck cells and, when
the design's SAF correction is on, the digital correction), on the crossbar path; and the
images it runs on.

A Program's profiled faults (``LayerProgram.faults``, written by
:meth:`xbar_hw.xbar.analog.Chip.profile`) become each layer's
:class:`~xbar_hw.xbar.effects.LayerChip`: the stored levels with the stuck cells at their
level, and the correction w - w_stored of :class:`~xbar_hw.xbar.effects.saf.StuckAtFaults`
for the faulty weights each crossbar's fault table holds (its first
``design.fault_table_entries``, row-major; the others overflow it, uncorrected).
No other effect: the RTL's cells hold integer levels.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.design import Design
from ..core.errors import XbarError
from ..core.mapping import table_correction
from ..workload.data import Dataset
from ..xbar.convert import build_network
from ..xbar.effects import LayerChip
from ..xbar.layers import mapped_layers, set_column_masks, set_path


def profiled_chip(lp, design: Design) -> LayerChip | None:
    """The layer's profiled stuck cells as a chip (None: no fault recorded)."""
    if lp.faults is None or not len(lp.faults):
        return None
    stored = torch.stack([lp.stored_levels(xb) for xb in range(lp.n_crossbars)]).to(torch.uint8)
    correction = None
    if design.nonideal.saf.correct:
        # each crossbar's table holds its first fault_table_entries faulty weights (row-major),
        # as StuckAtFaults and the RTL's corrector; the rest go uncorrected
        correction = table_correction(lp.levels, stored, lp.k_in, lp.n_out, design)[0]
    return LayerChip(stored, lp.faults.to(torch.int64), None, (), correction, lp.fault_overflow(design))


def golden_network(view, masks: dict, design: Design) -> nn.Module:
    """The mapped network of ``view`` with the task's ``masks`` and each layer's profiled
    faults, every layer on the crossbar path (bit-planes through the golden ADCs)."""
    net = set_path(set_column_masks(build_network(view), masks or None), "crossbar")
    for m in mapped_layers(net):
        m.chip = profiled_chip(m.lp, design)
        m.noise = None
        m.reset_engine()
    return net.eval()


def network_images(data: Dataset, images: int, seed: int) -> torch.Tensor:
    """``images`` test images of ``data`` (the train split when it has no test split) in a
    seeded order."""
    pool = data.x_test if len(data.x_test) else data.x_train
    if images > len(pool):
        raise XbarError(f"images: got {images}; allowed: at most the {len(pool)} images of {data.name}")
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(int(seed)))[:images]
    return pool[order]
