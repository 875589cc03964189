"""Gate-level synthesis of the PE tile (``xbar-hw rtl --synth``): Yosys + ABC on the OSU
0.18 um Liberty, OpenSTA timing. The flow on ``tiny`` (slow: about a minute of CPU) and
the one-line errors for a broken library path or a missing tool."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("amaranth")

from xbar_hw import load_design  # noqa: E402
from xbar_hw.cli import main  # noqa: E402
from xbar_hw.rtl.macro import macro_name, macro_parameters  # noqa: E402
from xbar_hw.rtl.sta import macro_liberty, parse_report  # noqa: E402
from xbar_hw.rtl.synth import DEFAULT_LIBERTY, macro_ports, macro_stub  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "designs" / "tiny.yaml")
HAVE_TOOLS = bool(shutil.which("yosys") and shutil.which("sta") and Path(DEFAULT_LIBERTY).is_file())


def one_line_error(capsys, argv, field):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {field}: got "), err
    assert "allowed:" in err[0]
    return err[0]


def test_broken_liberty_path_is_one_line(tmp_path, capsys):
    out = tmp_path / "rtl"
    line = one_line_error(capsys, ["rtl", TINY, "-o", str(out), "--synth", "--liberty", str(tmp_path / "no.lib")],
                          "liberty")
    assert str(tmp_path / "no.lib") in line
    assert not out.exists()  # checked before any file is written
    junk = tmp_path / "junk.lib"
    junk.write_text("this is not a liberty file\n")
    one_line_error(capsys, ["rtl", TINY, "-o", str(out), "--synth", "--liberty", str(junk)], "liberty")
    one_line_error(capsys, ["rtl", TINY, "-o", str(out), "--liberty", DEFAULT_LIBERTY], "--liberty")
    assert not out.exists()


def test_missing_tool_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither yosys nor sta
    one_line_error(capsys, ["rtl", TINY, "-o", str(tmp_path / "rtl"), "--synth"], "yosys")
    assert not (tmp_path / "rtl").exists()


def test_macro_interface_for_synthesis_and_timing():
    """The black box's ports are the model's header with the design's parameters
    (tiny: 16 rows of 1-bit digits, 4 ADCs of 4-bit column selects and 6-bit sums)."""
    d = load_design(TINY)
    p = macro_parameters(d)
    assert (p["ROWS"], p["DAC_BITS"], p["ADCS"], p["COL_BITS"], p["SUM_BITS"]) == (16, 1, 4, 4, 6)
    ports = {name: (direction, width) for name, direction, width in macro_ports(d)}
    assert ports == {"clk": ("input", 1), "rst": ("input", 1), "prog_row": ("input", 4), "prog_col": ("input", 4),
                     "prog_level": ("input", 2), "prog_we": ("input", 1), "digits": ("input", 16),
                     "apply": ("input", 1), "sample": ("input", 1), "col": ("input", 16), "sums": ("output", 24),
                     "writes": ("output", 32), "changes": ("output", 32)}
    stub = macro_stub(d)
    assert stub.startswith("(* blackbox *)") and "initial" not in stub and stub.rstrip().endswith("endmodule")
    lib = macro_liberty(d)
    assert f"cell ({macro_name(d)})" in lib and "area : 0;" in lib
    # every column select bit reaches the sums; col itself is no timing check
    assert 'related_pin : "col[0] col[1]' in lib and "col[15]\"" in lib


def test_parse_report_hand_worked():
    """Critical path = period - worst slack; the largest clock its inverse."""
    d = load_design(TINY)  # 40 MHz: 25 ns
    report = """Startpoint: xbar0_mask._572_ (rising edge-triggered flip-flop clocked by clk)
Endpoint: _097_ (rising edge-triggered flip-flop clocked by clk)
         0.0000    0.0000 ^ xbar0_mask._572_/CLK (DFFPOSX1)
         0.1598    0.1598 v xbar0_mask._572_/Q (DFFPOSX1)
         0.1669    0.3267 v xbar0_sched._42_/Y (BUFX2)
         0.2000    0.5267 ^ _12_/Y (INVX1)
                   0.5267   data arrival time
"""
    t = parse_report(d, report, 24.0)
    assert t["critical_path_ns"] == pytest.approx(1.0)
    assert t["max_clock_hz"] == pytest.approx(1e9)
    assert t["meets_clock"] and t["data_arrival_ns"] == pytest.approx(0.5267)
    assert t["through"] == ["xbar0_mask", "xbar0_sched", "control"]
    assert not parse_report(d, report, -1.0)["meets_clock"]


def liberty_areas(path):
    """Cell name -> area, read here independently of the flow."""
    text = Path(path).read_text()
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"cell \((\w+)\) \{[^}]*?\barea : ([0-9.]+)", text)}


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_TOOLS, reason="needs yosys, sta (opensta) and qflow-tech-osu018")
def test_synthesis_of_tiny(tmp_path, capsys):
    out = tmp_path / "rtl"
    assert main(["rtl", TINY, "-o", str(out), "--synth", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    s = doc["synth"]
    assert json.loads((out / "synthesis.json").read_text()) == s
    assert "Timing (OpenSTA)" in (out / "synthesis.md").read_text()
    d = load_design(TINY)
    comps = s["components"]
    for kind in ("sched", "shift_add", "saf", "mask", "control", "adc"):
        assert comps[kind]["area_um2"] > 0 and comps[kind]["cells"] > 0, kind
    assert comps["mask"]["instances"] == comps["saf"]["instances"] == d.pe.crossbars
    # per-component areas add up to Yosys's hierarchical total (printed with 6 decimals)
    assert sum(c["area_um2"] for c in comps.values()) == pytest.approx(s["total_area_um2"], abs=0.01)
    # each module's area is its cells times the Liberty's areas
    areas = liberty_areas(DEFAULT_LIBERTY)
    for name, mod in s["modules"].items():
        assert mod["area_um2"] == pytest.approx(sum(n * areas[t] for t, n in mod["types"].items()), abs=0.01), name
    periphery = sum(comps[k]["area_um2"] for k in ("sched", "shift_add", "saf", "mask", "control"))
    assert s["periphery_area_um2"] == pytest.approx(periphery)
    assert s["mask_share"] == pytest.approx(comps["mask"]["area_um2"] / periphery)
    # the crossbar arrays are black boxes: one macro instance per crossbar, no area, no model
    assert comps["array"]["area_um2"] == 0 and comps["array"]["macros"] == d.pe.crossbars
    netlist = (out / "synth" / "netlist.v").read_text()
    assert len(re.findall(rf"^\s*{macro_name(d)}\b", netlist, re.M)) == d.pe.crossbars
    assert f"module {macro_name(d)}" not in netlist
    # timing against tile.clock_hz
    t = s["timing"]
    assert t["period_ns"] == pytest.approx(25.0) and t["critical_path_ns"] > 0
    assert t["critical_path_ns"] == pytest.approx(t["period_ns"] - t["worst_slack_ns"])
    assert t["max_clock_hz"] == pytest.approx(1e9 / t["critical_path_ns"])
    assert t["meets_clock"] == (t["worst_slack_ns"] >= 0)
    assert "slack" in (out / "synth" / "sta.txt").read_text()
