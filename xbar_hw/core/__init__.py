"""The contract every stage shares (the leaf of the package: it imports nothing else of
xbar_hw): the Design and its schema, the non-ideal effects' configuration, the crossbar
mapping arithmetic and fault entries, the PE tile's cycle model, and the Program file
format with its layers, task entries and the cells a task switch rewrites."""

from .cycles import adc_conversions, conversion_cycles, cycles_per_mvm, mvm_phases
from .design import MAPPING_KEYS, TECHNOLOGIES, Design, design_from_dict, load_design
from .errors import XbarError, field_error
from .layer import LayerProgram
from .mapping import (
    fault_entries,
    layer_grid,
    layer_weights,
    map_layer,
    map_weights,
    unmap_levels,
)
from .nonideal import IrDropSpec, NoiseSpec, NonidealSpec, SafSpec, VariationSpec
from .program import Program, check_same_design
from .switch import CellDiff, diff_programs, switch_diff, task_view
from .task_entry import TaskEntry

__all__ = [
    "MAPPING_KEYS", "TECHNOLOGIES", "CellDiff", "Design", "IrDropSpec", "LayerProgram", "NoiseSpec",
    "NonidealSpec", "Program", "SafSpec", "TaskEntry", "VariationSpec", "XbarError", "adc_conversions",
    "check_same_design", "conversion_cycles", "cycles_per_mvm", "design_from_dict", "diff_programs",
    "fault_entries", "field_error", "layer_grid", "layer_weights", "load_design", "map_layer", "map_weights",
    "mvm_phases", "switch_diff", "task_view", "unmap_levels",
]
