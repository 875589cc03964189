"""TinyADC (issue 13): lossless ADC bits per crossbar, heterogeneous ADC resolution in the
golden model, the column-budget projection, pruning and its command.

The references are independent of the code under test: bounds worked by hand, column sums
summed in plain Python loops over the levels, and the spec's crossbar written out loop by
loop (tests/spec_reference.py) run once per crossbar with that crossbar's ADC bits."""

from __future__ import annotations

import pytest
import torch
from spec_reference import ref_crossbar_mvm

from xbar_hw import load_design
from xbar_hw.cli import main
from xbar_hw.core.adcbits import (
    assign_adc_bits,
    column_budget,
    column_keep,
    lossless_adc_bits,
    min_prunable_bits,
)
from xbar_hw.core.errors import XbarError
from xbar_hw.core.mapping import map_layer
from xbar_hw.core.program import Program
from xbar_hw.flows.demo import demo_prune
from xbar_hw.flows.prune import apply_masks, layer_bits, mapped_modules, prune_model, tinyadc_mask
from xbar_hw.workload.circulant import circulant_blocks, make_circulant
from xbar_hw.workload.data import Dataset
from xbar_hw.workload.models import build_model, save_model
from xbar_hw.xbar import build_network, convert_to_program
from xbar_hw.xbar.golden import CrossbarEngine, input_digits
from xbar_hw.xbar.layers import set_path

TINY = "designs/tiny.yaml"  # 16 x 16, 2-bit cells, 4-bit weights (s = 2, L = 4), v = 1, 5-bit ADC


def _levels(design, cols: dict) -> torch.Tensor:
    lv = torch.zeros(1, design.crossbar.rows, design.crossbar.cols, dtype=torch.uint8)
    for c, vals in cols.items():
        lv[0, : len(vals), c] = torch.tensor(vals, dtype=torch.uint8)
    return lv


def test_lossless_bits_by_hand():
    d = load_design(TINY)
    # column 3 holds levels 3 + 3 + 1 = 7, column 0 levels 2: S_max = 1 * 7 = 7 < 2^3
    assert lossless_adc_bits(_levels(d, {0: [2], 3: [3, 3, 1]}), d).tolist() == [3]
    # 2-bit digits: S_max = 3 * 7 = 21, which needs 5 bits
    d2 = d.replace(inputs={"dac_bits": 2})
    assert lossless_adc_bits(_levels(d2, {3: [3, 3, 1]}), d2).tolist() == [5]
    # S_max = 8 needs 4 bits (2^3 - 1 = 7 < 8 <= 15); an empty crossbar still has a 1-bit ADC
    assert lossless_adc_bits(torch.cat([_levels(d, {5: [3, 3, 2]}), _levels(d, {})]), d).tolist() == [4, 1]
    # the full crossbar: S_max = 16 rows * 3 = 48 -> 6 bits, the spec's S_max
    full = torch.full((1, 16, 16), 3, dtype=torch.uint8)
    assert lossless_adc_bits(full, d).tolist() == [d.s_max.bit_length()] == [6]


def test_budget_by_hand_and_unreachable_bits():
    d = load_design("designs/default.yaml")  # v = 1, 2-bit cells
    assert column_budget(6, d) == 63 and column_budget(2, d) == 3
    assert min_prunable_bits(d) == 2  # one level-3 cell: S = 3 needs 2 bits
    with pytest.raises(XbarError, match=r"^adc bits: got 1; allowed: at least 2"):
        column_budget(1, d)
    d2 = d.replace(inputs={"dac_bits": 2})  # digits up to 3: budget floor(63 / 3) = 21, one cell needs 9 -> 4 bits
    assert column_budget(6, d2) == 21 and min_prunable_bits(d2) == 4
    with pytest.raises(XbarError):
        column_budget(3, d2)
    with pytest.raises(XbarError):
        column_budget(2.0, d)


@pytest.mark.parametrize("bits", [2, 3, 4, 5])
def test_projection_meets_the_budget_and_keeps_the_largest(bits):
    d = load_design(TINY)  # weights in [-7, 7]: slices (|w| & 3, |w| >> 2)
    g = torch.Generator().manual_seed(bits)
    w = torch.randint(-7, 8, (40, 9), generator=g)  # 3 row blocks, 3 column blocks
    keep = column_keep(w, bits, d)
    kept = (w * keep).tolist()
    R, budget = d.crossbar.rows, ((1 << bits) - 1) // d.digit_max
    for r0 in range(0, 40, R):
        for j in range(9):
            for sign in (1, -1):
                group = [(abs(w[r, j].item()), r) for r in range(r0, min(r0 + R, 40)) if sign * w[r, j] > 0]
                kept_m = [m for m, r in group if kept[r][j] != 0]
                dropped = [m for m, r in group if kept[r][j] == 0]
                for k in range(2):  # each slice's column: the levels it keeps fit the budget
                    assert sum((m >> (2 * k)) & 3 for m in kept_m) <= budget
                if group:  # the largest weight always stays; nothing dropped is larger than what is kept
                    assert max(kept_m) == max(m for m, _ in group)
                    assert not dropped or max(dropped) <= min(kept_m)
    # the mapped levels need at most `bits` bits, computed from the levels by plain loops
    levels = map_layer(w * keep, d)
    for xb in levels.tolist():
        worst = max(sum(xb[r][c] for r in range(R)) for c in range(d.crossbar.cols)) * d.digit_max
        assert worst <= (1 << bits) - 1


