"""Gate-level synthesis of the PE tile's periphery with Yosys and ABC on a Liberty library.

The crossbar arrays stay black boxes: Yosys reads only the macro's interface
(:func:`macro_stub`, the header of the behavioural model with ``(* blackbox *)``), so
every ``xbar_array_<design>`` instance survives synthesis as one cell of no area (its
area comes from the technology table). The rest is mapped hierarchically
(``synth``, ``dfflibmap``, ``abc -liberty``; no flattening, so each component keeps its
own module and ``stat -liberty`` gives its area), then flattened into a netlist for
static timing (:mod:`.sta`).

Default library: OSU's 0.18 um standard cells as Debian's ``qflow-tech-osu018`` installs
them (Oklahoma State University's TSMC 0.18 um cell library, characterized at 1.8 V,
25 C, typical corner; the file's own header; docs/sources.md [OSU018]). Areas are the Liberty's ``area`` (um2).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from ..core.design import Design
from ..core.errors import field_error
from .generate import component_kind, top_name
from .macro import macro_name, macro_parameters, macro_verilog

#: the OSU 0.18 um Liberty file of Debian's qflow-tech-osu018 package
DEFAULT_LIBERTY = "/usr/share/qflow/tech/osu018/osu018_stdcells.lib"
#: the components of the periphery the report shares out (the ADC model and the array excluded)
PERIPHERY = ("sched", "shift_add", "saf", "mask", "control")
#: a buffer cell for insbuf and the driver ABC assumes at a module's inputs (OSU018's names)
BUFFER_CELL = ("BUFX2", "A", "Y")
DRIVING_CELL = "INVX1"


def find_tool(name: str) -> str:
    """The path of the executable ``name`` on PATH; one line if it is missing."""
    path = shutil.which(name)
    if path is None:
        raise field_error(name, "not found on PATH", f"the {name} executable (Debian: apt-get install -y "
                                                     f"{'opensta' if name == 'sta' else name})")
    return path


def liberty_cells(path) -> dict[str, float]:
    """Cell name -> area (um2) of a Liberty file; one line if it is missing or holds no cell."""
    p = Path(path)
    if not p.is_file():
        raise field_error("liberty", str(path), "an existing Liberty (.lib) file, e.g. " + DEFAULT_LIBERTY)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise field_error("liberty", str(path), f"a readable Liberty file ({exc.strerror})") from None
    cells = {}
    for m in re.finditer(r"\bcell\s*\(\s*\"?([A-Za-z_][\w$]*)\"?\s*\)\s*\{", text):
        area = re.search(r"\barea\s*:\s*([0-9.eE+-]+)\s*;", text[m.end():m.end() + 4000])
        if area:
            cells[m.group(1)] = float(area.group(1))
    if not re.search(r"^\s*library\s*\(", text, re.M) or not cells:
        raise field_error("liberty", str(path), "a Liberty file with a library group and cells with areas")
    return cells


def macro_stub(design: Design) -> str:
    """The macro's interface as a Verilog black box: the behavioural model's module header
    (parameters and ports, one definition) with an empty body."""
    text = macro_verilog(design)
    start = text.index("module ")
    end = text.index(");\n", start) + 3
    return "(* blackbox *)\n" + text[start:end] + "endmodule\n"


def macro_ports(design: Design) -> list[tuple[str, str, int]]:
    """The macro's ports as (name, "input"/"output", width), read from :func:`macro_stub`
    with the design's parameter values."""
    params = macro_parameters(design)
    ports = []
    for m in re.finditer(r"(input|output)\s+(?:wire|reg)\s*(\[([^\]:]+):0\])?\s*(\w+)", macro_stub(design)):
        width = 1
        if m.group(3):
            width = _width(m.group(3), params)
        ports.append((m.group(4), m.group(1), width))
    return ports


def _width(expr: str, params: dict[str, int]) -> int:
    """The width of a port ``[expr:0]`` of the macro's header, ``expr`` a sum of products
    of integers and parameter names less 1 (``ROWS*DAC_BITS-1``) or an integer (``31``)."""
    total = 1
    if expr.endswith("-1"):
        expr, total = expr[:-2], 0
    for term in expr.split("+"):
        value = 1
        for factor in term.split("*"):
            factor = factor.strip()
            value *= int(factor) if factor.isdigit() else params[factor]
        total += value
    return total


def abc_constraints() -> str:
    """ABC's constraints (``abc -constr``): each module input driven by the library's
    smallest inverter, so that ABC buffers and sizes high-fanout nets (without them one
    select line drives hundreds of gates)."""
    return f"set_driving_cell {DRIVING_CELL}\nset_load 0.0\n"


