"""Gate-level synthesis of the PE tile's periphery (``xbar-hw rtl DESIGN --synth``): Yosys and
ABC on a Liberty library (:mod:`xbar_hw.rtl.synth`), OpenSTA timing (:mod:`xbar_hw.rtl.sta`),
and the report: area per component, the column-mask unit's and SAF corrector's share of the
periphery, the critical path and the largest clock against ``tile.clock_hz``, and the
technology table's areas beside the synthesized ones.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..core.design import Design
from ..energy.model import pe_area_um2
from ..energy.technology import technology
from ..rtl.sta import run_sta
from ..rtl.synth import DEFAULT_LIBERTY, PERIPHERY, find_tool, liberty_cells, run_yosys

#: the technology table's PE entries that price the synthesized components
TABLE_ENTRIES = {"shift_add": "shift_add", "mask": "mask_unit", "saf": "saf_corrector"}
#: what each component is, for the report
COMPONENTS = {
    "sched": "ADC scheduler (which column each ADC converts)",
    "shift_add": "shift-add (Horner accumulators, slice and polarity combine, ADC shift, offset)",
    "saf": "SAF corrector (fault table and full-precision correction)",
    "mask": "column-mask unit (mask codes, shifts, gating)",
    "control": "control (FSM, config and input registers, output sum)",
    "adc": "ADC conversion logic (digital stand-in of the analog ADC: round, shift, clip)",
    "array": "crossbar macro wrapper (black box: 0 um2 here, priced by the technology table)",
}


def check_tools(liberty) -> None:
    """One line, before any work, when yosys or sta is missing or ``liberty`` is not a
    Liberty file with cells."""
    find_tool("yosys")
    find_tool("sta")
    liberty_cells(liberty)


def synthesize(design: Design, verilog, folder, liberty=None) -> dict:
    """Synthesize and time the tile whose Verilog is ``verilog``; the tools' files go to
    ``folder``. Returns the report (see the module docstring)."""
    liberty = str(liberty or DEFAULT_LIBERTY)
    check_tools(liberty)
    t0 = time.monotonic()
    stats = run_yosys(design, verilog, folder, liberty)
    t1 = time.monotonic()
    timing = run_sta(design, folder)
    t2 = time.monotonic()
    comps = stats["components"]
    periphery = sum(comps[k]["area_um2"] for k in PERIPHERY if k in comps)
    for kind, comp in comps.items():
        comp["what"] = COMPONENTS.get(kind, kind)
        comp["share_of_periphery"] = comp["area_um2"] / periphery if kind in PERIPHERY and periphery else None
    table = pe_area_um2(technology(design), design)
    return {
        "design": design.name,
        "liberty": liberty,
        "flow": "yosys synth -noabc + dfflibmap + abc -D <clock period> -constr (hierarchy kept; arrays black boxes); OpenSTA",
        "components": dict(sorted(comps.items())),
        "modules": stats["modules"],
        "total_area_um2": stats["total_area_um2"],
        "total_cells": stats["total_cells"],
        "periphery_area_um2": periphery,
        "periphery": list(PERIPHERY),
        "mask_share": comps["mask"]["area_um2"] / periphery if periphery else None,
        "saf_share": comps["saf"]["area_um2"] / periphery if periphery else None,
        "timing": timing,
        "technology_table": {"name": design.technology, "pe_area_um2": {
            kind: table[entry] for kind, entry in TABLE_ENTRIES.items()}},
        "seconds": {"yosys": round(t1 - t0, 1), "sta": round(t2 - t1, 1)},
    }


def _macro_path(t: dict) -> str:
    """The report's sentence on the worst path through crossbar 0's macro."""
    m = t.get("through_macro")
    if not m:
        return ""
    return (f" The worst path through crossbar 0's column sums takes {m['critical_path_ns']:.3f} ns "
            f"({' -> '.join(m['through'])}; `synth/sta_macro.txt`).")


def _um2(x: float) -> str:
    return f"{x:,.0f}"


def markdown(doc: dict) -> str:
    """The report as Markdown."""
    t = doc["timing"]
    lines = [f"# Synthesis of the PE tile of design `{doc['design']}`", "",
             f"Library: `{doc['liberty']}`. Flow: {doc['flow']}. Yosys {doc['seconds']['yosys']} s, "
             f"OpenSTA {doc['seconds']['sta']} s.", "",
             "| component | instances | area (um2) | share of periphery | cells | flip-flops (their um2) | what |",
             "|---|---|---|---|---|---|---|"]
    for kind, c in doc["components"].items():
        share = "" if c["share_of_periphery"] is None else f"{100 * c['share_of_periphery']:.1f}%"
        lines.append(f"| {kind} | {c['instances']} | {_um2(c['area_um2'])} | {share} | {c['cells']} | {c['ff']} "
                     f"({_um2(c['ff_area_um2'])}) "
                     f"| {c['what']} |")
    lines += ["", f"Total {_um2(doc['total_area_um2'])} um2, {doc['total_cells']} cells; periphery "
                  f"({', '.join(doc['periphery'])}) {_um2(doc['periphery_area_um2'])} um2: column-mask unit "
                  f"{100 * doc['mask_share']:.2f}%, SAF corrector {100 * doc['saf_share']:.2f}%.", "",
              "## Timing (OpenSTA)", "",
              f"Clock `tile.clock_hz` = {t['clock_hz']:g} Hz (period {t['period_ns']:.3f} ns): worst slack "
              f"{t['worst_slack_ns']:.3f} ns, {'met' if t['meets_clock'] else 'NOT met'}. Critical path "
              f"{t['critical_path_ns']:.3f} ns (arrival + setup) from {t['startpoint']} ({t['startpoint_kind']}) "
              f"to {t['endpoint']} ({t['endpoint_kind']}), through {' -> '.join(t['through'])}; the largest clock it meets: "
              f"{t['max_clock_hz'] / 1e6:.1f} MHz. Ideal clock, no wire parasitics, the macro's own delays 0 "
              f"(`synth/sta.txt` has the path).{_macro_path(t)}", "",
              "## Against the technology table", "",
              f"Table `{doc['technology_table']['name']}` per PE (um2, its own node) beside the synthesized areas "
              f"(OSU 0.18 um):", "",
              "| component | table | synthesized |", "|---|---|---|"]
    for kind, value in doc["technology_table"]["pe_area_um2"].items():
        lines.append(f"| {kind} | {_um2(value)} | {_um2(doc['components'][kind]['area_um2'])} |")
    return "\n".join(lines) + "\n"


def write_report(doc: dict, folder) -> dict:
    """Write ``synthesis.json`` and ``synthesis.md`` into ``folder``; return their paths."""
    out = Path(folder)
    paths = {"synthesis_json": out / "synthesis.json", "synthesis_md": out / "synthesis.md"}
    paths["synthesis_json"].write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    paths["synthesis_md"].write_text(markdown(doc), encoding="utf-8")
    return paths
