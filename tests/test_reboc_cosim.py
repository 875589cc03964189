"""ReBoc's hardware (issue 14) co-simulated with cocotb on Icarus: the input register
(xbar_hw.rtl.reboc.SliceRotator) as generated Verilog, against the golden model's input
order (xbar_hw.core.circulant.input_index), for block sizes 4, 8 and 16 on the tiny and
default designs, every read sequence; the ReBoc PE (RebocPe: the PE tile behind the
rotators) running a ReBoc-mapped layer against the golden PE and the plain mapping's
product, its cycles measured against the cost model's count (xbar_hw.energy.reboc).
Tests that need a simulator skip when it is missing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

pytest.importorskip("cocotb")
pytest.importorskip("amaranth")

from xbar_hw import XbarError, load_design
from xbar_hw.core.circulant import input_index
from xbar_hw.energy.reboc import layer_counts
from xbar_hw.rtl.generate import generate_rotator
from xbar_hw.rtl.reboc import RebocPe, SliceRotator
from xbar_hw.sim import runner
from xbar_hw.sim.reboc import (
    REBOC_TB_MODULE,
    build_rotator_rtl,
    expected_rows,
    rotator_cosim,
    rotator_steps,
    rotator_vectors,
)
from xbar_hw.sim.reboc_pe import reboc_pe_cosim
from xbar_hw.workload.circulant import make_circulant
from xbar_hw.workload.models import build_model
from xbar_hw.xbar.circulant import RebocLayer, circulant_to_program

DESIGNS = Path(__file__).resolve().parent.parent / "designs"
TINY = load_design(DESIGNS / "tiny.yaml")          # 16 rows, 4-bit inputs
DEFAULT = load_design(DESIGNS / "default.yaml")    # 128 rows, 8-bit inputs
needs_icarus = pytest.mark.skipif(not runner.available("icarus"),
                                  reason="iverilog is not installed (apt-get install -y iverilog)")


def test_expected_rows_by_hand():
    # b = 4, the ramp x = 0 1 2 3: sequence c drives row m with x[(c - m) mod 4]
    x = torch.tensor([[0, 1, 2, 3], [9, 9, 9, 9]])
    steps = [[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, -1, 0], [0, 1, -1, 0], [0, 1, -1, 0], [0, 1, -1, 0],
             [1, 1, 1, 0], [0, 1, -1, 1]]
    assert expected_rows(steps, x, 4) == [
        [0, 3, 2, 1],      # load: sequence 0
        [1, 0, 3, 2],      # rotate (x shows vector 1, not loaded): sequence 1
        [1, 0, 3, 2],      # hold
        [2, 1, 0, 3],      # sequence 2
        [3, 2, 1, 0],      # sequence 3
        [0, 3, 2, 1],      # wraps to sequence 0
        [9, 9, 9, 9],      # load wins over rotate
        [0, 0, 0, 0],      # reset wins
    ]


@needs_icarus
@pytest.mark.parametrize("design", [TINY, DEFAULT], ids=["tiny", "default"])
@pytest.mark.parametrize("b", [4, 8, 16])
def test_rotator_cosim_matches_input_index(design, b, tmp_path):
    r = rotator_cosim(design, b, vectors=6, seed=b, build_dir=tmp_path)
    assert r["mismatches"] == 0, r["mismatch_examples"]
    assert r["reset_ok"] and r["ok"]
    assert r["sequences"] == list(range(b))
    # measured: one rising edge per read sequence, from the load on
    assert r["edges_per_sequence"] == [1]
    # every sequence of every vector was on the rows (the script's coverage, by the model)
    x = rotator_vectors(design, 6, b)
    want = expected_rows(rotator_steps(b, 6), x, b)
    R = design.crossbar.rows
    for v in range(6):
        for c in range(b):
            assert x[v][input_index(R, b, c)].tolist() in want


@needs_icarus
def test_rotator_cosim_catches_a_wrong_register(tmp_path):
    # the same run on a register that passes x straight through: the checks must fail
    rtl = build_rotator_rtl(TINY, 4, tmp_path)
    text = Path(rtl["verilog"]).read_text()
    assert "rows <= \\$1 ;" in text
    Path(rtl["verilog"]).write_text(text.replace("rows <= \\$1 ;", "rows <= x;"))
    x = rotator_vectors(TINY, 2, 0)
    steps = rotator_steps(4, 2)
    res = runner.run_testbench(rtl, tmp_path, "icarus", {"vectors": x.tolist(), "steps": steps},
                               tb_module=REBOC_TB_MODULE)
    want = expected_rows(steps, x, 4)
    assert sum(got != w for (_, got), w in zip(res["samples"], want)) > 0


@pytest.mark.parametrize("block", [5, 0, -4, 32, True, "4", 4.0])
def test_bad_block_is_one_line(block, tmp_path):
    for build in (lambda: SliceRotator(TINY, block), lambda: generate_rotator(TINY, block, tmp_path / "g"),
                  lambda: rotator_cosim(TINY, block, build_dir=tmp_path / "c")):
        with pytest.raises(XbarError) as err:
            build()
        text = str(err.value)
        assert "\n" not in text
        assert text == (f"block: got {block!r}; allowed: a positive integer dividing crossbar.rows = 16 "
                        f"(one whole input slice per crossbar)")
    assert not (tmp_path / "g").exists() and not (tmp_path / "c").exists()


# --------------------------------------------------------------------------- the ReBoc PE


def circulant_layer(design, b: int, width: int):
    """conv2 of a block-circulant mnist_cnn on 8x8 inputs (W[9 * width, 2 * width]), mapped for ``design``."""
    model = make_circulant(build_model("mnist_cnn", seed=0, in_channels=1, num_classes=10, in_size=8, width=width), b)
    calib = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    return circulant_to_program(model, design, calib).layers["conv2"]


def check_reboc_pe(design, lp, tmp_path) -> dict:
    r = reboc_pe_cosim(design, lp, vectors=4, seed=1, build_dir=tmp_path)
    assert r["mismatches"] == 0, r["mismatch_examples"]
    assert r["errors"] == []
    # the golden PE on the rotated inputs is the plain mapping's product of the layer
    assert r["golden_vs_plain"]["ok"] and r["golden_vs_plain"]["outputs_compared"] == 4 * lp.n_out
    rl = RebocLayer(lp, design)
    assert (r["block"], r["D"], r["reads"]) == (rl.b, rl.D, rl.reads)
    # measured against the cost model's count of the same layer, one MVM (pipeline=False:
    # b/D whole MVMs of the tile, which the ReBoc PE runs): the throughput interval is the
    # count, the first MVM's latency the count plus the rotators' load cycle
    counted = layer_counts(design, lp.k_in, rl.stored.shape[1], torch.ones(lp.k_in), 1.0, rl.reads, True,
                           pipeline=False)["cycles"]
    assert r["output_interval"] == [counted] and r["latency_first"] == counted + 1
    assert r["interval_expected"] == counted == rl.reads * r["tile_cycles_per_mvm"]
    # the intra-layer pipeline the cost model counts by default is not built: fewer cycles
    piped = layer_counts(design, lp.k_in, rl.stored.shape[1], torch.ones(lp.k_in), 1.0, rl.reads, True)["cycles"]
    assert piped < counted
    assert r["conversions"] == r["conversions_expected"] and r["ok"]
    return r


@needs_icarus
def test_reboc_pe_runs_a_reboc_mvm_bit_exactly(tmp_path):
    # tiny (16 rows, 4 logical columns): conv2 W[36, 8], b = 4: 2 block columns, D = 2
    # copies, 2 read sequences; 3 row blocks (16, 16, 4 rows) of one column block
    r = check_reboc_pe(TINY, circulant_layer(TINY, 4, 4), tmp_path)
    assert (r["D"], r["reads"], r["crossbars"], r["groups"], r["rotators"]) == (2, 2, 3, 1, 3)
    # by hand: S = 4 settle cycles, T = 4 reads of 1-bit digits, c = 4 conversion cycles per
    # read (16 columns, 4 ADCs): 1 + (4 + 3 * 4 + 4) + 1 + 1 = 23 cycles per tile MVM
    assert r["tile_cycles_per_mvm"] == 23 and r["output_interval"] == [46] and r["latency_first"] == 47


@needs_icarus
def test_reboc_pe_signed_block_8(tmp_path):
    # signed inputs, b = 8: conv2 W[72, 16], D = 2, 4 read sequences over 5 row blocks (a PE of 5)
    design = TINY.replace(pe={"crossbars": 5}, inputs={"signed": True})
    r = check_reboc_pe(design, circulant_layer(design, 8, 8), tmp_path)
    assert (r["D"], r["reads"], r["crossbars"], r["rotators"]) == (2, 4, 5, 5)


@needs_icarus
def test_reboc_pe_shares_one_rotator_between_column_blocks(tmp_path):
    # 72-row crossbars hold conv2 W[72, 16] (b = 4) in one row block; D = 2 copies make 8
    # stored columns, 2 column blocks of 4: two crossbars fed by one rotator (Input Tile Sharing)
    design = TINY.replace(crossbar={"rows": 72}, mapping={"kind": "reboc", "duplication": 2})
    r = check_reboc_pe(design, circulant_layer(design, 4, 8), tmp_path)
    assert (r["D"], r["reads"], r["crossbars"], r["groups"], r["rotators"]) == (2, 2, 2, 2, 1)


def test_reboc_pe_bad_parameters(tmp_path):
    with pytest.raises(XbarError, match=r"^reads: got 3; allowed: a positive integer dividing the block size 4 \(b/D\)$"):
        RebocPe(TINY, 4, 3)
    with pytest.raises(XbarError, match=r"^block: got 5; allowed: a positive integer dividing crossbar.rows = 16"):
        RebocPe(TINY, 5, 1)
    with pytest.raises(XbarError, match=r"^row_blocks: got 5; allowed: an integer in \[1, 4\] \(pe.crossbars\)$"):
        RebocPe(TINY, 4, 2, 5)
    lp = circulant_layer(TINY, 4, 4)
    with pytest.raises(XbarError, match=r"^seed: got -1; allowed: an integer >= 0$"):
        reboc_pe_cosim(TINY, lp, seed=-1, build_dir=tmp_path / "x")
    with pytest.raises(XbarError, match=r"^vectors: got 1; allowed: an integer >= 2$"):
        rotator_cosim(TINY, 4, vectors=1, build_dir=tmp_path / "x")
    dense = dataclasses.replace(lp, block=None)
    with pytest.raises(XbarError, match="not block-circulant"):
        reboc_pe_cosim(TINY, dense, build_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()
