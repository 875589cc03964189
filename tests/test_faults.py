"""The fault table sized by the design (issue 11 item 5): ``corrector.entries``, its
default from the SAF rates, the overflow report, and the golden model's handling of the
faults that do not fit (they go uncorrected, as in the RTL). The RTL side is in
tests/test_cosim.py (test_fault_table_overflow_rtl_equals_golden)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from xbar_hw import cli, load_design
from xbar_hw.core.errors import XbarError
from xbar_hw.core.mapping import kept_faults, layer_weights
from xbar_hw.flows.evaluate import evaluate_chips
from xbar_hw.sim.golden_pe import golden_beats
from xbar_hw.sim.loads import program_load
from xbar_hw.workload.data import load_dataset
from xbar_hw.workload.models import build_model
from xbar_hw.xbar.analog import Chip, attach_chip
from xbar_hw.xbar.convert import build_network, convert_to_program
from xbar_hw.xbar.layers import mapped_layers

ROOT = Path(__file__).resolve().parent.parent
TINY = load_design(ROOT / "designs" / "tiny.yaml")  # R = 16, L = 4, s = 2: 64 weights of 4 cells
DEFAULT = load_design(ROOT / "designs" / "default.yaml")  # R = 128, L = 16, s = 4: 2048 weights of 8 cells


def auto(design, sa0, sa1):
    return design.replace(corrector={"entries": "auto"}, nonideal={"saf": {"sa0": sa0, "sa1": sa1}})


def test_default_depth_hand_worked_binomial():
    """tiny (s = 2 slices per polarity) at sa0 = 1 %, sa1 = 4 % (SA0 pins the top level): a
    weight needs an entry with at most 1 - 0.99^2 * 0.95^2 = 1 - 0.9801 * 0.9025 = 0.11545975
    (its zero polarity's 2 cells hurt by SA0 only, the other 2 by either fault); 64 weights:
    mean 7.389424, variance 7.389424 * 0.88454025 = 6.536243, sigma 2.556608;
    mean + 6 sigma = 22.7291 -> 23 entries. With sa0_state off (SA1 pins the top level):
    1 - 0.96^2 * 0.95^2 = 0.168256, mean 10.768384, sigma 2.992684 -> 28.72 -> 29."""
    d = auto(TINY, 0.01, 0.04)
    assert d.weight_fault_probability == pytest.approx(0.11545975, abs=1e-12)
    assert d.fault_table_entries == 23
    assert d.replace(nonideal={"saf": {"sa0_state": "off"}}).fault_table_entries == 29
    # the default design (s = 4) at PytorX's rates: 1 - 0.9825^4 * 0.8921^4 = 0.409820; 2048 weights:
    # mean 839.31, sigma 22.256 -> 972.85 -> 973
    assert auto(DEFAULT, 0.0175, 0.0904).fault_table_entries == 973
    assert auto(TINY, 0.0, 0.0).fault_table_entries == 1          # no faults expected: at least one entry
    assert auto(TINY, 0.5, 0.5).fault_table_entries == 64         # every weight faulty: at most R * L
    assert TINY.replace(corrector={"entries": 5}).fault_table_entries == 5
    assert DEFAULT.fault_table_entries == 1  # the shipped default design has no SAF rates
    mapped = TINY.replace(corrector={"entries": "auto"}, nonideal={"saf": {"map": "faults.safetensors"}})
    assert mapped.fault_table_entries == 64  # a fault map has no rate: any map fits
    # not part of the mapping fingerprint: a Program runs under any depth
    assert TINY.replace(corrector={"entries": 1}).mapping_fingerprint() == TINY.mapping_fingerprint()


def test_bad_depth_in_a_design_is_one_line():
    with pytest.raises(XbarError) as e:
        TINY.replace(corrector={"entries": 65})
    assert str(e.value) == ("corrector.entries: got 65; allowed: 'auto' or an integer in [1, 64] "
                            "(crossbar.rows * logical columns: one entry per weight)")
    for bad in (0, "many", True, 2.5):
        with pytest.raises(XbarError) as e:
            TINY.replace(corrector={"entries": bad})
        assert str(e.value) == f"corrector.entries: got {bad!r}; allowed: 'auto' or an integer in [1, 16777216]"


def test_kept_faults_first_entries_row_major():
    delta = torch.tensor([[[0, 3, 0], [-1, 0, 2]], [[5, 0, 0], [0, 0, 0]]])
    keep = kept_faults(delta, 2)
    assert keep.tolist() == [[[False, True, False], [True, False, False]], [[True, False, False], [False] * 3]]


@pytest.fixture(scope="module")
def faulty():
    """mnist_cnn (width 4, UCI digits, untrained) on tiny, chip 0's stuck cells at 5 % SA0
    and 5 % SA1 profiled into the Program; the chip design's table holds 2 entries."""
    data = load_dataset("digits")
    kwargs = {"in_channels": 1, "num_classes": 10, "in_size": 8, "width": 4}
    model = build_model("mnist_cnn", seed=0, **kwargs)
    program = convert_to_program(model, TINY, data.x_train[:64], {"arch": "mnist_cnn", "kwargs": kwargs},
                                 {"data": "digits", "seed": 0})
    design = TINY.replace(nonideal={"saf": {"sa0": 0.05, "sa1": 0.05}}, corrector={"entries": 2})
    Chip(program, design, 0).profile(program)
    return program, design, data


def test_overflow_reported_and_uncorrected_in_the_golden_model(faulty):
    """The chip reports the weights past each crossbar's table (equal to the Program's own
    count from its profiled stuck cells); the golden network corrects only the entries a
    table holds, and equals the golden PE (what the RTL is checked against) on those tables."""
    program, design, data = faulty
    chip = Chip(program, design, 0)
    over = chip.fault_overflow()
    assert over and over == {n: lp.fault_overflow(design) for n, lp in program.layers.items() if lp.fault_overflow(design)}
    for name, lp in program.layers.items():
        counts = lp.faulty_weights(design)
        assert sum(over.get(name, {}).values()) == int((counts - 2).clamp(min=0).sum())
        assert all(len(lp.fault_table(xb, design)) == min(2, int(counts[xb])) for xb in range(lp.n_crossbars))

    for layer in ("conv2", "fc"):
        load, ctx = program_load(design, program, layer=layer, vectors=8)
        assert load.overflow == {xb: k for xb, k in program.layers[layer].fault_overflow(design).items() if xb < load.used}
        expected = golden_beats(load)
        net = attach_chip(build_network(program), chip)
        m = next(x for x in mapped_layers(net) if x.lp.name == layer)
        with torch.no_grad():
            p = m.crossbar_rows(ctx["x_u"]).round().to(torch.int64)
        n_rb, _ = load.source["grid"]
        L, checked = design.logical_cols, 0
        for g in range(load.groups):
            if (g + 1) * n_rb <= load.used:
                cols = min(L, m.lp.n_out - g * L)
                assert torch.equal(expected[:, g, :cols], p[:, g * L : g * L + cols])
                checked += 1
        assert checked >= 1
    # a table deep enough for every fault corrects every faulty weight: w - w_stored in full
    full = Chip(program, design.replace(corrector={"entries": 64}), 0)
    assert full.fault_overflow() == {}
    for name, lp in program.layers.items():
        stored = full.layers[name].stored
        whole = layer_weights(lp.levels, lp.k_in, lp.n_out, design) - layer_weights(stored, lp.k_in, lp.n_out, design)
        assert torch.equal(full.layers[name].correction, whole)
        assert int((chip.layers[name].correction != 0).sum()) < int((whole != 0).sum()) or name not in over


def test_evaluate_reports_overflow(faulty):
    program, design, data = faulty
    r = evaluate_chips(program, data, design, 1, progress=False, limit=16)
    assert r["fault_table_entries"] == 2
    assert r["fault_overflow"] == [Chip(program, design, 0).fault_overflow()]
    r = evaluate_chips(program, data, design.replace(corrector={"entries": 64}), 1, progress=False, limit=16)
    assert r["fault_overflow"] == [{}]


def run(capsys, *argv):
    capsys.readouterr()
    rc = cli.main([str(a) for a in argv])
    return (rc, *capsys.readouterr())


def test_cli_fault_entries(capsys, tmp_path, faulty):
    program, _, _ = faulty
    path = tmp_path / "p.safetensors"
    program.save(path)
    rc, out, err = run(capsys, "evaluate", "--program", path, "--data", "digits", "--limit", 16, "--quiet",
                       "--sa0", 0.05, "--sa1", 0.05, "--fault-entries", 2)
    assert rc == 0
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: fault table overflow (2 entries per crossbar): ")
    rc, out, err = run(capsys, "evaluate", "--program", path, "--data", "digits", "--limit", 16, "--quiet",
                       "--sa0", 0.05, "--sa1", 0.05, "--fault-entries", 64)
    assert rc == 0 and err == ""
    for value, msg in (("0", "error: --fault-entries: got 0; allowed: 'auto' or an integer in [1, 16777216]"),
                       ("x", "error: --fault-entries: got 'x'; allowed: 'auto' or an integer in [1, 16777216]"),
                       ("65", "error: corrector.entries: got 65; allowed: 'auto' or an integer in [1, 64] "
                              "(crossbar.rows * logical columns: one entry per weight)")):
        rc, out, err = run(capsys, "evaluate", "--program", path, "--data", "digits", "--fault-entries", value)
        assert rc == 2 and err.splitlines() == [msg] and out == ""
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "designs" / "tiny.yaml").read_text().replace("corrector: {entries: 8}",
                                                                      "corrector: {entries: 0}"))
    rc, out, err = run(capsys, "design", "check", bad)
    assert rc == 2 and err.splitlines() == ["error: corrector.entries: got 0; allowed: 'auto' or an integer in [1, 16777216]"]
