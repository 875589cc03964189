"""The contract package (xbar_hw.core): quantities worked out by hand, presets, and a Program
written by the code before the restructure (format version 1) loading unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from xbar_hw import XbarError, build_network, build_task, design_from_dict, load_design
from xbar_hw.core.cycles import adc_conversions, crossbar_conversions
from xbar_hw.core.io import atomic_dir
from xbar_hw.core.layer import LayerProgram
from xbar_hw.core.presets import list_presets, load_preset
from xbar_hw.core.program import Program

DATA = Path(__file__).resolve().parent / "data"


def test_conductance_step_by_hand():
    d = design_from_dict({"crossbar": {"cell_bits": 2}, "device": {"g_on": 4e-4, "g_off": 1e-6}})
    assert d.conductance_step == pytest.approx((4e-4 - 1e-6) / 3, rel=1e-15)


@settings(max_examples=40, deadline=None)
@given(cell_bits=st.integers(1, 4), wbits=st.integers(2, 9), xbits=st.integers(1, 8), dac=st.integers(1, 8),
       cols=st.integers(16, 64), gated=st.data())
def test_conversions_are_t_times_active_columns(cell_bits, wbits, xbits, dac, cols, gated):
    d = design_from_dict({"crossbar": {"rows": 8, "cols": cols, "cell_bits": cell_bits}, "weights": {"bits": wbits},
                          "inputs": {"bits": xbits, "dac_bits": min(dac, xbits)}, "adc": {"per_crossbar": 2},
                          "pe": {"crossbars": 3}})
    s = -(-(wbits - 1) // cell_bits)
    L = cols // (2 * s)
    T = -(-xbits // min(dac, xbits))
    g = gated.draw(st.lists(st.integers(0, L), min_size=3, max_size=3))
    assert [crossbar_conversions(d, gated=x) for x in g] == [T * 2 * s * (L - x) for x in g]
    assert adc_conversions(d, g) == T * 2 * s * sum(L - x for x in g)
    assert crossbar_conversions(d, logical=1) == T * 2 * s


def test_stored_levels_and_fault_table_by_hand():
    # 2-bit cells, 4-bit weights: s = 2 slices per polarity, logical column j on physical
    # columns 4j (+, slice 0), 4j+1 (+, slice 1), 4j+2 (-, slice 0), 4j+3 (-, slice 1)
    d = design_from_dict({"crossbar": {"rows": 2, "cols": 8, "cell_bits": 2}, "weights": {"bits": 4},
                          "adc": {"per_crossbar": 1}, "corrector": {"entries": 4}})
    levels = torch.zeros(1, 2, 8, dtype=torch.uint8)
    levels[0, 0, 0] = 3  # w[0, 0] = +3
    levels[0, 1, 6] = 1  # w[1, 1] = -1
    faults = torch.tensor([[0, 0, 0, 0],   # +3 stuck at 0: w_stored 0, delta +3
                           [0, 1, 6, 1],   # stuck at its own level: no entry
                           [0, 1, 5, 2]])  # + slice 1 of w[1, 1] stuck at 2: w_stored = 8 - 1 = 7, delta -8
    lp = LayerProgram("l", "linear", 2, 2, levels, torch.zeros(1, dtype=torch.int64), torch.ones(2), 1.0,
                      faults=faults)
    stored = lp.stored_levels(0)
    assert stored[0, 0] == 0 and stored[1, 6] == 1 and stored[1, 5] == 2
    assert lp.fault_table(0, d) == [(0, 0, 3), (1, 1, -8)]
    assert lp.fault_overflow(d) == {} and lp.faulty_weights(d).tolist() == [2]
    # a table of one entry holds the first in row-major order; the other overflows, uncorrected
    d1 = d.replace(corrector={"entries": 1})
    assert lp.fault_table(0, d1) == [(0, 0, 3)] and lp.fault_overflow(d1) == {0: 1}


def test_presets_are_valid_nonideal_blocks():
    d = load_design("designs/default.yaml")
    assert {"pytorx-saf", "pytorx-saf-uncorrected", "read-noise", "pytorx-wires", "pytorx-wires-28"} <= set(list_presets())
    for name in list_presets():
        d.replace(nonideal=load_preset(name))  # validates
    saf = d.replace(nonideal=load_preset("pytorx-saf")).nonideal.saf
    assert (saf.sa0, saf.sa1, saf.correct) == (0.0175, 0.0904, True)  # He et al., DAC 2019
    wires = d.replace(nonideal=load_preset("pytorx-wires-28")).nonideal.ir_drop
    assert wires.r_row == pytest.approx(1 / 0.0357) and wires.r_sense == pytest.approx(1 / 0.25)
    with pytest.raises(XbarError, match=r"^preset: got 'nope'; allowed: one of pytorx-saf"):
        load_preset("nope")


def test_program_written_before_the_restructure_loads_and_runs_the_same():
    """program_v1.safetensors was written, with its outputs, by the code of commit 563b0f8
    (before xbar_hw.core existed): a tiny-design mnist_cnn with one task entry."""
    d = load_design("designs/tiny.yaml")
    prog = Program.load(DATA / "program_v1.safetensors", d)
    ref = load_file(DATA / "program_v1_outputs.safetensors")
    assert prog.summary() == {"design": "tiny", "layers": 3, "crossbars": 22, "pes": 7, "cells": 5632}
    assert list(prog.tasks) == ["t"] and prog.head == "fc"
    with torch.no_grad():
        assert torch.equal(build_network(prog)(ref["x"]), ref["base"])
        assert torch.equal(build_task(prog, "t")(ref["x"]), ref["task"])


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and (out / "old.txt").read_text() == "old"
    (out / "sub").mkdir()
    (out / "sub" / "stale.txt").write_text("stale")
    with atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("new")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "fresh.txt").write_text("fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in out.iterdir()) == ["new.txt", "old.txt", "sub"]  # kept what it does not name
    assert [p.name for p in (out / "sub").iterdir()] == ["fresh.txt"]  # a sub-folder is swapped whole
    with atomic_dir(tmp_path / "fresh") as tmp:
        (tmp / "a").write_text("a")
    assert (tmp_path / "fresh" / "a").read_text() == "a" and len(list(tmp_path.iterdir())) == 2
    (tmp_path / "file").write_text("x")
    with pytest.raises(XbarError, match="a file; allowed: a folder path"):
        with atomic_dir(tmp_path / "file"):
            pass
