"""xbar-hw: an open toolchain for ReRAM crossbar DNN accelerators.

One YAML design feeds a bit-exact torch model of the crossbar, its Programs, and (as the
project grows) the RTL, the co-simulation and the cost model.
"""

from .core.design import Design, design_from_dict, load_design
from .core.errors import XbarError
from .core.program import LayerProgram, Program
from .xbar.convert import build_network, build_task, convert, convert_to_program
from .xbar.layers import set_path

__version__ = "0.1.0"

__all__ = [
    "Design",
    "LayerProgram",
    "Program",
    "XbarError",
    "build_network",
    "build_task",
    "convert",
    "convert_to_program",
    "design_from_dict",
    "load_design",
    "set_path",
]
