"""Non-ideal effects: SAF and its digital correction, noise statistics against the
physical formulas, programming variation, seeds, bad input."""

import math

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from xbar_hw import (
    XbarError,
    build_network,
    convert_to_program,
    design_from_dict,
    load_design,
    set_path,
)
from xbar_hw.xbar.analog import Chip, attach_chip
from xbar_hw.xbar.golden import CrossbarEngine

K_B, Q_E = 1.380649e-23, 1.602176634e-19

LOSSLESS = {"crossbar": {"rows": 16, "cols": 16, "cell_bits": 2}, "weights": {"bits": 6},
            "inputs": {"bits": 5, "dac_bits": 1}, "adc": {"bits": 6, "per_crossbar": 2}}


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 36, 5)).eval()


def _x(n=16):
    return torch.rand(n, 2, 6, 6, generator=torch.Generator().manual_seed(1))


def _program(design):
    return convert_to_program(_net(), design, _x(32))


def test_everything_off_is_the_golden_path():
    prog = _program(load_design("designs/tiny.yaml"))
    mapped = set_path(build_network(prog), "crossbar")
    ref = mapped(_x())
    attach_chip(mapped, Chip(prog, index=3))
    assert torch.equal(mapped(_x()), ref)


def test_saf_correction_is_exact_with_lossless_adc():
    d = design_from_dict({**LOSSLESS, "nonideal": {"saf": {"sa0": 0.1, "sa1": 0.1}}})
    assert d.lossless
    prog = _program(d)
    mapped = set_path(build_network(prog), "crossbar")
    clean = mapped(_x())
    chip = Chip(prog)
    assert sum(len(l.faults) for l in chip.layers.values()) > 50
    assert torch.equal(attach_chip(mapped, chip)(_x()), clean)
    uncorrected = Chip(prog, d.replace(nonideal={"saf": {"correct": False}}).nonideal)
    assert not torch.equal(attach_chip(mapped, uncorrected)(_x()), clean)


@pytest.mark.parametrize("state,sa0_level,sa1_level", [("on", 3, 0), ("off", 0, 3)])
def test_fault_rates_and_stuck_levels(state, sa0_level, sa1_level):
    d = design_from_dict({"crossbar": {"rows": 128, "cols": 128, "cell_bits": 2},
                          "nonideal": {"saf": {"sa0": 0.0175, "sa1": 0.0904, "sa0_state": state}}})
    prog = convert_to_program(nn.Sequential(nn.Linear(512, 64)), d, torch.rand(8, 512))
    lc = Chip(prog).layers["0"]
    n = prog.layers["0"].levels.numel()
    lv = lc.faults[:, 3]
    # with SA0 pinned at the top level and SA1 at 0, count by stuck level (binomial, 5 sigma)
    for rate, level in ((0.0175, sa0_level), (0.0904, sa1_level)):
        count = int((lv == level).sum())
        assert abs(count - rate * n) < 5 * math.sqrt(n * rate * (1 - rate)), (count, rate * n)
    idx = lc.faults[:, :3]
    assert torch.equal(lc.stored[idx[:, 0], idx[:, 1], idx[:, 2]].to(torch.int64), lv)
    healthy = torch.ones_like(lc.stored, dtype=torch.bool)
    healthy[idx[:, 0], idx[:, 1], idx[:, 2]] = False
    assert torch.equal(lc.stored[healthy], prog.layers["0"].levels[healthy])


def test_fault_table_profiled_into_program(tmp_path):
    from xbar_hw import Program

    d = load_design("designs/tiny.yaml").replace(nonideal={"saf": {"sa0": 0.05, "sa1": 0.05}})
    prog = _program(d)
    chip = Chip(prog)
    chip.profile(prog)
    prog.save(tmp_path / "p.safetensors")
    again = Program.load(tmp_path / "p.safetensors")
    for name, lc in chip.layers.items():
        assert torch.equal(again.layers[name].faults, lc.faults)


