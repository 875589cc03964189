"""The PE tile's hardware: its Verilog for a design, with cell and flip-flop counts, a
Verilator lint and gate-level synthesis on request."""

from __future__ import annotations

from pathlib import Path

from ..core.cycles import cycles_per_mvm
from ..core.design import Design
from ..core.io import atomic_dir
from ..rtl.generate import generate, stats, top_name
from ..rtl.params import rtl_params
from ..rtl.synth import DEFAULT_LIBERTY
from ..sim.runner import LINT_WAIVERS_WALL, lint
from .synthesis import check_tools, synthesize, write_report


def generate_rtl(design: Design, output, *, with_stats: bool = False, with_lint: bool = False,
                 with_synth: bool = False, liberty=None) -> dict:
    """Write the PE tile's Verilog, port map and README for ``design`` into the folder
    ``output``. Returns the top module, the files, the cycles per MVM (nothing gated, no
    faults); ``with_stats``: cell and flip-flop counts per component (builtin Yosys);
    ``with_lint``: the warnings of ``verilator --lint-only -Wall`` and the waived ones;
    ``with_synth``: gate-level synthesis and timing (:mod:`.synthesis`) on the Liberty file
    ``liberty`` (default: OSU 0.18 um), its files in ``output/synth`` and its report in
    ``output/synthesis.json`` and ``output/synthesis.md``."""
    rtl_params(design)  # a design the RTL cannot build: one line, before any file is written
    if with_synth:
        check_tools(liberty or DEFAULT_LIBERTY)  # missing tools or library: one line, before any work
    with atomic_dir(output) as tmp:  # the files appear together, or not at all
        paths = generate(design, tmp)
        doc = {"design": design.name, "top": top_name(design),
               "files": {k: str(Path(output) / v.name) for k, v in paths.items()}, "cycles_per_mvm": cycles_per_mvm(design),
               "fault_table_entries": design.fault_table_entries}
        if with_stats:
            doc["stats"] = stats(design)
        if with_lint:
            doc["lint"] = {"warnings": lint(paths["verilog"], doc["top"], wall=True), "waived": LINT_WAIVERS_WALL}
        if with_synth:
            doc["synth"] = synthesize(design, paths["verilog"], Path(tmp) / "synth", liberty)
            for kind, path in write_report(doc["synth"], tmp).items():
                doc["files"][kind] = str(Path(output) / path.name)
    return doc