def yosys_script(design: Design, files: dict, liberty: str) -> str:
    """The Yosys script: hierarchical mapping (ABC aiming at the clock period
    ``tile.clock_hz``), per-module statistics, a flat netlist for STA. ``files``: absolute
    paths by kind (see :func:`run_yosys`)."""
    top, macro = top_name(design), macro_name(design)
    period_ps = round(1e12 / design.tile.clock_hz)
    f = {k: str(v) for k, v in files.items()}
    buf, a, y = BUFFER_CELL
    return "\n".join([
        f"read_verilog -lib {f['stub']}",
        f"read_verilog {f['verilog']}",
        f"hierarchy -check -top {top}",
        f"synth -top {top} -noabc",  # ABC maps once, below, onto the library
        f"dfflibmap -liberty {liberty}",
        f"abc -D {period_ps} -constr {f['constr']} -liberty {liberty}",
        "opt_clean",
        f"tee -q -o {f['stat']} stat -liberty {liberty}",
        f"tee -q -o {f['stat_json']} stat -json",
        f"write_verilog -noattr {f['netlist']}",
        # the flat netlist from the written one: its cells keep their module's prefix (xbar0_saf._12_)
        "design -reset",
        f"read_liberty -lib {liberty}",
        f"read_verilog -lib {f['stub']}",
        f"read_verilog {f['netlist']}",
        f"hierarchy -top {top}",
        "flatten",
        *[f"setparam -unset {name} t:{macro}" for name in [*macro_parameters(design), "INDEX"]],  # OpenSTA reads no #(...)
        "splitnets",
        "setundef -zero",
        "opt_clean -purge",
        f"insbuf -buf {buf} {a} {y}",
        f"write_verilog -noattr -noexpr -nohex -nodec {f['flat']}",
        "",
    ])


def run_yosys(design: Design, verilog, folder, liberty: str = DEFAULT_LIBERTY) -> dict:
    """Synthesize the tile's Verilog ``verilog`` into ``folder`` (stub, script, log,
    hierarchical and flat netlists, statistics); return :func:`parse_stats`'s result."""
    yosys = find_tool("yosys")
    areas = liberty_cells(liberty)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    # Yosys runs in ``folder`` and names every file relative to it (Yosys commands take no
    # quoted paths): the library is copied in, the tile's Verilog named relative to it
    files = {"stub": f"{macro_name(design)}.blackbox.v", "constr": "abc.constr", "script": "synth.ys",
             "log": "yosys.log", "netlist": "netlist.v", "flat": "netlist_flat.v", "stat": "stat.txt",
             "stat_json": "stat.json", "liberty": "cells.lib",
             "verilog": os.path.relpath(Path(verilog).resolve(), out.resolve())}
    shutil.copyfile(liberty, out / files["liberty"])
    (out / files["stub"]).write_text(macro_stub(design), encoding="utf-8")
    (out / files["constr"]).write_text(abc_constraints(), encoding="utf-8")
    (out / files["script"]).write_text(yosys_script(design, files, files["liberty"]), encoding="utf-8")
    proc = subprocess.run([yosys, "-q", "-l", files["log"], files["script"]], capture_output=True, text=True,
                          cwd=out)
    if proc.returncode != 0:
        msg = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln] or ["yosys failed"]
        if "liberty" in msg[0].lower():
            raise field_error("liberty", str(liberty), f"a Liberty file Yosys can read ({msg[0].strip()})")
        raise RuntimeError(f"yosys failed on {verilog}: {msg[0].strip()} (log: {files['log']})")
    return parse_stats(design, (out / files["stat"]).read_text(encoding="utf-8"),
                       json.loads((out / files["stat_json"]).read_text(encoding="utf-8")), areas)


def parse_stats(design: Design, stat_text: str, stat_json: dict, areas: dict[str, float]) -> dict:
    """Per module and per component: area (um2, Yosys's ``stat -liberty``), library cells
    by type (Yosys's ``stat -json``), flip-flops (count and area) and black-box macro
    instances; the total
    is Yosys's top-module area, which counts every module once per instance."""
    top = top_name(design)
    module_area = {m.group(1).lstrip("\\"): float(m.group(2))
                   for m in re.finditer(r"Chip area for module '([^']+)': ([0-9.]+)", stat_text)}
    total = re.search(r"Chip area for top module '[^']+': ([0-9.]+)", stat_text)
    modules, components = {}, {}
    for raw, mod in sorted(stat_json["modules"].items()):
        name = raw.lstrip("\\")
        cells = {t: int(n) for t, n in mod["num_cells_by_type"].items() if t in areas}
        kind = component_kind(name, top)
        macros = int(mod["num_cells_by_type"].get(macro_name(design), 0))
        ffs = {t: n for t, n in cells.items() if t.startswith("DFF")}
        modules[name] = {"kind": kind, "area_um2": module_area.get(name, 0.0), "cells": sum(cells.values()),
                         "ff": sum(ffs.values()), "ff_area_um2": sum(n * areas[t] for t, n in ffs.items()),
                         "macros": macros, "types": cells}
        comp = components.setdefault(kind, {"instances": 0, "area_um2": 0.0, "cells": 0, "ff": 0, "ff_area_um2": 0.0,
                                            "macros": 0, "types": {}})
        comp["instances"] += 1
        comp["macros"] += macros
        comp["ff_area_um2"] += modules[name]["ff_area_um2"]
        comp["area_um2"] += modules[name]["area_um2"]
        comp["cells"] += modules[name]["cells"]
        comp["ff"] += modules[name]["ff"]
        for t, n in cells.items():
            comp["types"][t] = comp["types"].get(t, 0) + n
    for comp in components.values():
        comp["types"] = dict(sorted(comp["types"].items()))
    return {"modules": modules, "components": components,
            "total_area_um2": float(total.group(1)) if total else sum(m["area_um2"] for m in modules.values()),
            "total_cells": sum(c["cells"] for c in components.values())}