def test_fault_map_file(tmp_path):
    d = load_design("designs/tiny.yaml")
    prog = _program(d)
    maps = {n: torch.zeros(lp.levels.shape, dtype=torch.int8) for n, lp in prog.layers.items()}
    maps["0"][0, 0, 0] = 1   # first row, first column: SA0
    maps["0"][-1, -1, -1] = 2  # last row, last column: SA1
    save_file(maps, str(tmp_path / "map.safetensors"))
    nd = d.replace(nonideal={"saf": {"map": str(tmp_path / "map.safetensors")}}).nonideal
    lc = Chip(prog, nd).layers["0"]
    n = prog.layers["0"].n_crossbars
    assert lc.faults.tolist() == [[0, 0, 0, 3], [n - 1, 15, 15, 0]]
    maps["0"] = maps["0"][:, :8].contiguous()
    save_file(maps, str(tmp_path / "bad.safetensors"))
    nd = d.replace(nonideal={"saf": {"map": str(tmp_path / "bad.safetensors")}}).nonideal
    with pytest.raises(XbarError, match=r"nonideal.saf.map: layer '0' has shape"):
        Chip(prog, nd)


def _one_crossbar(noise, f=1e9, v_read=0.2, rows=64):
    d = design_from_dict({"crossbar": {"rows": rows, "cols": 8, "cell_bits": 2}, "weights": {"bits": 3},
                          "inputs": {"bits": 1, "dac_bits": 1}, "adc": {"bits": 12, "per_crossbar": 1},
                          "device": {"read_frequency": f, "v_read": v_read},
                          "nonideal": {"noise": noise}})
    g = torch.Generator().manual_seed(0)
    w = torch.randint(-3, 4, (rows, 4), generator=g)
    prog = convert_to_program(nn.Sequential(nn.Linear(rows, 4, bias=False)), d, torch.rand(4, rows))
    from xbar_hw.core.mapping import map_layer
    prog.layers["0"].levels = map_layer(w, d)
    return d, prog


def _noise_samples(d, prog, x_digits, chip_index=0):
    chip = Chip(prog, index=chip_index)
    lp = prog.layers["0"]
    eng = CrossbarEngine(lp.levels, lp.k_in, lp.n_out, d, 0, chip.layers["0"], chip.read_noise())
    S = torch.mm(x_digits, eng.planes_t)
    return eng._read_noise(S, x_digits, 0), S


@pytest.mark.parametrize("kind", ["thermal", "shot"])
def test_noise_variance_matches_formula(kind):
    d, prog = _one_crossbar({kind: True})
    x = torch.ones(20000, 64)  # every row driven
    noise, _ = _noise_samples(d, prog, x)
    dG = (d.device.g_on - d.device.g_off) / 3
    v = d.device.v_read
    lv = prog.layers["0"].levels[0].double()[:, :8]
    G = d.device.g_off + lv * dG  # [R, 8]; the reference column is all g_off
    f = d.device.read_frequency
    if kind == "thermal":  # 4 k T G df over the column's and the reference's cells
        var_i = 4 * K_B * 300 * f * (G.sum(0) + 64 * d.device.g_off)
    else:  # 2 q I df, I = column current + reference current
        var_i = 2 * Q_E * f * v * (G.sum(0) + 64 * d.device.g_off)
    expected = var_i / (dG * v) ** 2
    measured = noise.double().var(0)
    assert torch.allclose(measured, expected, rtol=0.05), (measured, expected)
    assert noise.double().mean(0).abs().max() < 5 * expected.sqrt().max() / math.sqrt(20000)


def test_rtn_variance_matches_two_state_cells():
    nz = {"rtn": True, "rtn_probability": 0.3}
    d, prog = _one_crossbar(nz)
    x = torch.ones(20000, 64)
    noise, _ = _noise_samples(d, prog, x)
    dG = (d.device.g_on - d.device.g_off) / 3
    G = torch.cat([d.device.g_off + prog.layers["0"].levels[0].double()[:, :8] * dG,
                   torch.full((64, 1), d.device.g_off, dtype=torch.float64)], 1)
    ab = 0.0015 * G + 1.662e-7
    dg = G * ab / (G - ab)
    cell = 0.3 * 0.7 * (dg / dG) ** 2
    expected = cell[:, :8].sum(0) + cell[:, 8].sum()
    assert torch.allclose(noise.double().var(0), expected, rtol=0.05)


