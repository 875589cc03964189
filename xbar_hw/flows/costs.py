"""The cost side: a design's peak power, ADC share, cycles and area, a Program's energy per
inference on a workload, and the multi-task report (energy, writes, lifetime per method)."""

from __future__ import annotations

from pathlib import Path

from ..core.design import Design, load_design
from ..core.errors import XbarError
from ..core.program import Program
from ..energy import design_report, program_report
from ..energy.adcbits import hardware_report
from ..energy.report import build_report, merge_programs, write_report
from .workloads import task_workload

#: what ``xbar-hw energy`` reports of a design
ENERGY_KEYS = ("pe_power_mw", "tile_power_mw", "adc_share", "cycles_per_mvm", "area_mm2", "pe_area_um2",
               "energy_per_mvm_pj", "clock_hz", "technology", "design")
#: what it reports of a Program on a workload
PROGRAM_KEYS = ("energy_by_layer_pj", "energy_by_component_pj", "cycles_per_inference", "latency_s", "images",
                "task", "pes", "tiles", "adc_share", "chip_area_mm2", "inferences_per_s")
#: what ``xbar-hw report --json`` prints of each method
REPORT_KEYS = ("cells_written", "switch_energy_pj", "inference_energy_pj", "accuracy")


def energy_summary(design: Design, program=None, *, task: str | None = None, data: str | None = None,
                   images: int = 16) -> dict:
    """``design``'s peak power (mW), ADC share, cycles per MVM, area (mm2) ...; with
    ``program`` (a Program file mapped the way ``design`` maps, run with ``design``'s cost
    side), its energy per inference (pJ) with ``task`` active on ``images`` test images (of
    the task's data, else ``data``, else the Program's own)."""
    rep = design_report(design)
    doc = {k: rep[k] for k in ENERGY_KEYS}
    doc["energy_per_inference_pj"] = None
    if program:
        loaded = Program.load(program).on_design(design, program)
        prep = program_report(loaded, task_workload(loaded, task, data, images), task)
        doc["energy_per_inference_pj"] = prep["energy_per_inference_pj"]
        doc["program"] = {k: prep[k] for k in PROGRAM_KEYS}
        if any(lp.adc_bits is not None for lp in loaded.layers.values()):  # TinyADC: per-crossbar ADC bits
            doc["program"]["adc_bits_hardware"] = hardware_report(loaded)
    return doc


def cost_report(programs: list, output, *, tasks: list[str] | None = None, data: str | None = None,
                images: int = 16, design_file=None) -> dict:
    """The report of every method in ``programs`` (Program files of one backbone holding
    task entries; ``tasks``: those entries only) on ``images`` workload images per task,
    written to the folder ``output`` (Markdown, JSON, PNG); with ``design_file``, that
    design's cost side (clock, technology) replaces the Programs' own. Returns the report."""
    program = merge_programs(programs)
    if design_file:
        # the cost side (clock, technology, overrides) from another design file that maps the same way
        program = program.on_design(load_design(design_file), programs[0])
    tasks = tasks or list(program.tasks)
    if not tasks:
        raise XbarError("report: the Program holds no task entry; allowed: a Program written by `xbar-hw adapt`")
    for t in tasks:
        program.task(t)
    doc = build_report(program, {t: task_workload(program, t, data, images) for t in tasks}, tasks)
    write_report(doc, Path(output))
    return doc


def report_summary(doc: dict, output) -> dict:
    """What ``xbar-hw report --json`` prints of a report: per method :data:`REPORT_KEYS`,
    the claims and the output folder."""
    return {"methods": {m: {k: v[k] for k in REPORT_KEYS} for m, v in doc["methods"].items()},
            "claims": doc["claims"], "output": output}
