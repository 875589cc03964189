"""The ReBoc mapping against the plain mapping of one block-circulant Program (issue 14):
what ``xbar-hw reboc`` prints."""

from __future__ import annotations

from ..core.design import load_design
from ..core.errors import XbarError
from ..core.program import Program
from ..energy.reboc import compare_mappings
from .workloads import task_workload

#: per mapping, what the summary keeps (the per-layer counts stay in ``layers``)
MAPPING_KEYS = ("crossbars", "pes", "cells_used", "cells_capacity", "utilization", "reads", "adc_conversions",
                "input_buffer_words", "input_register_words", "cycles", "latency_s", "energy_per_inference_pj",
                "static_energy_per_inference_pj", "pe_area_mm2", "chip_area_mm2", "layers")


def mapping_comparison(program_file, design_file=None, *, data: str | None = None, images: int = 16,
                       pipeline: bool = True) -> dict:
    """Plain against ReBoc mapping of the Program file ``program_file`` (with ``design_file``'s
    cost side and mapping block when given) on ``images`` test images of ``data`` (default:
    the data it was mapped on): counts per inference, energy (pJ), latency (s), area (mm2)
    and the ratios plain / reboc."""
    design = load_design(design_file) if design_file else None
    program = Program.load(program_file, design)
    if design is not None:
        program = program.on_design(design, str(program_file))
    if not any(lp.block is not None for lp in program.layers.values()):
        raise XbarError(f"program {program_file}: has no block-circulant layer; allowed: a Program of a model "
                        "trained with `xbar-hw train --circulant B`")
    doc = compare_mappings(program, task_workload(program, None, data, images), pipeline)
    for m in ("plain", "reboc"):
        doc[m] = {k: doc[m][k] for k in MAPPING_KEYS}
    return doc