def test_noise_is_per_sample_per_read_and_batch_size_independent():
    d, prog = _one_crossbar({"thermal": True, "shot": True})
    x = torch.ones(4000, 64)
    big, _ = _noise_samples(d, prog, x)
    small = torch.cat([_noise_samples(d, prog, x[:1], chip_index=i)[0] for i in range(400)])
    assert big.std(0).sub(small.std(0)).abs().div(big.std(0)).max() < 0.15
    assert big[0].ne(big[1]).all()  # two samples (or reads) of one batch: different draws


def test_noise_reaches_the_output_and_seeds_reproduce():
    d = load_design("designs/pytorx.yaml").replace(nonideal={"noise": {"thermal": True, "shot": True, "rtn": True}},
                                                   device={"read_frequency": 1e9})
    prog = _program(d)
    mapped = build_network(prog)
    a = attach_chip(mapped, Chip(prog, d, index=0))(_x())
    b = attach_chip(mapped, Chip(prog, d, index=0))(_x())
    c = attach_chip(mapped, Chip(prog, d, index=1))(_x())
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_programming_variation_in_level_units():
    d = load_design("designs/default.yaml").replace(nonideal={"variation": {"sigma": 0.25}})
    prog = convert_to_program(nn.Sequential(nn.Linear(512, 64)), d, torch.rand(8, 512))
    lc = Chip(prog).layers["0"]
    dev = (lc.w_eff - prog.layers["0"].levels.double())
    # column minus reference column: both varied, so sigma * sqrt(2)
    assert dev.std().item() == pytest.approx(0.25 * math.sqrt(2), rel=0.03)
    assert abs(dev.mean().item()) < 0.01


@pytest.mark.parametrize("block,field", [
    ({"nonideal": {"saf": {"sa0": 1.2}}}, "nonideal.saf.sa0"),
    ({"nonideal": {"saf": {"sa1": -0.1}}}, "nonideal.saf.sa1"),
    ({"nonideal": {"saf": {"sa0": 0.6, "sa1": 0.5}}}, "nonideal.saf.sa1"),
    ({"nonideal": {"ir_drop": {"r_row": -1.0}}}, "nonideal.ir_drop.r_row"),
    ({"nonideal": {"ir_drop": {"r_sense": float("nan")}}}, "nonideal.ir_drop.r_sense"),
    ({"nonideal": {"ir_drop": {"r_col": float("inf")}}}, "nonideal.ir_drop.r_col"),
    ({"device": {"read_frequency": 0.0}}, "device.read_frequency"),
    ({"nonideal": {"noise": {"rtn_probability": 2}}}, "nonideal.noise.rtn_probability"),
    ({"nonideal": {"variation": {"sigma": -0.5}}}, "nonideal.variation.sigma"),
])
def test_bad_nonideal_input_names_the_field(block, field):
    with pytest.raises(XbarError) as ei:
        load_design("designs/default.yaml").replace(**block)
    msg = str(ei.value)
    assert msg.startswith(field + ":") and "allowed" in msg and "\n" not in msg


