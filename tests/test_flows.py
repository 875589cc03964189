"""The library layer under the command line (``xbar_hw.flows``), called with plain values:
each function gives what the command's old inline code gave, written out here by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xbar_hw import XbarError, convert_to_program, load_design
from xbar_hw.cli import build_parser
from xbar_hw.cli.common import nonideal_overrides
from xbar_hw.core.presets import load_preset
from xbar_hw.flows import demo
from xbar_hw.flows.adapting import DEFAULT_BUDGET, adapt_config
from xbar_hw.flows.evaluate import evaluate_chips, evaluate_with_chips, task_accuracy
from xbar_hw.flows.ir_drop import random_crossbar_drop, wire_resistances
from xbar_hw.flows.nonideal import with_nonideal
from xbar_hw.flows.workloads import DEFAULT_DATA, made_on, task_workload
from xbar_hw.workload.data import eval_subset, load_dataset
from xbar_hw.workload.models import build_model
from xbar_hw.workload.train import accuracy
from xbar_hw.xbar import build_network
from xbar_hw.xbar.analog import Chip, attach_chip

ROOT = Path(__file__).resolve().parent.parent
TINY = load_design(ROOT / "designs" / "tiny.yaml")
DEFAULT = load_design(ROOT / "designs" / "default.yaml")
KWARGS = {"in_channels": 1, "num_classes": 10, "in_size": 8, "width": 4}


@pytest.fixture(scope="module")
def digits_program():
    """A random mnist_cnn for the 8x8 UCI digits mapped onto tiny, and the digits data."""
    model = build_model("mnist_cnn", seed=0, **KWARGS)
    program = convert_to_program(model, TINY, torch.rand(16, 1, 8, 8), {"arch": "mnist_cnn", "kwargs": KWARGS},
                                 {"data": "digits"})
    return program, load_dataset("digits", seed=0)


# ----------------------------------------------------------------------------- nonideal


def test_with_nonideal_is_the_blocks_written_out():
    got = with_nonideal(DEFAULT, sa0=0.01, sa1=0.02, saf_correction=False, r_wire=3.0, noise=True, variation=0.5,
                        chip_seed=7, read_frequency=1e9)
    want = DEFAULT.replace(
        nonideal={"saf": {"sa0": 0.01, "sa1": 0.02, "correct": False},
                  "ir_drop": {"enabled": True, "r_row": 3.0, "r_col": 3.0},
                  "noise": {"thermal": True, "shot": True, "rtn": True}, "variation": {"sigma": 0.5}, "seed": 7},
        device={"read_frequency": 1e9})
    assert got.to_dict() == want.to_dict()


def test_with_nonideal_one_rate_and_single_sources():
    got = with_nonideal(DEFAULT, sa1=0.05, sa0_state="off", ir_drop=True, shot=True)
    want = DEFAULT.replace(nonideal={"saf": {"sa0": 0.0, "sa1": 0.05, "sa0_state": "off"}, "ir_drop": {"enabled": True},
                                     "noise": {"shot": True}})
    assert got.to_dict() == want.to_dict()
    assert with_nonideal(DEFAULT) is DEFAULT


def test_the_command_line_flags_give_the_same_design():
    args = build_parser().parse_args(["evaluate", "--program", "p", "--sa0", "0.01", "--sa1", "0.02",
                                      "--no-saf-correction", "--r-wire", "3", "--noise", "--variation", "0.5",
                                      "--chip-seed", "7", "--read-frequency", "1e9"])
    assert with_nonideal(DEFAULT, **nonideal_overrides(args)).to_dict() == with_nonideal(
        DEFAULT, sa0=0.01, sa1=0.02, saf_correction=False, r_wire=3.0, noise=True, variation=0.5, chip_seed=7,
        read_frequency=1e9).to_dict()


def test_with_nonideal_validates():
    with pytest.raises(XbarError, match="nonideal.saf.sa1"):
        with_nonideal(DEFAULT, sa0=0.6, sa1=0.6)


# ----------------------------------------------------------------------------- workloads


def test_made_on():
    assert made_on({"data": "digits"}) == "digits"
    assert made_on({"data": "digits"}, "mnist5k") == "mnist5k"
    assert made_on({}) == DEFAULT_DATA == "mnist5k"


def test_task_workload_is_the_seed_0_test_subset(digits_program):
    program, _ = digits_program
    want = eval_subset(load_dataset("digits", seed=0), 5)[0]
    assert torch.equal(task_workload(program, images=5), want)
    # data named on the command line is the one used when the Program names no base task;
    # mnist5k's 28x28 images do not fit this 8x8 Program: one line naming them
    with pytest.raises(XbarError, match=r"^data: mnist5k images of shape \[1, 28, 28\] do not fit"):
        task_workload(program, data="mnist5k", images=2)


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_chips_is_the_chip_loop(digits_program):
    program, data = digits_program
    design = TINY.replace(nonideal={"saf": {"sa0": 0.05, "sa1": 0.05}})
    got = evaluate_chips(program, data, design, 2, progress=False, limit=40)
    x, y = eval_subset(data, 40)
    mapped = build_network(program)
    want = [accuracy(attach_chip(mapped, Chip(program, design, i, {})), x, y) for i in range(2)]
    assert got["chip_accs"] == want and got["chips"] == 2
    assert got["nonideal"]["saf"]["sa0"] == 0.05 and got["read_frequency"] == design.device.read_frequency
    assert task_accuracy(program, data, limit=40) == accuracy(build_network(program), x, y)


def test_evaluate_with_chips_checks_chips_first(digits_program):
    program, data = digits_program
    with pytest.raises(XbarError, match="--chips"):
        evaluate_with_chips(program, data, chips=0, progress=False, limit=8)
    doc = evaluate_with_chips(program, data, progress=False, limit=8)
    assert "chips" not in doc and doc["float_acc"] is None and doc["n_test"] == 8


# ----------------------------------------------------------------------------- IR drop


def test_wire_resistances_precedence():
    ir = DEFAULT.nonideal.ir_drop
    assert wire_resistances(DEFAULT) == (ir.r_row, ir.r_col, ir.r_source, ir.r_sense)
    assert wire_resistances(DEFAULT, r_wire=3.0, r_col=5.0, r_sense=1.0) == (3.0, 5.0, ir.r_source, 1.0)


def test_random_crossbar_drop_ideal_currents():
    doc = random_crossbar_drop(DEFAULT, rows=4, cols=3, seed=1, r_wire=2.0, r_source=4.0, r_sense=4.0)
    levels = torch.randint(0, DEFAULT.cell_max + 1, (4, 3), generator=torch.Generator().manual_seed(1)).double()
    G = DEFAULT.device.g_off + levels * (DEFAULT.device.g_on - DEFAULT.device.g_off) / DEFAULT.cell_max
    ideal = G.t() @ torch.full((4,), DEFAULT.device.v_read, dtype=torch.float64)
    assert torch.allclose(torch.tensor(doc["ideal_current_a"], dtype=torch.float64), ideal, rtol=1e-12)
    assert 0 < doc["current_drop_mean"] <= doc["current_drop_max"] < 1
    with pytest.raises(XbarError, match="--rows"):
        random_crossbar_drop(DEFAULT, rows=0)


# ----------------------------------------------------------------------------- adapt, demo


def test_adapt_config():
    method, cfg = adapt_config("xma2", epochs=2, eval_limit=10, progress=False)
    assert method.name == "xma2" and cfg.budget == DEFAULT_BUDGET == 0.1 and cfg.epochs == 2
    assert adapt_config("xma2", budget=0.25)[1].budget == 0.25
    with pytest.raises(XbarError, match="budget"):
        adapt_config("xma", budget=0.25)
    with pytest.raises(XbarError, match="method"):
        adapt_config("nope")


def test_demo_cases_are_the_shipped_presets():
    """The demo's non-ideal chips: PytorX's stuck-at rates with and without the correction,
    and read noise, from the preset files (the blocks the demo once wrote inline)."""
    cases = {k: (load_preset(p), n) for k, (p, n) in demo.NONIDEAL_CASES.items()}
    assert cases == {
        "saf_uncorrected": ({"saf": {"sa0": 0.0175, "sa1": 0.0904, "correct": False}}, 3),
        "saf_corrected": ({"saf": {"sa0": 0.0175, "sa1": 0.0904, "correct": True}}, 3),
        "noise_10MHz": ({"noise": {"thermal": True, "shot": True, "rtn": True}}, 1),
    }