def test_heterogeneous_bits_match_the_spec_per_crossbar():
    """Two row blocks and two column blocks at ADC bits (2, 6, 4, 3) and shifts (0, 0, 1, 0):
    the reference and the fast path equal the sum over row blocks of the spec's crossbar,
    each run at its own bits (some clip)."""
    d = load_design(TINY)
    g = torch.Generator().manual_seed(1)
    R, L = d.crossbar.rows, d.logical_cols
    w = torch.randint(-7, 8, (2 * R, 2 * L), generator=g)
    levels = map_layer(w, d)
    bits, shifts = torch.tensor([2, 6, 4, 3]), torch.tensor([0, 0, 1, 0])
    x = torch.randint(0, 16, (5, 2 * R), generator=g)
    eng = CrossbarEngine(levels, 2 * R, 2 * L, d, shifts, adc_bits=bits)
    ref = torch.zeros(5, 2 * L, dtype=torch.int64)
    for cb in range(2):
        for rb in range(2):
            xb = cb * 2 + rb
            p = ref_crossbar_mvm(levels[xb].tolist(), x[:, rb * R:(rb + 1) * R].tolist(), 4, 2, 4, 1,
                                 int(bits[xb]), a=int(shifts[xb]))
            ref[:, cb * L:(cb + 1) * L] += torch.tensor(p)
    slow = eng.forward(input_digits(x, d, eng.dtype))
    fast = eng.fast(eng.fast.columns_from_rows(x), 5).t()
    assert torch.equal(slow.round().to(torch.int64), ref) and torch.equal(fast.round().to(torch.int64), ref)
    # clipping really happened at the 2-bit crossbar: the design's 5 bits give another answer
    wide = CrossbarEngine(levels, 2 * R, 2 * L, d, shifts)
    assert not torch.equal(wide.forward(input_digits(x, d, wide.dtype)), slow)