def test_cli_evaluate_chips_json(tmp_path, capsys):
    import json

    from xbar_hw import cli
    from xbar_hw.workload.models import (
        build_model,  # a zoo model, so that the CLI can rebuild it
    )

    model = build_model("mnist_cnn", seed=0, in_size=8, width=4)
    prog = convert_to_program(model, load_design("designs/tiny.yaml"), torch.rand(16, 1, 8, 8),
                              {"arch": "mnist_cnn", "kwargs": {"in_size": 8, "width": 4}}, {"data": "digits"})
    prog.save(tmp_path / "p.safetensors")
    rc = cli.main(["evaluate", "--program", str(tmp_path / "p.safetensors"), "--sa0", "0.05", "--sa1", "0.05",
                   "--chips", "3", "--limit", "60", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["chips"] == 3 and len(doc["chip_accs"]) == 3
    assert doc["nonideal"]["saf"]["sa0"] == 0.05
    assert doc["chip_acc_std"] == pytest.approx(__import__("statistics").stdev(doc["chip_accs"]))
    assert cli.main(["evaluate", "--program", str(tmp_path / "p.safetensors"), "--sa0", "0.6", "--sa1", "0.6"]) == 2
    assert "nonideal.saf.sa1" in capsys.readouterr().err


def test_cli_irdrop_writes_netlist_and_json(tmp_path, capsys):
    import json

    from xbar_hw import cli
    from xbar_hw.xbar import irdrop

    rc = cli.main(["irdrop", "--rows", "6", "--cols", "5", "--r-wire", "3", "--netlist", str(tmp_path / "x.cir"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and (tmp_path / "x.cir").is_file()
    text = (tmp_path / "x.cir").read_text()
    assert text.lower().count("vsense") >= 5
    # the JSON currents are those of a direct solve of the same crossbar
    d = load_design("designs/default.yaml")
    g = torch.Generator().manual_seed(0)
    G = d.device.g_off + torch.randint(0, 4, (6, 5), generator=g).double() * (d.device.g_on - d.device.g_off) / 3
    direct = irdrop.column_currents(G, torch.full((6,), d.device.v_read, dtype=torch.float64), 3, 3, 4, 4)
    assert torch.allclose(torch.tensor(doc["current_a"], dtype=torch.float64), direct, rtol=1e-9)
    assert 0 < doc["current_drop_mean"] < 1
    assert cli.main(["irdrop", "--r-wire", "-1"]) == 2


def test_nia_statistics_without_wire_resistance_are_exact_ones():
    from xbar_hw.xbar.nia import irdrop_statistics

    d = load_design("designs/tiny.yaml").replace(
        nonideal={"ir_drop": {"enabled": True, "r_row": 0, "r_col": 0, "r_source": 0, "r_sense": 0}})
    prog = _program(d)
    for mu, sigma in irdrop_statistics(prog, d, _x(8)).values():
        assert torch.allclose(mu, torch.ones_like(mu)) and torch.allclose(sigma, torch.zeros_like(sigma), atol=1e-6)
    # with resistance, sums fall: mu below 1 on average and for most channels (a channel
    # with no signal keeps mu = 1; ADC rounding can lift a small sum)
    d2 = d.replace(nonideal={"ir_drop": {"r_row": 50, "r_col": 50, "r_source": 10, "r_sense": 10}})
    stats = irdrop_statistics(_program(d2), d2, _x(8))
    for mu, sigma in stats.values():
        assert float(mu.mean()) < 0.95 and float((mu < 1).float().mean()) >= 0.8 and bool((sigma > 0).any())


def test_nia_injection_hook_moments():
    from xbar_hw.xbar.nia import _Inject

    lin = nn.Linear(3, 2)
    mu, sigma = torch.tensor([0.5, 0.8]), torch.tensor([0.1, 0.3])
    lin.register_forward_hook(_Inject(mu, sigma, torch.Generator().manual_seed(0)))
    x = torch.ones(40000, 3)
    clean = (x @ lin.weight.t()).detach()  # pre-bias output, the same for every row
    lin.train()
    out = (lin(x) - lin.bias).detach()
    assert torch.allclose(out.mean(0), clean[0] * mu, rtol=0.02)
    assert torch.allclose(out.std(0), (clean[0] * sigma).abs(), rtol=0.03)
    lin.eval()  # no injection at inference
    assert torch.equal(lin(x) - lin.bias, x @ lin.weight.t())


@pytest.mark.slow
def test_nia_recovers_accuracy_under_ir_drop():
    from xbar_hw.workload.data import uci_digits
    from xbar_hw.workload.models import build_model
    from xbar_hw.workload.train import accuracy, train
    from xbar_hw.xbar.nia import irdrop_statistics, nia_train

    data = uci_digits(0)
    model = train(build_model("mnist_cnn", seed=0, in_size=8, width=8), data, epochs=15, seed=0, progress=False)
    d = load_design("designs/default.yaml").replace(crossbar={"rows": 64, "cols": 64},
                                                    nonideal={"ir_drop": {"enabled": True, "r_row": 28, "r_col": 28}})
    prog = convert_to_program(model, d, data.x_train[:256])
    before = accuracy(attach_chip(build_network(prog), Chip(prog)), data.x_test, data.y_test)
    stats = irdrop_statistics(prog, d, data.x_train[:256])
    nia = nia_train(model, stats, data, epochs=5, seed=0, progress=False)
    prog2 = convert_to_program(nia, d, data.x_train[:256])
    after = accuracy(attach_chip(build_network(prog2), Chip(prog2)), data.x_test, data.y_test)
    assert after > before + 0.05, (before, after)


def test_chip_design_overrides_read_frequency():
    """A chip made from another design (same mapping) reads at that design's frequency."""
    d, prog = _one_crossbar({"thermal": True, "shot": True}, f=1e7)
    fast = d.replace(device={"read_frequency": 1e9})
    slow_chip, fast_chip = Chip(prog), Chip(prog, fast)
    fast, slow = fast_chip.layers["0"], slow_chip.layers["0"]
    assert fast.read_term("shot").per_s == pytest.approx(100 * slow.read_term("shot").per_s)
    assert torch.allclose(fast.read_term("thermal").column, 100 * slow.read_term("thermal").column)
    other = d.replace(crossbar={"rows": 32})
    with pytest.raises(XbarError, match="mapped for design"):
        Chip(prog, other)


def test_saf_correction_exact_under_column_masks():
    """Order ADC -> shift-add -> SAF correction -> mask: with a lossless ADC, a masked faulty
    chip with correction equals the masked fault-free crossbars."""
    from xbar_hw.xbar.layers import set_column_masks

    d = design_from_dict({**LOSSLESS, "nonideal": {"saf": {"sa0": 0.1, "sa1": 0.1}},
                          "mask": {"bits": 2, "exponents": [-1, 0, 2]}})
    prog = _program(d)
    g = torch.Generator().manual_seed(3)
    masks = {n: torch.randint(0, 4, (lp.n_crossbars, d.logical_cols), generator=g) for n, lp in prog.layers.items()}
    mapped = set_column_masks(set_path(build_network(prog), "crossbar"), masks)
    clean = mapped(_x())
    assert torch.equal(attach_chip(mapped, Chip(prog))(_x()), clean)


# ------------------------------------------------------------------ effect units, one by one
# Each unit alone on one 4 x 8 crossbar (2 slices per polarity, 2 logical columns) against
# the physics written out cell by cell in plain Python.

def _unit_crossbar(nonideal):
    d = design_from_dict({"crossbar": {"rows": 4, "cols": 8, "cell_bits": 2}, "weights": {"bits": 5},
                          "inputs": {"bits": 2, "dac_bits": 2}, "adc": {"bits": 8, "per_crossbar": 1},
                          "device": {"read_frequency": 1e8}, "nonideal": nonideal})
    from xbar_hw.core.mapping import map_layer

    prog = convert_to_program(nn.Sequential(nn.Linear(4, 2, bias=False)), d, torch.rand(4, 4))
    prog.layers["0"].levels = map_layer(torch.randint(-15, 16, (4, 2), generator=torch.Generator().manual_seed(2)), d)
    return d, prog


def _apply(d, prog, units, seed=5):
    from xbar_hw.xbar.effects import LayerCells

    cells = LayerCells("0", prog.layers["0"], d, torch.Generator().manual_seed(seed), None)
    for u in units:
        u.apply(cells)
    return cells.finish()


def _conductances(d, lv):
    """G (S) of each cell of [R, C + 1] programmed levels (the reference column last)."""
    dG = (d.device.g_on - d.device.g_off) / d.cell_max
    return [[d.device.g_off + float(v) * dG for v in row] for row in lv]


@pytest.mark.parametrize("state", ["on", "off"])
def test_saf_unit_pins_cells_and_corrects_digitally(state):
    from xbar_hw.xbar.effects import StuckAtFaults

    d, prog = _unit_crossbar({"saf": {"sa0": 0.3, "sa1": 0.3, "sa0_state": state}})
    levels = prog.layers["0"].levels
    lc = _apply(d, prog, [StuckAtFaults(d.nonideal.saf, d)])
    u = torch.rand(levels.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    stored, faults = levels.clone(), []
    for r in range(4):
        for c in range(8):
            v = float(u[0, r, c])
            if v < 0.6:  # SA0 below 0.3, SA1 below 0.3 + 0.3
                level = 3 if (v < 0.3) == (state == "on") else 0
                stored[0, r, c] = level
                faults.append([0, r, c, level])
    assert torch.equal(lc.stored, stored) and lc.faults.tolist() == faults
    assert lc.w_eff is None and lc.reads == ()

    def weight(lv, k, n):  # column n*2s + pol*s + j holds slice j of polarity pol
        return sum((int(lv[0, k, 4 * n + j]) - int(lv[0, k, 4 * n + 2 + j])) * 4**j for j in range(2))

    assert lc.correction.tolist() == [[weight(levels, k, n) - weight(stored, k, n) for n in range(2)] for k in range(4)]


def test_variation_unit_draws_one_normal_per_written_cell():
    from xbar_hw.xbar.effects import ProgrammingVariation, StuckAtFaults

    d, prog = _unit_crossbar({"saf": {"sa0": 0.2, "sa1": 0.2}, "variation": {"sigma": 0.4}})
    lc = _apply(d, prog, [StuckAtFaults(d.nonideal.saf, d), ProgrammingVariation(d.nonideal.variation, d)], seed=9)
    gen = torch.Generator().manual_seed(9)
    u = torch.rand(1, 4, 8, generator=gen, dtype=torch.float64)  # the fault codes come first
    z = torch.randn(1, 4, 9, generator=gen, dtype=torch.float64)
    for r in range(4):
        ref = 0.0 + 0.4 * float(z[0, r, 8])  # the reference cell (level 0) varies too
        for c in range(8):
            stuck = float(u[0, r, c]) < 0.4
            lv = float(lc.stored[0, r, c]) + (0.0 if stuck else 0.4 * float(z[0, r, c]))
            assert float(lc.w_eff[0, r, c]) == pytest.approx(lv - ref, abs=1e-12)


def test_irdrop_unit_is_the_nodal_solve_in_level_units():
    from xbar_hw.xbar.effects import IrDrop
    from xbar_hw.xbar.irdrop import column_currents

    d, prog = _unit_crossbar({"ir_drop": {"enabled": True, "r_row": 30.0, "r_col": 20.0}})
    ir = d.nonideal.ir_drop
    lc = _apply(d, prog, [IrDrop(ir, d)])
    lv = torch.cat([prog.layers["0"].levels[0].double(), torch.zeros(4, 1, dtype=torch.float64)], 1)
    G = torch.tensor(_conductances(d, lv), dtype=torch.float64)
    # row r alone at 1 V gives row r of G_eff: currents through each column's sense resistor
    g_eff = column_currents(G, torch.eye(4, dtype=torch.float64), ir.r_row, ir.r_col, ir.r_source, ir.r_sense)
    dG = (d.device.g_on - d.device.g_off) / 3
    expected = (g_eff[:, :8] - g_eff[:, 8:]) / dG
    assert torch.allclose(lc.w_eff[0], expected, rtol=0, atol=1e-8)
    top = lv[:, :8] == 3
    assert bool((lc.w_eff[0][top] < 3).all())  # a cell at the top level loses current to the wires


def test_thermal_unit_is_4kT_df_sum_G():
    from xbar_hw.xbar.effects import ThermalNoise

    d, prog = _unit_crossbar({"noise": {"thermal": True}})
    term = _apply(d, prog, [ThermalNoise(d.nonideal.noise, d)]).read_term("thermal")
    lv = [[float(v) for v in row] + [0.0] for row in prog.layers["0"].levels[0]]
    G = _conductances(d, lv)
    dG = (d.device.g_on - d.device.g_off) / 3
    v_unit = d.device.v_read / 3  # 2-bit DAC: 3 digit steps
    for c in range(8):
        var_i = 4 * K_B * 300 * 1e8 * (sum(G[r][c] for r in range(4)) + sum(G[r][8] for r in range(4)))
        assert float(term.column[0, c]) == pytest.approx(var_i / (dG * v_unit) ** 2, rel=1e-12)
    assert term.cell is None and term.per_s == term.per_digit == 0


def test_shot_unit_is_2qI_df():
    from xbar_hw.xbar.effects import ShotNoise

    d, prog = _unit_crossbar({"noise": {"shot": True}})
    term = _apply(d, prog, [ShotNoise(d.nonideal.noise, d)]).read_term("shot")
    dG = (d.device.g_on - d.device.g_off) / 3
    v_unit = d.device.v_read / 3
    for S, digits in ((0.0, 0), (7.0, 3), (25.5, 9)):
        current = v_unit * (dG * S + 2 * d.device.g_off * digits)  # column + reference, ideal wires
        assert term.per_s * S + term.per_digit * digits == pytest.approx(2 * Q_E * 1e8 * current / (dG * v_unit) ** 2,
                                                                         rel=1e-12)


def test_rtn_unit_is_the_two_state_cell():
    from xbar_hw.xbar.effects import TelegraphNoise

    d, prog = _unit_crossbar({"noise": {"rtn": True, "rtn_probability": 0.3}})
    lc = _apply(d, prog, [TelegraphNoise(d.nonideal.noise, d)])
    term = lc.read_term("rtn")
    lv = [[float(v) for v in row] + [0.0] for row in prog.layers["0"].levels[0]]
    G = _conductances(d, lv)
    dG = (d.device.g_on - d.device.g_off) / 3

    def shift(g):  # PytorX's fit: dG_rtn = G (bG + a) / (G - (bG + a)), zero where G <= bG + a
        ab = 0.0015 * g + 1.662e-7
        return max(0.0, g * ab / (g - ab))

    for r in range(4):
        ref = shift(G[r][8])
        for c in range(8):
            cell = shift(G[r][c])
            assert float(lc.w_eff[0, r, c]) == pytest.approx(lv[r][c] + 0.3 * (cell - ref) / dG, rel=1e-12)
            assert float(term.cell[0, r, c]) == pytest.approx(0.3 * 0.7 * (cell**2 + ref**2) / dG**2, rel=1e-12)


def test_registry_applies_units_in_the_documented_order(monkeypatch):
    from xbar_hw.core.nonideal import NonidealSpec, VariationSpec
    from xbar_hw.xbar import effects

    order = ["saf", "variation", "ir_drop", "thermal", "shot", "rtn"]
    assert [cls.name for cls in effects.EFFECTS] == order
    stages = [effects.STAGES.index(cls.stage) for cls in effects.EFFECTS]
    assert stages == sorted(stages)  # program, then wire, then read
    calls = []
    for cls in effects.EFFECTS:
        def spy(self, cells, apply=cls.apply):
            calls.append((cells.name, self.name))
            apply(self, cells)
        monkeypatch.setattr(cls, "apply", spy)
    d = load_design("designs/tiny.yaml").replace(nonideal={
        "saf": {"sa0": 0.05, "sa1": 0.05}, "variation": {"sigma": 0.1}, "ir_drop": {"enabled": True},
        "noise": {"thermal": True, "shot": True, "rtn": True}})
    prog = _program(d)
    chip = Chip(prog)
    assert [u.name for u in chip.effects] == order
    # one loop: layer by layer, every unit in registry order (the draws follow it)
    assert calls == [(layer, name) for layer in prog.layers for name in order]
    assert [t.effect for t in chip.layers["0"].reads] == ["thermal", "shot", "rtn"]
    # only the active units are built
    assert [u.name for u in Chip(prog, NonidealSpec(variation=VariationSpec(0.1))).effects] == ["variation"]
    assert Chip(prog, NonidealSpec()).effects == [] and Chip(prog, NonidealSpec()).read_noise() is None


def test_a_new_effect_is_one_class_and_one_registry_line(monkeypatch):
    """A read-noise unit added to the registry reaches the engine's draws with no other change."""
    from xbar_hw.xbar import effects

    class Flat(effects.Effect):  # a column variance of 4 level units^2 on every read
        name, block, stage = "flat", "noise", "read"

        @classmethod
        def active(cls, config):
            return True

        def apply(self, cells):
            cells.reads.append(effects.ReadTerm(self.name, column=torch.full((cells.levels.shape[0], cells.cols), 4.0)))

    monkeypatch.setattr(effects, "EFFECTS", effects.EFFECTS + (Flat,))
    d, prog = _one_crossbar({})
    assert [u.name for u in Chip(prog).effects] == ["flat"]
    noise, _ = _noise_samples(d, prog, torch.ones(20000, 64))
    assert torch.allclose(noise.double().var(0), torch.full((8,), 4.0, dtype=torch.float64), rtol=0.05)
