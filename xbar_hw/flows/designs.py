"""A design file checked whole: its schema (``load_design``), and what it names outside
itself: the technology table with its overrides, and the fault-map file."""

from __future__ import annotations

from pathlib import Path

from ..core.design import Design, load_design
from ..core.errors import field_error
from ..energy.technology import technology
from ..xbar.effects.saf import read_fault_map


def check_design(path) -> Design:
    """The design of file ``path``, every file it names read and checked (one line otherwise)."""
    design = load_design(path)
    technology(design)  # the table parses and every override names one of its entries
    fault_map = design.nonideal.saf.map
    if fault_map is not None:
        if not Path(fault_map).is_file():
            raise field_error("nonideal.saf.map", fault_map, "an existing safetensors fault-map file")
        read_fault_map(fault_map)
    return design
