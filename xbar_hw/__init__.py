"""xbar-hw: an open toolchain for ReRAM crossbar DNN accelerators.

One YAML design feeds a bit-exact torch model of the crossbar, its Programs, chip instances
with non-ideal effects, multi-task adaptation, the PE tile's RTL and its co-simulation, and
the cost model. The names below load on first use (PEP 562), so that importing the package
(as the ``xbar-hw`` command does before it can catch Ctrl-C) costs nothing.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> the module that defines it
EXPORTS = {
    "Design": "xbar_hw.core.design",
    "design_from_dict": "xbar_hw.core.design",
    "load_design": "xbar_hw.core.design",
    "XbarError": "xbar_hw.core.errors",
    "LayerProgram": "xbar_hw.core.layer",
    "Program": "xbar_hw.core.program",
    "build_network": "xbar_hw.xbar.convert",
    "build_task": "xbar_hw.xbar.convert",
    "convert": "xbar_hw.xbar.convert",
    "convert_to_program": "xbar_hw.xbar.convert",
    "set_path": "xbar_hw.xbar.layers",
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str):
    if name in EXPORTS:
        return getattr(importlib.import_module(EXPORTS[name]), name)
    raise AttributeError(f"module 'xbar_hw' has no attribute {name!r}")
