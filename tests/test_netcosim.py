"""Whole-network co-simulation (``xbar-hw cosim --network``): every PE of every layer of a
mapped network on the generated tile (Icarus), layer after layer on the co-simulated
outputs, the logits against the golden model computed here on its own (the mapped network,
the chip instance whose faults were profiled into the Program, the task's masks)."""

from __future__ import annotations

import copy
import re

import pytest
import torch

pytest.importorskip("cocotb")
pytest.importorskip("amaranth")

import test_cosim
from test_cosim import TINY, TINY_PATH, mapped_program, needs_icarus, needs_verilator, run_cli

from xbar_hw import XbarError
from xbar_hw.core.switch import task_view
from xbar_hw.rtl.macro import macro_verilog
from xbar_hw.sim import runner
from xbar_hw.sim.golden_pe import golden_beats
from xbar_hw.sim.loads import pe_load
from xbar_hw.sim.network import cosim_network
from xbar_hw.workload.data import load_dataset
from xbar_hw.xbar.analog import Chip, attach_chip
from xbar_hw.xbar.convert import build_network
from xbar_hw.xbar.layers import mapped_layers, set_column_masks, set_path

SAF = {"saf": {"sa0": 0.05, "sa1": 0.05}}  # the rates mapped_program profiles
#: test_cosim's fixture: one build folder per design, the simulator builds reused by the tests here
build_root = test_cosim.build_root


@pytest.fixture(scope="module")
def programs():
    """mnist_cnn (width 4) on tiny: conv1 on 1 crossbar (1 PE), conv2 on 6 (PEs 1-2), fc
    on 6 (PEs 3-4); without faults, and with chip 0's stuck cells profiled into it; both
    with a task "masked" of random mask codes."""
    return mapped_program(TINY, faults=False, mask_seed=5), mapped_program(TINY, faults=True, mask_seed=5)


def images(n: int, seed: int = 0) -> torch.Tensor:
    x = load_dataset("digits").x_test
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]]


def golden_logits(program, task, x, chip=None) -> torch.Tensor:
    """The golden model: the mapped network of the task's view, its masks, the chip."""
    view, masks = task_view(program, task)
    net = attach_chip(set_path(set_column_masks(build_network(view), masks or None), "crossbar"), chip)
    with torch.no_grad():
        return net(x)


def check_network(r: dict, layers: dict) -> None:
    """Zero mismatches, every PE's cycles those of the cycle model, the PEs and MVMs of
    each layer as worked out by hand (``layers``: name -> (PEs, MVMs per PE))."""
    assert r["mismatches"] == 0 and r["cycles_match"] and r["ok"], r
    assert [layer["layer"] for layer in r["layers"]] == list(layers)
    for layer in r["layers"]:
        n_pes, mvms = layers[layer["layer"]]
        assert [p["vectors"] for p in layer["pes"]] == [mvms] * n_pes
        for p in layer["pes"]:
            assert p["ok"] and p["counters_ok"] and p["cycles_per_mvm"] == p["cycles_expected"], p
        assert layer["golden_pe_vs_layer"]
    assert r["pes"] == sum(n for n, _ in layers.values())


@needs_icarus
def test_whole_tiny_network_equals_the_golden_logits(programs, build_root):
    """Every PE of conv1, conv2 and fc for 2 images: 8x8 inputs give 64 conv1 positions
    per image, 4x4 = 16 conv2 positions after the pooling, one fc vector."""
    program, _ = programs
    r = cosim_network(TINY, program, images=2, build_dir=build_root / "tiny")
    check_network(r, {"conv1": (1, 128), "conv2": (2, 32), "fc": (2, 2)})
    assert [layer["pes"][0]["pe"] for layer in r["layers"]] == [0, 1, 3]
    want = golden_logits(program, None, images(2))
    assert r["logits_match"] and torch.equal(torch.tensor(r["logits"]), want)
    assert r["predictions"] == want.argmax(1).tolist()
    assert len(r["builds"]) == 1  # one PE configuration: one simulator build for every PE


