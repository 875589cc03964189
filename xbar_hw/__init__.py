"""xbar-hw: an open toolchain for ReRAM crossbar DNN accelerators.

One YAML design feeds a bit-exact torch model of the crossbar, its Programs, and (as the
project grows) the RTL, the co-simulation and the cost model.
"""

from .design import Design, design_from_dict, load_design
from .errors import XbarError
from .program import LayerProgram, Program
from .xbar.convert import convert, convert_to_program
from .xbar.layers import set_path

__version__ = "0.1.0"

__all__ = [
    "Design",
    "LayerProgram",
    "Program",
    "XbarError",
    "convert",
    "convert_to_program",
    "design_from_dict",
    "load_design",
    "set_path",
]
