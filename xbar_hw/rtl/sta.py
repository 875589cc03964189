"""Static timing of the synthesized PE tile with OpenSTA (Debian's ``opensta``, binary ``sta``).

The crossbar macro is a black box to timing as well: :func:`macro_liberty` describes it as a
Liberty cell of zero area whose inputs are sampled at the rising edge of ``clk`` (setup 0)
and whose outputs change at that edge (clock-to-output 0), except the column select ``col``:
it has no check of its own but one combinational arc ``col -> sums`` of delay 0 (the held sums are multiplexed by the column select inside the
macro). The macro's own delays are not known to this flow, so the reported path through
the macro counts only the periphery's gates on either side of it.

The clock is the design's ``tile.clock_hz``; inputs arrive and outputs are required at the
clock edge (input and output delays 0), the clock is ideal and there are no wire
parasitics (OSU018's Liberty has no wire-load model): the delays are the cells' own, from
the Liberty's tables at the loads of the fan-out pins. Then for every path slack = period
- (arrival + setup), so the critical path's delay is period - worst slack and the largest
clock the netlist meets is 1 / (period - worst slack).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..core.design import Design
from .generate import top_name
from .macro import macro_name
from .synth import find_tool, macro_ports

#: the library header of the macro's Liberty cell: OSU018's units and thresholds
_HEADER = """library(xbar_macro) {
  delay_model : table_lookup;
  time_unit : "1ns";
  voltage_unit : "1V";
  current_unit : "1uA";
  pulling_resistance_unit : "1kohm";
  leakage_power_unit : "1nW";
  capacitive_load_unit (1,pf);
  slew_upper_threshold_pct_rise : 80;
  slew_lower_threshold_pct_rise : 20;
  slew_upper_threshold_pct_fall : 80;
  slew_lower_threshold_pct_fall : 20;
  input_threshold_pct_rise : 50;
  input_threshold_pct_fall : 50;
  output_threshold_pct_rise : 50;
  output_threshold_pct_fall : 50;
  nom_process : 1;
  nom_voltage : 1.8;
  nom_temperature : 25;
"""
#: the report of the worst path through crossbar 0's macro
MACRO_REPORT = "sta_macro.txt"
_ZERO = 'values ("0");'
_SETUP = (f'timing () {{ related_pin : "clk"; timing_type : setup_rising; '
          f'rise_constraint (scalar) {{ {_ZERO} }} fall_constraint (scalar) {{ {_ZERO} }} }}')
_ARC = ('timing () {{ related_pin : "{pin}"; {kind}; cell_rise (scalar) {{ {z} }} cell_fall (scalar) {{ {z} }} '
        'rise_transition (scalar) {{ {z} }} fall_transition (scalar) {{ {z} }} }}')


def macro_liberty(design: Design) -> str:
    """The crossbar macro as a Liberty cell for timing (module docstring)."""
    ports = macro_ports(design)
    lines = [_HEADER]
    for width in sorted({w for _, _, w in ports if w > 1}):
        lines.append(f"  type (bus{width}) {{ base_type : array; data_type : bit; bit_width : {width}; "
                     f"bit_from : {width - 1}; bit_to : 0; downto : true; }}")
    lines.append(f"  cell ({macro_name(design)}) {{\n    area : 0;")
    for name, direction, width in ports:
        head = f"pin ({name}) {{" if width == 1 else f"bus ({name}) {{ bus_type : bus{width};"
        if name == "clk":
            body = "direction : input; clock : true; capacitance : 0.01;"
        elif name == "col":  # no check of its own: it only selects a held sum (the arc below)
            body = "direction : input; capacitance : 0.01;"
        elif direction == "input":
            body = f"direction : input; capacitance : 0.01; {_SETUP}"
        else:
            body = "direction : output; " + _ARC.format(pin="clk", kind="timing_type : rising_edge", z=_ZERO)
            if name == "sums":  # every column select bit to every sum bit (buses of different widths)
                col = " ".join(f"col[{i}]" for i in range(dict((n, w) for n, _, w in ports)["col"]))
                body += " " + _ARC.format(pin=col, kind="timing_sense : non_unate", z=_ZERO)
        lines.append(f"    {head} {body} }}")
    lines.append("  }\n}\n")
    return "\n".join(lines)


def sta_script(design: Design, liberty, macro_lib, netlist, report) -> str:
    """The OpenSTA script: the libraries, the flat netlist, the clock, the worst path."""
    period_ns = 1e9 / design.tile.clock_hz
    return "\n".join([
        f"read_liberty {{{liberty}}}",
        f"read_liberty {{{macro_lib}}}",
        f"read_verilog {{{netlist}}}",
        f"link_design {top_name(design)}",
        f"create_clock -name clk -period {period_ns:.6f} [get_ports clk]",
        "set inputs {}",
        "foreach port [all_inputs] { if {[get_full_name $port] != \"clk\"} { lappend inputs $port } }",
        "set_input_delay 0 -clock clk $inputs",
        "set_output_delay 0 -clock clk [all_outputs]",
        f"report_checks -path_delay max -digits 4 -fields {{fanout nets}} > {{{report}}}",
        # the worst path through crossbar 0's column sums (scheduler -> macro -> ADC -> shift-add)
        f"report_checks -path_delay max -through [get_pins xbar0_array.macro/sums*] -digits 4 "
        f"-fields {{fanout nets}} > {{{MACRO_REPORT}}}",
        'puts "worst_slack [sta::format_time [sta::worst_slack_cmd max] 6]"',
        "exit",
        "",
    ])


def run_sta(design: Design, folder, netlist: str = "netlist_flat.v", liberty: str = "cells.lib") -> dict:
    """Time the flat netlist against ``tile.clock_hz``. ``netlist`` and ``liberty`` are
    files in ``folder`` (where :func:`.synth.run_yosys` writes them); the script names
    them relative to it, so that it reruns there."""
    sta = find_tool("sta")
    out = Path(folder)
    files = {"lib": f"{macro_name(design)}.lib", "script": "sta.tcl", "report": "sta.txt", "log": "sta.log"}
    (out / files["lib"]).write_text(macro_liberty(design), encoding="utf-8")
    (out / files["script"]).write_text(sta_script(design, liberty, files["lib"], netlist, files["report"]),
                                       encoding="utf-8")
    proc = subprocess.run([sta, "-no_init", "-no_splash", "-exit", files["script"]], capture_output=True, text=True,
                          cwd=out)
    (out / files["log"]).write_text(proc.stdout + proc.stderr, encoding="utf-8")
    slack = re.search(r"worst_slack\s+(-?[0-9.]+)", proc.stdout)
    err = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("Error")]
    if proc.returncode != 0 or err or slack is None or not (out / files["report"]).is_file():
        raise RuntimeError(f"OpenSTA failed: {(err or ['no worst slack reported'])[0].strip()} (log: {out / files['log']})")
    timing = parse_report(design, (out / files["report"]).read_text(encoding="utf-8"), float(slack.group(1)))
    macro = (out / MACRO_REPORT).read_text(encoding="utf-8")
    macro_slack = re.search(r"^\s*(-?[0-9.]+)\s+slack", macro, re.M)
    if macro_slack:
        timing["through_macro"] = parse_report(design, macro, float(macro_slack.group(1)))
    return timing


def parse_report(design: Design, report: str, worst_slack_ns: float) -> dict:
    """The critical path of ``report_checks`` and the clock figures."""
    period_ns = 1e9 / design.tile.clock_hz
    start = re.search(r"Startpoint:\s*(\S+)(?:\s*\(([^)]*)\))?", report)
    end = re.search(r"Endpoint:\s*(\S+)(?:\s*\(([^)]*)\))?", report)
    arrival = re.search(r"^\s*(-?[0-9.]+)\s+data arrival time", report, re.M)
    delay_ns = period_ns - worst_slack_ns
    through = []  # the hierarchy prefixes of the path's cells, in order (a cell at the top: "control")
    for m in re.finditer(r"^\s*-?[0-9.]+\s+-?[0-9.]+\s+[v^]\s+(\S+)/\S+\s+\((\w+)\)", report, re.M):
        where = m.group(1).rsplit(".", 1)[0] if "." in m.group(1) else "control"
        if not through or through[-1] != where:
            through.append(where)
    return {
        "tool": "OpenSTA",
        "clock_hz": design.tile.clock_hz,
        "period_ns": period_ns,
        "worst_slack_ns": worst_slack_ns,
        "critical_path_ns": delay_ns,
        "data_arrival_ns": float(arrival.group(1)) if arrival else None,
        "max_clock_hz": 1e9 / delay_ns if delay_ns > 0 else None,
        "meets_clock": worst_slack_ns >= 0,
        "startpoint": start.group(1) if start else None,
        "startpoint_kind": start.group(2) if start and start.group(2) else None,
        "endpoint": end.group(1) if end else None,
        "endpoint_kind": end.group(2) if end and end.group(2) else None,
        "through": through,
    }