@needs_icarus
def test_whole_tiny_network_with_a_task_and_faults(programs, build_root):
    """The task's masks on every shared layer (its head on fc) and chip 0's stuck cells,
    corrected by the fault tables: the logits equal the golden model running that chip."""
    _, faulty = programs
    r = cosim_network(TINY, faulty, task="masked", images=1, build_dir=build_root / "tiny")
    check_network(r, {"conv1": (1, 64), "conv2": (2, 16), "fc": (2, 1)})
    assert all(p["fault_entries"] > 0 for layer in r["layers"] for p in layer["pes"])
    # tiny's 8-entry tables overflow at these rates: the weights past them go uncorrected in
    # the RTL and in the chip's golden model alike
    assert r["fault_overflow"] > 0 and r["fault_table_entries"] == 8
    assert sum(p["gated"] for layer in r["layers"] for p in layer["pes"]) > 0
    chip = Chip(faulty, TINY.replace(nonideal=SAF), 0)
    want = golden_logits(faulty, "masked", images(1), chip)
    assert torch.equal(torch.tensor(r["logits"]), want)
    # the faults matter: the network without them gives other logits
    assert not torch.equal(want, golden_logits(faulty, "masked", images(1)))
    # from fc on: conv1 and conv2 on the host's golden model, fc's two PEs co-simulated
    r = cosim_network(TINY, faulty, task="masked", images=1, build_dir=build_root / "tiny", from_layer="fc")
    check_network(r, {"fc": (2, 1)})
    assert torch.equal(torch.tensor(r["logits"]), want)
    # conv1 only: conv2 and fc on the host, fed conv1's co-simulated outputs
    r = cosim_network(TINY, faulty, task="masked", images=1, build_dir=build_root / "tiny", to_layer="conv1")
    check_network(r, {"conv1": (1, 64)})
    assert torch.equal(torch.tensor(r["logits"]), want)


@needs_icarus
def test_a_wrong_macro_model_is_caught_in_the_network(programs, build_root, tmp_path):
    """A macro model that drops the last row: conv1 (9 of 16 rows used) is unaffected;
    conv2's first PE (PE 1) mismatches in exactly the (output group, logical column) pairs
    where the golden PE with the last row at level 0 differs, each named by PE, crossbar
    and column; the logits differ and the run fails."""
    program, _ = programs
    bad = tmp_path / "xbar_array_tiny.v"
    bad.write_text(macro_verilog(TINY).replace("r < ROWS; r = r + 1", "r < ROWS - 1; r = r + 1"))
    r = cosim_network(TINY, program, images=1, build_dir=build_root / "tiny-bad", macro_model=bad)
    assert not r["ok"] and r["mismatches"] > 0
    conv1, conv2 = r["layers"][0], r["layers"][1]
    assert conv1["mismatches"] == 0
    # conv2's inputs: the golden network's (conv1 agreed), observed here
    net = set_path(build_network(program), "crossbar")
    seen = {}
    conv2_module = next(m for m in mapped_layers(net) if m.lp.name == "conv2")

    def see(m, i, o):
        seen["rows"] = m.input_rows(m.quantize_input(i[0])).to(torch.int64)

    h = conv2_module.register_forward_hook(see)
    with torch.no_grad():
        net(images(1))
    h.remove()
    load = pe_load(TINY, program, {}, "conv2", 0, seen["rows"])
    dropped = copy.deepcopy(load)
    for lv in dropped.stored:
        lv[-1, :] = 0
    differ = (golden_beats(load) != golden_beats(dropped)).any(0).nonzero().tolist()
    assert differ and conv2["pes"][0]["mismatch_where"] == differ
    _, j = differ[0]
    msg = conv2["pes"][0]["mismatch_columns"][0]
    assert re.match(rf"PE 1 crossbars? [0-9, ]+.* logical column {j} \(physical columns {4 * j}-{4 * j + 3}\): ", msg), msg
    assert not r["logits_match"]


@needs_verilator
@pytest.mark.slow
def test_whole_tiny_network_on_verilator(programs, build_root):
    """The same network with a task and faults on Verilator (a cold C++ build of tiny)."""
    _, faulty = programs
    r = cosim_network(TINY, faulty, task="masked", images=1, sim="verilator", build_dir=build_root / "tiny")
    check_network(r, {"conv1": (1, 64), "conv2": (2, 16), "fc": (2, 1)})
    want = golden_logits(faulty, "masked", images(1), Chip(faulty, TINY.replace(nonideal=SAF), 0))
    assert r["sim"] == "verilator" and torch.equal(torch.tensor(r["logits"]), want)


