"""The PE tile's hardware: its Verilog for a design, with cell and flip-flop counts and a
Verilator lint on request."""

from __future__ import annotations

from pathlib import Path

from ..core.cycles import cycles_per_mvm
from ..core.design import Design
from ..core.io import atomic_dir
from ..rtl.generate import generate, stats, top_name
from ..rtl.params import rtl_params
from ..sim.runner import LINT_WAIVERS_WALL, lint


def generate_rtl(design: Design, output, *, with_stats: bool = False, with_lint: bool = False) -> dict:
    """Write the PE tile's Verilog, port map and README for ``design`` into the folder
    ``output``. Returns the top module, the files, the cycles per MVM (nothing gated, no
    faults); ``with_stats``: cell and flip-flop counts per component (builtin Yosys);
    ``with_lint``: the warnings of ``verilator --lint-only -Wall`` and the waived ones."""
    rtl_params(design)  # a design the RTL cannot build: one line, before any file is written
    with atomic_dir(output) as tmp:  # the files appear together, or not at all
        paths = generate(design, tmp)
        doc = {"design": design.name, "top": top_name(design),
               "files": {k: str(Path(output) / v.name) for k, v in paths.items()}, "cycles_per_mvm": cycles_per_mvm(design),
               "fault_table_entries": design.fault_table_entries}
        if with_stats:
            doc["stats"] = stats(design)
        if with_lint:
            doc["lint"] = {"warnings": lint(paths["verilog"], doc["top"], wall=True), "waived": LINT_WAIVERS_WALL}
    return doc
