"""The cost model: ISAAC's published tile, power from events x energies, event counts
against hand counts, tables and overrides, endurance, the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml

from xbar_hw.cli import main
from xbar_hw.core.design import design_from_dict, load_design
from xbar_hw.core.errors import XbarError
from xbar_hw.core.program import Program
from xbar_hw.core.switch import TaskEntry
from xbar_hw.energy import design_report, load_table, program_report, technology
from xbar_hw.energy.endurance import schedule_writes
from xbar_hw.energy.events import program_events
from xbar_hw.energy.report import m_for_ratio
from xbar_hw.energy.technology import parse_table
from xbar_hw.xbar.convert import convert_to_program


def test_isaac_tile_power_and_adc_share_within_5_percent():
    """ISAAC (ISCA 2016): 330 mW per tile, ADCs 58% of it. The estimate comes from
    per-event energies x the event rates of the cycle model, not from published powers
    (only the router, sigmoid, max-pool and tile registers are static)."""
    r = design_report(load_design("designs/isaac.yaml"))
    assert abs(r["tile_power_mw"] - 330.0) / 330.0 <= 0.05, r["tile_power_mw"]
    assert abs(r["adc_share"] - 0.58) / 0.58 <= 0.05, r["adc_share"]
    static = sum(load_table("isaac-32nm").values["static_mw"].values())
    assert static < 0.05 * r["tile_power_mw"]  # the estimate is not carried by static powers


def test_pe_power_is_events_times_energies_over_time():
    """The spec's counts written out for the tiny design (16x16, 2-bit cells, 4-bit weights:
    s = 2, L = 4; 4-bit inputs, 1-bit DAC: T = 4; 4 ADCs per crossbar; 4 crossbars)."""
    d = load_design("designs/tiny.yaml")
    t = load_table("isaac-32nm").values
    T, R, s2, L, n, A = 4, 16, 4, 4, 4, 4
    conv = T * s2 * L * n  # every physical column of every crossbar, every read
    pj = (conv * (t["events"]["adc_conversion_pj"][5] + t["events"]["sample_hold_pj"] + t["events"]["shift_add_pj"]
                  + t["events"]["output_register_pj"])
          + T * R * n * (t["events"]["dac_drive_pj"] + t["events"]["input_register_pj"])
          + T * R * n * s2 * L * t["events"]["cell_read_pj"])
    # settle = ceil(tile.clock_hz 4e7 / device.read_frequency 1e7) = 4 cycles per read;
    # conv = ceil(s2 * L / A) = ceil(16 / 4) = 4 conversion cycles per read
    settle, conv = 4, math.ceil(s2 * L / A)
    # input + finish, one output beat per crossbar, the first settle, T-1 more reads at
    # max(settle, conv), the last read's conversions: 2 + 4 + 4 + 3 * 4 + 4 = 26
    cycles = 2 + n + settle + (T - 1) * max(settle, conv) + conv
    r = design_report(d)
    assert r["cycles_per_mvm"] == cycles
    assert r["pe_power_mw"] == pytest.approx(pj * 1e-12 / (cycles / 4e7) * 1e3, rel=1e-12)


def _linear_program(design):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 6))
    return convert_to_program(model, design, torch.rand(32, 20), None)


def test_events_gating_and_data_dependent_drives_by_hand():
    d = load_design("designs/tiny.yaml")
    prog = _linear_program(d)
    lp = prog.layers["0"]
    assert lp.grid(d) == (2, 2)  # rows 20 -> 16 + 4; outputs 6 -> 4 + 2
    x = torch.rand(3, 20)
    base = program_events(prog, x)[0]
    codes = torch.full((4, 4), 2, dtype=torch.uint8)
    codes[0, 1] = 0  # crossbar 0 (rb 0, cb 0): logical column 1 gated
    codes[3, 0] = 0  # crossbar 3 (rb 1, cb 1): logical column 0 gated
    masked = program_events(prog, x, {"0": codes})[0]
    T, s2 = 4, 4
    assert base.mvms == masked.mvms == 3
    assert base.totals()["adc"] - masked.totals()["adc"] == 2 * T * s2 * 3
    # logical columns in use: crossbars 0, 1 hold 4 outputs, 2, 3 hold 2; minus the 2 gated
    assert masked.totals()["mask"] == (4 + 4 + 2 + 2 - 2) * 3 and base.totals()["mask"] == 0
    # row drives with a non-zero digit, counted by hand from the quantized inputs
    lo, hi = d.input_range
    xi = torch.clamp(torch.round(x / lp.x_scale), lo, hi).to(torch.int64).tolist()
    drives = {0: 0, 1: 0}
    for row in xi:
        for r, v in enumerate(row):
            for t in range(T):
                drives[r // 16] += (v >> t) & 1
    per = base.crossbar_events
    assert per[0]["dac"] == drives[0] and per[1]["dac"] == drives[1]  # crossbar cb * 2 + rb
    assert per[2]["dac"] == drives[0] and per[3]["dac"] == drives[1]
    assert per[1]["cell"] == drives[1] * s2 * 4 and per[3]["cell"] == drives[1] * s2 * 2


def test_program_energy_is_sum_of_layers_and_components():
    d = load_design("designs/tiny.yaml")
    prog = _linear_program(d)
    r = program_report(prog, torch.rand(5, 20))
    assert r["energy_per_inference_pj"] == pytest.approx(sum(r["energy_by_layer_pj"].values()))
    assert r["energy_per_inference_pj"] == pytest.approx(sum(r["energy_by_component_pj"].values()))
    assert r["images"] == 5 and r["mvms_by_layer"]["0"] == 1.0
    # one tile holds the Program: the chip is one tile's area; one image per latency
    assert r["tiles"] == 1 and r["chip_area_mm2"] == pytest.approx(design_report(d)["area_mm2"])
    assert r["inferences_per_s"] == pytest.approx(d.tile.clock_hz / r["cycles_per_inference"])


def _table():
    import importlib.resources as res

    return yaml.safe_load(res.files("xbar_hw.energy").joinpath("tables", "isaac-32nm.yaml").read_text())


def test_bad_tables_name_the_entry(tmp_path):
    t = _table()
    del t["events"]["dac_drive_pj"]
    with pytest.raises(XbarError, match=r"entry events.dac_drive_pj is missing"):
        parse_table(t, "x.yaml")
    t = _table()
    t["device"]["write_pj_per_pulse"]["value"] = -0.6
    with pytest.raises(XbarError, match=r"device.write_pj_per_pulse: got -0.6; allowed: a finite number >= 0"):
        parse_table(t, "x.yaml")
    t = _table()
    t["area_um2"]["flux_capacitor"] = {"value": 1.0, "source": "?"}
    with pytest.raises(XbarError, match=r"unknown component area_um2.flux_capacitor"):
        parse_table(t, "x.yaml")
    t = _table()
    t["events"]["cell_read_pj"]["source"] = ""
    with pytest.raises(XbarError, match=r"entry events.cell_read_pj has no source"):
        parse_table(t, "x.yaml")
    path = tmp_path / "mine.yaml"
    t = _table()
    t["events"]["adc_conversion_pj"]["by_bits"][5] = 2.0
    path.write_text(yaml.safe_dump(t))
    d = design_from_dict({**load_design("designs/tiny.yaml").to_dict(), "technology": str(path)})
    assert technology(d).by_bits("events", "adc_conversion_pj", 5) == 2.0
    with pytest.raises(XbarError, match=r"technology_overrides: unknown entry 'device.nope'"):
        technology(d.replace(technology_overrides={"device.nope": 1.0}))
    d2 = load_design("designs/tiny.yaml").replace(technology_overrides={"device.write_pj_per_pulse": 3.2,
                                                                        "events.adc_conversion_pj.5": 0.5})
    tech = technology(d2)
    assert tech.get("device", "write_pj_per_pulse") == 3.2 and tech.by_bits("events", "adc_conversion_pj", 5) == 0.5


def test_endurance_by_hand():
    """Task A rewrites crossbar 1, task B crossbars 1 and 2: over the round base -> A -> B ->
    base, crossbar 1's changed cells are written 3 times, crossbar 2's twice."""
    d = load_design("designs/tiny.yaml")
    model = torch.nn.Sequential(torch.nn.Linear(20, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    prog = convert_to_program(model, d, torch.rand(32, 20), None)
    lp = prog.layers["0"]
    head = prog.layers["2"]

    def entry(name, idx):
        lv = lp.levels[idx].clone()
        lv[:, :, 0] = (lv[:, :, 0] + 1) % 4  # every row of physical column 0 changes
        return TaskEntry(name, "hand", head, ["a", "b", "c"], levels={"0": (torch.tensor(idx), lv)})

    prog.tasks = {"A": entry("A", [1]), "B": entry("B", [1, 2])}
    r = schedule_writes(prog, [None, "A", "B"])
    assert r["cells_per_switch"] == [16, 16, 32]  # base->A: xb 1; A->B: xb 2 (xb 1 same); B->base: both
    assert r["max_writes_per_cell_per_round"] == 2
    assert r["switches_to_endurance"] == pytest.approx(1e6 / 2 * 3)
    assert r["switch_energy_pj"][0] == pytest.approx(16 * 20 * 0.6)  # cells x pulses x pJ per pulse


def test_m_for_ratio():
    # (100 + M) / (0 + M * 1) = 4.3 -> M = 100 / 3.3
    assert m_for_ratio(100, 1, 0, 1, 4.3) == pytest.approx(100 / 3.3)
    assert m_for_ratio(0, 1, 0, 1, 4.3) is None


def test_cli_energy_json(capsys, tmp_path):
    assert main(["energy", "designs/default.yaml", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for k in ("pe_power_mw", "tile_power_mw", "adc_share", "cycles_per_mvm", "energy_per_inference_pj", "area_mm2"):
        assert k in doc
    d = load_design("designs/tiny.yaml")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    prog = convert_to_program(model, d, torch.rand(32, 1, 28, 28), None)
    prog.model = None
    path = tmp_path / "p.safetensors"
    prog.save(path)
    assert main(["energy", "designs/default.yaml", "--program", str(path)]) == 2
    assert "mapped for design 'tiny'" in capsys.readouterr().err


@pytest.mark.parametrize("table,msg", [
    ("nope.yaml", "technology: got 'nope.yaml'; allowed: one of isaac-32nm, neurosim-22nm or an existing YAML file"),
])
def test_cli_energy_bad_table(tmp_path, capsys, table, msg):
    y = yaml.safe_load(open("designs/tiny.yaml"))
    y["technology"] = table
    p = tmp_path / "d.yaml"
    p.write_text(yaml.safe_dump(y))
    assert main(["energy", str(p)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {msg}"


def test_cli_report_by_hand(tmp_path, capsys):
    """`xbar-hw report` on two task entries of one backbone (Piggyback writes cells, XMA
    writes none): cells per switch counted here from the levels, switch energy from the
    table's numbers, the claim's M put back into the ratio, the files written; a design
    that maps another way is refused in one line."""
    from xbar_hw.adapt import AdaptConfig, fit, get_method, load_task
    from xbar_hw.core.switch import task_view
    from xbar_hw.workload.data import Dataset
    from xbar_hw.workload.models import build_model

    d = load_design("designs/tiny.yaml")
    base = load_task("mnist_0_4", 0)
    kwargs = {"in_channels": 1, "num_classes": 5, "widths": [4, 8, 8, 8]}
    prog = convert_to_program(build_model("task_cnn", seed=0, **kwargs), d, base.x_train[:64],
                              {"arch": "task_cnn", "kwargs": kwargs}, {"input_shape": [1, 28, 28]})
    t = load_task("split_mnist_5_9", 0)
    t = Dataset(t.name, t.x_train[::20], t.y_train[::20], t.x_test[::60], t.y_test[::60], t.classes)
    cfg = dict(epochs=1, eval_limit=16, head_epochs=1)
    paths = []
    for m, extra in (("piggyback", {"lr_score": 5e-2}), ("xma", {})):
        p = Program(prog.design, prog.layers, prog.model, prog.digital, prog.meta)
        p.tasks["split_mnist_5_9"] = fit(prog, t, get_method(m), AdaptConfig(**cfg, **extra))
        paths.append(tmp_path / f"{m}.safetensors")
        p.save(paths[-1])
    pig = Program.load(paths[0])
    view, _ = task_view(pig, "split_mnist_5_9")
    cells = sum(int((view.layers[n].levels != lp.levels).sum()) for n, lp in pig.layers.items() if n != pig.head)
    assert cells > 0

    out = tmp_path / "rep"
    assert main(["report", "--program", *map(str, paths), "--images", "2", "-o", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for f in ("report.md", "report.json", "energy_breakdown.png", "energy_vs_inferences.png", "lifetime.png"):
        assert (out / f).stat().st_size > 0
    table = yaml.safe_load(open("xbar_hw/energy/tables/isaac-32nm.yaml"))["device"]
    pulses = table["pulses_multi_level"]["value"]  # tiny: 2-bit cells
    assert doc["methods"]["piggyback"]["cells_written"] == cells
    assert doc["methods"]["piggyback"]["switch_energy_pj"] == pytest.approx(cells * pulses * table["write_pj_per_pulse"]["value"])
    assert doc["methods"]["xma"]["cells_written"] == 0 and doc["methods"]["xma"]["switch_energy_pj"] == 0
    c, pg, x = doc["claims"]["xma"], doc["methods"]["piggyback"], doc["methods"]["xma"]
    M = c["inferences_per_switch"]
    if M is not None:
        assert (pg["switch_energy_pj"] + M * pg["inference_energy_pj"]) / (M * x["inference_energy_pj"]) == pytest.approx(4.3)
    rep = json.loads((out / "report.json").read_text())
    assert rep["methods"]["piggyback"]["lifetime"]["switches_to_endurance"] > 0

    other = yaml.safe_load(open("designs/tiny.yaml"))
    other["crossbar"]["rows"] = 32
    dp = tmp_path / "other.yaml"
    dp.write_text(yaml.safe_dump(other))
    assert main(["report", "--program", str(paths[0]), "--design", str(dp), "-o", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: program: ") and "crossbar" in err and err.count("\n") == 1
    assert not (tmp_path / "r2").exists()