def test_bad_network_inputs(programs, tmp_path, monkeypatch):
    """--network with a Program of another design, a task the Program lacks, a missing
    simulator, a random Program, --vectors or --layer: one line each, exit 2."""
    program, _ = programs
    path = tmp_path / "p.safetensors"
    program.save(path)
    base = ("cosim", "--network", "--program", path)
    cases = [
        ((*base, "--design", TINY_PATH.parent / "default.yaml"), "error: program: "),
        ((*base, "--design", TINY_PATH, "--task", "nope"), "error: task: got 'nope'; allowed: one of this Program's tasks"),
        ((*base, "--design", TINY_PATH, "--from-layer", "conv9"), "error: layer: got 'conv9'; allowed: one of"),
        ((*base, "--design", TINY_PATH, "--from-layer", "fc", "--to-layer", "conv2"),
         "error: to_layer: got 'conv2'; allowed: one of the layers from fc on: fc"),
        ((*base, "--design", TINY_PATH, "--vectors", 3), "error: vectors: got 3; allowed: none with --network"),
        ((*base, "--design", TINY_PATH, "--layer", "fc"), "error: layer: got 'fc'; allowed: none with --network"),
        (("cosim", "--network", "--program", "random", "--design", TINY_PATH), "error: program: got 'random'"),
        (("cosim", "--program", "random", "--design", TINY_PATH, "--images", 2), "error: images: got 2; allowed: none"),
        (("cosim", "--program", "random", "--design", TINY_PATH), "error: vectors: got None; allowed: an integer"),
    ]
    for argv, start in cases:
        rc, _, err = run_cli(*argv)
        assert rc == 2 and err.startswith(start) and len(err.strip().splitlines()) == 1, (argv, err)
    with pytest.raises(XbarError, match=r"^images: got 0; allowed: an integer >= 1$"):
        cosim_network(TINY, program, images=0)
    monkeypatch.setattr(runner.shutil, "which", lambda name, *a, **k: None)
    rc, _, err = run_cli(*base, "--design", TINY_PATH, "--build-dir", tmp_path / "b")
    assert rc == 2 and err.startswith("error: sim: got 'icarus', but iverilog is not installed; allowed: ")
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "b").exists()


@needs_icarus
@pytest.mark.slow
def test_pruned_network_builds_each_pe_configuration_once(build_root):
    """TinyADC: mnist_cnn pruned for 3-bit ADCs and mapped with each crossbar's lossless
    bits: every PE's tile is built with its slots' ADC bits, one simulator build per
    distinct configuration (counted here from the Program), and the logits equal the
    golden model's."""
    from xbar_hw.flows.prune import apply_masks, mapped_modules, tinyadc_mask
    from xbar_hw.workload.models import build_model
    from xbar_hw.xbar.convert import convert_to_program

    data = load_dataset("digits")
    kwargs = {"in_channels": 1, "num_classes": 10, "in_size": 8, "width": 4}
    model = build_model("mnist_cnn", seed=0, **kwargs)
    apply_masks(model, {n: tinyadc_mask(m, 3, TINY) for n, m in mapped_modules(model).items()})
    program = convert_to_program(model, TINY, data.x_train[:64], {"arch": "mnist_cnn", "kwargs": kwargs},
                                 {"data": "digits", "seed": 0}, adc_bits="lossless")
    N = TINY.pe.crossbars
    configs = set()
    for lp in program.layers.values():
        bits = lp.adc_bits.tolist()
        for first in range(0, lp.n_crossbars, N):
            used = bits[first : first + N]
            configs.add(tuple(used + [TINY.adc.bits] * (N - len(used))))
    r = cosim_network(TINY, program, images=1, build_dir=build_root / "tiny")
    check_network(r, {"conv1": (1, 64), "conv2": (2, 16), "fc": (2, 1)})
    assert len(r["builds"]) == len(configs) > 1
    assert torch.equal(torch.tensor(r["logits"]), golden_logits(program, None, images(1)))
