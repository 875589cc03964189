"""ReBoc's hardware (issue 14) co-simulated with cocotb on Icarus: the input register
(xbar_hw.rtl.reboc.SliceRotator) as generated Verilog, against the golden model's input
order (xbar_hw.core.circulant.input_index), for block sizes 4, 8 and 16 on the tiny and
default designs, every read sequence. Tests that need a simulator skip when it is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("cocotb")
pytest.importorskip("amaranth")

from xbar_hw import XbarError, load_design  # noqa: E402
from xbar_hw.core.circulant import input_index  # noqa: E402
from xbar_hw.rtl.generate import generate_rotator  # noqa: E402
from xbar_hw.rtl.reboc import SliceRotator  # noqa: E402
from xbar_hw.sim import runner  # noqa: E402
from xbar_hw.sim.reboc import (  # noqa: E402
    REBOC_TB_MODULE,
    build_rotator_rtl,
    expected_rows,
    rotator_cosim,
    rotator_steps,
    rotator_vectors,
)

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