def _random_data(n: int, seed: int) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 12, 12, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return Dataset("random", x, y, x[: n // 4], y[: n // 4], [str(i) for i in range(10)])


def test_pruned_program_is_lossless_and_crossbar_equals_folded(tmp_path):
    d = load_design("designs/default.yaml")  # 8-bit ADC at shift a0 = 1: lossy as designed
    model = build_model("mnist_cnn", seed=0, in_channels=1, num_classes=10, in_size=12, width=8)
    modules = mapped_modules(model)
    apply_masks(model, {n: tinyadc_mask(m, 5, d) for n, m in modules.items()})
    data = _random_data(64, 0)
    prog = convert_to_program(model, d, data.x_train, {"arch": "mnist_cnn", "kwargs": {
        "in_channels": 1, "num_classes": 10, "in_size": 12, "width": 8}}, adc_bits="lossless")
    prog.save(tmp_path / "p.safetensors")
    prog = Program.load(tmp_path / "p.safetensors", d)
    for lp in prog.layers.values():
        assert lp.adc_bits is not None and int(lp.adc_bits.max()) <= 5 and lp.adc_shift.eq(0).all()
        # independently: each crossbar's largest column sum (all digits at 1) fits its ADC
        for xb, lv in enumerate(lp.levels.tolist()):
            worst = max(sum(row[c] for row in lv) for c in range(d.crossbar.cols))
            assert worst <= (1 << int(lp.adc_bits[xb])) - 1
    net = build_network(prog)
    x = torch.rand(16, 1, 12, 12, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        set_path(net, "crossbar")
        a = net(x)
        set_path(net, "folded")
        b = net(x)
    assert torch.equal(a, b)


def test_old_program_runs_at_the_design_bits():
    d = load_design(TINY)
    prog = Program.load("tests/data/program_v1.safetensors", d)
    for lp in prog.layers.values():
        assert lp.adc_bits is None and lp.crossbar_adc_bits(d).eq(5).all()


def test_assign_keeps_design_bits_where_levels_need_more():
    d = load_design(TINY)  # 5-bit ADC, a0 = 1
    full = torch.full((1, 16, 16), 3, dtype=torch.uint8)  # needs 6 bits
    small = _levels(d, {0: [3, 3]})  # needs 3 bits
    bits, shifts = assign_adc_bits(torch.cat([full, small]), torch.tensor([1, 1]), d)
    assert bits.tolist() == [5, 3] and shifts.tolist() == [1, 0]


def test_prune_model_reaches_its_bits():
    d = load_design("designs/default.yaml")
    model = build_model("mnist_cnn", seed=0, in_channels=1, num_classes=10, in_size=12, width=8)
    doc = prune_model(model, d, _random_data(128, 1), 5, epochs=1, seed=0, device="cpu")
    assert all(b <= 5 for b in doc["lossless_bits"].values())
    # independently: the mapped levels of every crossbar column, summed in plain Python, times
    # the largest digit, fit 5 bits; and the zeros counted weight by weight
    prog = convert_to_program(model, d, _random_data(16, 2).x_train)
    for lp in prog.layers.values():
        for xbar in lp.levels.tolist():
            for c in range(d.crossbar.cols):
                assert sum(row[c] for row in xbar) * d.digit_max <= 2**5 - 1
    weights = [w for m in mapped_modules(model).values() for w in m.weight.flatten().tolist()]
    assert doc["sparsity"]["total"] == sum(w == 0 for w in weights) / len(weights) > 0


def test_prune_command_bad_bits(tmp_path, capsys):
    model = build_model("mnist_cnn", seed=0, in_channels=1, num_classes=10, in_size=12, width=4)
    save_model(model, "mnist_cnn", {"in_channels": 1, "num_classes": 10, "in_size": 12, "width": 4},
               tmp_path / "m.safetensors", {"data": "mnist5k"})
    for bits, words in (("1", "adc bits: got 1; allowed: at least 2"), ("9", "adc bits: got 9; allowed: at most"),
                        ("-3", "--adc-bits: got -3"), ("2.5", "--adc-bits: got '2.5'")):
        code = main(["prune", "--model", str(tmp_path / "m.safetensors"), "--design", "designs/default.yaml",
                     "--adc-bits", bits, "-o", str(tmp_path / "m2.safetensors")])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, (bits, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_hardware_report_prices_each_crossbar_at_its_bits():
    from xbar_hw.energy import design_report
    from xbar_hw.energy.adcbits import hardware_report

    d = load_design("designs/default.yaml")  # isaac-32nm: 8-bit ADC 1.67 pJ, 1200 um2; 6-bit 1.20 pJ, 627 um2
    model = build_model("mnist_cnn", seed=0, in_channels=1, num_classes=10, in_size=12, width=8)
    prog = convert_to_program(model, d, _random_data(32, 0).x_train)
    base, same = design_report(d), hardware_report(prog)  # no bits recorded: the design's own figures
    assert same["tile_power_mw"] == pytest.approx(base["tile_power_mw"], rel=1e-12)
    assert same["area_mm2"] == pytest.approx(base["area_mm2"], rel=1e-12)
    n_x = [lp.n_crossbars for lp in prog.layers.values()]  # 1, 1, 5 crossbars: 3 PEs of 8 slots
    for lp in prog.layers.values():
        lp.adc_bits = torch.full((lp.n_crossbars,), 6, dtype=torch.int64)
    rep = hardware_report(prog)
    slots6, slots8 = sum(n_x), 8 * len(n_x) - sum(n_x)
    ratio_e = (slots6 * 1.20 + slots8 * 1.67) / (8 * len(n_x) * 1.67)
    ratio_a = (slots6 * 627 + slots8 * 1200) / (8 * len(n_x) * 1200)
    assert rep["adc_power_mw"] == pytest.approx(base["tile_power_breakdown_mw"]["pe.adc"] * ratio_e, rel=1e-9)
    assert rep["adc_area_mm2"] == pytest.approx(base["adc_area_share"] * base["area_mm2"] * ratio_a, rel=1e-9)
    assert rep["tile_power_mw"] == pytest.approx(
        base["tile_power_mw"] - base["tile_power_breakdown_mw"]["pe.adc"] * (1 - ratio_e), rel=1e-9)
    assert rep["gops_per_w"] > rep["design_gops_per_w"] and rep["gops_per_s_mm2"] > rep["design_gops_per_s_mm2"]


def test_program_energy_prices_conversions_at_each_crossbars_bits():
    from xbar_hw.energy import program_report

    d = load_design("designs/default.yaml")
    model = build_model("mnist_cnn", seed=0, in_channels=1, num_classes=10, in_size=12, width=8)
    data = _random_data(32, 0)
    prog = convert_to_program(model, d, data.x_train)
    full = program_report(prog, data.x_test[:4])
    fc = prog.layers["fc"]
    fc.adc_bits = torch.full((fc.n_crossbars,), 6, dtype=torch.int64)  # only fc's crossbars at 6 bits
    part = program_report(prog, data.x_test[:4])
    conv_pj = {n: full["energy_by_layer_pj"][n] for n in ("conv1", "conv2")}
    assert {n: part["energy_by_layer_pj"][n] for n in conv_pj} == pytest.approx(conv_pj, rel=1e-12)
    # fc (144 inputs, 10 outputs): 2 row blocks, each converting T = 8 reads x 10 logical x 2s = 8 physical
    # columns per image; each conversion now costs 1.20 pJ instead of 1.67 pJ (isaac-32nm, 6 and 8 bits)
    drop = 2 * 8 * 10 * 8 * (1.67 - 1.20)
    assert full["energy_by_component_pj"]["adc"] - part["energy_by_component_pj"]["adc"] == pytest.approx(drop, rel=1e-9)
    assert full["energy_by_component_pj"]["crossbar"] == pytest.approx(part["energy_by_component_pj"]["crossbar"], rel=1e-12)


def test_per_layer_auto_bounds():
    """--per-layer auto with keep_mass 0 is the plain target; with keep_mass 1 no pruning
    keeps all the mass, so each layer keeps the bits its unpruned levels need (at most adc.bits)."""
    from xbar_hw.flows.prune import integer_weights, layer_bits

    d = load_design("designs/default.yaml")
    model = build_model("mnist_cnn", seed=0, in_channels=1, num_classes=10, in_size=12, width=8)
    need = {n: int(lossless_adc_bits(map_layer(integer_weights(m, d), d), d).max())
            for n, m in mapped_modules(model).items()}
    assert layer_bits(model, d, 4, "auto", keep_mass=0.0) == layer_bits(model, d, 4) == {n: min(4, b) for n, b in need.items()}
    assert layer_bits(model, d, 4, "auto", keep_mass=1.0) == {n: min(b, d.adc.bits) for n, b in need.items()}
    with pytest.raises(XbarError, match="per-layer"):
        layer_bits(model, d, 4, "every")


def test_lowest_bits_when_weights_are_narrower_than_cells():
    # 4-bit weights in 4-bit cells: one slice, and the largest weight 7 sits at level 7, not 15:
    # one such cell with 1-bit digits needs bitlen(7) = 3 bits, the budget of 3 bits is 7 levels
    d = load_design(TINY).replace(crossbar={"cell_bits": 4})
    assert (d.weight_max, d.cell_max, d.slices) == (7, 15, 1)
    assert min_prunable_bits(d) == 3 and column_budget(3, d) == 7
    w = torch.tensor([[7, -7], [3, 1], [2, -5]])  # column 0 (+): 7 + 3 + 2 = 12 > 7: keep 7 only
    assert column_keep(w, 3, d).tolist() == [[True, True], [False, True], [False, False]]


def test_a_layer_already_lossless_below_the_lowest_bits_is_kept_there(tmp_path):
    d = load_design("designs/default.yaml")
    model = build_model("mnist_cnn", seed=0, in_channels=1, num_classes=10, in_size=12, width=8)
    with torch.no_grad():
        model.fc.weight.zero_()  # lossless with 1 bit, below the 2 bits any projection keeps
    assert layer_bits(model, d, 5)["fc"] == min_prunable_bits(d) == 2
    doc = prune_model(model, d, _random_data(64, 1), 5, epochs=1, seed=0, device="cpu")
    assert doc["lossless_bits"]["fc"] <= 2 and all(b <= 5 for b in doc["lossless_bits"].values())


def test_prune_refuses_a_block_circulant_model(tmp_path, capsys):
    kwargs = {"in_channels": 1, "num_classes": 10, "in_size": 12, "width": 4}
    model = make_circulant(build_model("mnist_cnn", seed=0, **kwargs), 4)
    save_model(model, "mnist_cnn", kwargs, tmp_path / "m.safetensors",
               {"data": "mnist5k", "circulant": 4, "circulant_layers": sorted(circulant_blocks(model))})
    code = main(["prune", "--model", str(tmp_path / "m.safetensors"), "--design", "designs/default.yaml",
                 "--adc-bits", "5", "-o", str(tmp_path / "m2.safetensors")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: prune: layer ") and "is block-circulant (b = 4)" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "m2.safetensors").exists()


def test_demo_skips_tinyadc_where_no_pruning_reaches_the_design_bits(tmp_path):
    d = load_design("designs/lightning.yaml")  # one 8-bit DAC read of 7-bit cells, 8-bit ADC
    said = []
    doc = demo_prune(None, d, None, tmp_path, epochs=1, seed=0, progress=False, say=said.append)
    assert doc["min_prunable_bits"] == (255 * 127).bit_length() == 15 and doc["design_adc_bits"] == 8
    assert said[0].startswith("[4/8] TinyADC: skipped") and list(tmp_path.iterdir()) == []
