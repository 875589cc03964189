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
    noise, S = _noise_samples(d, prog, x)
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
