"""The torch model of the crossbar: the golden crossbar engine, mapped layers, network
conversion into Programs and back, chip instances with their non-ideal effects, NIA."""

from .convert import build_network, build_task, convert, convert_to_program
from .golden import CrossbarEngine, apply_column_masks, check_input_range, crossbar_mvm, input_digits
from .layers import set_column_masks, set_path

__all__ = [
    "CrossbarEngine", "apply_column_masks", "build_network", "build_task", "check_input_range", "convert",
    "convert_to_program", "crossbar_mvm", "input_digits", "set_column_masks", "set_path",
]
