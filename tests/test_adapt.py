"""Multi-task adaptation: invariants of every method, task entries, cell diffs, bad input.

A small backbone (task_cnn with narrow layers on designs/tiny.yaml: 9 shared PEs) keeps
these fast; the accuracy figures come from scripts/results_adapt.py, not from here."""

from __future__ import annotations

import json
import math

import pytest
import torch
from spec_reference import ref_column_mask, ref_crossbar_mvm

from xbar_hw import build_network, build_task
from xbar_hw.adapt import (
    AdaptConfig,
    fit,
    get_method,
    list_tasks,
    load_task,
)
from xbar_hw.adapt.proxy import ProxyLayer, crossbar_grid
from xbar_hw.adapt.xma2 import budget_pes
from xbar_hw.cli import main
from xbar_hw.core.design import design_from_dict, load_design
from xbar_hw.core.errors import XbarError
from xbar_hw.core.program import Program
from xbar_hw.core.switch import diff_programs, switch_diff, task_view
from xbar_hw.core.task_entry import TaskEntry
from xbar_hw.workload.data import Dataset
from xbar_hw.workload.models import build_model
from xbar_hw.xbar.convert import convert_to_program
from xbar_hw.xbar.layers import mapped_layers, set_column_masks

WIDTHS = [4, 8, 8, 8]


def small(d: Dataset, n_train=192, n_test=64) -> Dataset:
    """Every class: strided subsets (the sets are stored class by class)."""
    tr, te = slice(None, None, len(d.x_train) // n_train), slice(None, None, len(d.x_test) // n_test)
    return Dataset(d.name, d.x_train[tr], d.y_train[tr], d.x_test[te], d.y_test[te], d.classes)


def make_program(design, seed=0) -> Program:
    base = load_task("mnist_0_4", 0)
    kwargs = {"in_channels": 1, "num_classes": 5, "widths": WIDTHS}
    model = build_model("task_cnn", seed=seed, **kwargs)
    return convert_to_program(model, design, base.x_train[:128], {"arch": "task_cnn", "kwargs": kwargs},
                              {"input_shape": [1, 28, 28]})


@pytest.fixture(scope="module")
def tiny():
    return load_design("designs/tiny.yaml")


@pytest.fixture(scope="module")
def program(tiny):
    return make_program(tiny)


@pytest.fixture(scope="module")
def task():
    return small(load_task("split_mnist_5_9", 0))


@pytest.fixture(scope="module")
def entries(program, task):
    cfg = dict(epochs=1, eval_limit=32, head_epochs=1)
    out = {}
    for m in ("classifier", "xbm", "xma"):
        out[m] = fit(program, task, get_method(m), AdaptConfig(**cfg))
    # 4-bit weights: a weight rate large enough to move weights by whole steps in one epoch
    out["finetune"] = fit(program, task, get_method("finetune"), AdaptConfig(**cfg, lr_weight=5e-2))
    # a large score rate so that Piggyback zeroes weights within one epoch
    out["piggyback"] = fit(program, task, get_method("piggyback"), AdaptConfig(**cfg, lr_score=5e-3))
    for b in (0.0, 0.25, 0.5):
        out[f"xma2_{b}"] = fit(program, task, get_method("xma2"), AdaptConfig(**cfg, budget=b, lr_weight=5e-2))
    return out


def test_backbone_pes(program, tiny):
    # conv1 1 crossbar, conv2 3x2, conv3 5x2, conv4 5x2 -> 1 + 2 + 3 + 3 PEs of 4 crossbars
    assert program.head == "fc"
    assert program.backbone_pes() == list(range(9))


def test_column_masks_write_no_cells(program, entries, tiny):
    L = tiny.logical_cols
    for m in ("classifier", "xbm", "xma", "xma2_0.0"):
        e = entries[m]
        assert e.levels == {} and e.meta["cells_written"] == 0 and e.meta["pes_reprogrammed"] == []
        assert switch_diff(program, None, e).count == 0
    for m in ("xbm", "xma"):
        masks = entries[m].masks
        assert set(masks) == set(program.layers) - {"fc"}
        for name, codes in masks.items():
            assert codes.dtype == torch.uint8 and codes.shape == (program.layers[name].n_crossbars, L)
            assert int(codes.max()) <= 3
    xbm_codes = torch.cat([c.flatten() for c in entries["xbm"].masks.values()])
    assert set(xbm_codes.tolist()) <= {0, 2}  # gated, or exponent 0 (code 2 of [-1, 0, 1])
    # mask memory: XBM one bit per logical column of each shared crossbar, XMA b_m bits
    n_xb = sum(program.layers[n].n_crossbars for n in entries["xbm"].masks)
    assert entries["xbm"].meta["mask_bits"] == n_xb * L
    assert entries["xma"].meta["mask_bits"] == n_xb * L * 2
    assert entries["piggyback"].meta["mask_bits"] == sum(lp.k_in * lp.n_out for n, lp in program.layers.items() if n != "fc")


def test_finetune_writes_and_classifier_floor(program, entries):
    ft = entries["finetune"]
    assert ft.meta["cells_written"] > 0 and ft.meta["mask_bits"] == 0
    assert entries["classifier"].masks == {}


def test_xma2_stays_inside_its_budget(program, entries, tiny):
    n = len(program.backbone_pes())
    for b in (0.0, 0.25, 0.5):
        e = entries[f"xma2_{b}"]
        allowed = math.floor(b * n)
        assert budget_pes(program, b) == allowed
        assert len(e.meta["pes_selected"]) == allowed
        diff = switch_diff(program, None, e)
        assert set(diff.per_pe()) <= set(e.meta["pes_selected"])
        assert len(diff.per_pe()) <= allowed
        # the reprogrammed crossbars all sit in selected PEs, and keep code "exponent 0"
        for name, (idx, _) in e.levels.items():
            pes = program.layers[name].crossbar_pe(tiny)[idx]
            assert set(pes.tolist()) <= set(e.meta["pes_selected"])
        for name, codes in e.masks.items():
            pes = program.layers[name].crossbar_pe(tiny)
            sel = torch.isin(pes, torch.tensor(e.meta["pes_selected"], dtype=torch.int64))
            assert bool((codes[sel] == 2).all())
    assert entries["xma2_0.5"].meta["cells_written"] > 0


def _cells_of(w: int, design) -> int:
    """Non-zero cells that weight w occupies: its non-zero base-2^b_c digits (one polarity)."""
    m, base, n = abs(w), 1 << design.crossbar.cell_bits, 0
    while m:
        n += (m % base) != 0
        m //= base
    return n


def test_piggyback_writes_every_cell_it_zeroes(program, entries, tiny):
    from xbar_hw.core.mapping import layer_weights

    e = entries["piggyback"]
    assert e.meta["weights_zeroed"] > 0
    view, _ = task_view(program, e)
    expected = 0
    for name, lp in program.layers.items():
        if name == "fc":
            continue
        before = layer_weights(lp.levels, lp.k_in, lp.n_out, tiny)
        after = layer_weights(view.layers[name].levels, lp.k_in, lp.n_out, tiny)
        assert bool(((after == before) | (after == 0)).all())  # a mask only zeroes weights
        expected += sum(_cells_of(int(w), tiny) for w in before[(after == 0) & (before != 0)].tolist())
    assert e.meta["cells_written"] == expected


def test_masked_network_equals_spec_arithmetic(tiny):
    """A task entry (reprogrammed crossbar + masks), evaluated through the golden crossbars,
    equals the spec's arithmetic written out loop by loop: per crossbar ADC -> shift-add
    -> mask, then the sum over the layer's row blocks."""
    g = torch.Generator().manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(40, 10), torch.nn.ReLU(), torch.nn.Linear(10, 3))
    prog = convert_to_program(model, tiny, torch.rand(64, 40), None)
    lp = prog.layers["0"]
    n_rb, n_cb = lp.grid(tiny)
    assert (n_rb, n_cb) == (3, 3) and prog.head == "2"
    L = tiny.logical_cols
    codes = torch.randint(0, 4, (lp.n_crossbars, L), generator=g, dtype=torch.uint8)
    new = torch.randint(0, 4, (2, tiny.crossbar.rows, tiny.crossbar.cols), generator=g, dtype=torch.uint8)
    entry = TaskEntry("t", "hand", prog.layers["2"], ["a", "b", "c"], masks={"0": codes},
                      levels={"0": (torch.tensor([1, 5]), new)})
    net = build_task(prog, entry)
    layer = mapped_layers(net)[0]
    x_u = torch.randint(0, 16, (5, 40), generator=g)
    got = layer.crossbar_rows(x_u)
    levels = lp.levels.clone()
    levels[torch.tensor([1, 5])] = new
    R = tiny.crossbar.rows
    want = [[0] * 10 for _ in range(5)]
    for cb in range(n_cb):
        for rb in range(n_rb):
            idx = cb * n_rb + rb
            xs = [[int(v) for v in row[rb * R : (rb + 1) * R]] + [0] * (R - len(row[rb * R : (rb + 1) * R]))
                  for row in x_u.tolist()]
            P = ref_crossbar_mvm(levels[idx].tolist(), xs, tiny.weights.bits, tiny.crossbar.cell_bits,
                                 tiny.inputs.bits, tiny.inputs.dac_bits, tiny.adc.bits, int(lp.adc_shift[idx]))
            P = ref_column_mask(P, codes[idx].tolist(), list(tiny.mask.exponents))
            for b in range(5):
                for j in range(L):
                    n = cb * L + j
                    if n < 10:
                        want[b][n] += P[b][j]
    assert got.tolist() == want


def test_tied_mask_equals_crossbar_mask_with_ideal_adc():
    """With a lossless ADC and non-negative exponents, the proxy's tied element-wise mask
    is the crossbar's column mask exactly (the ordering of crossbar_grid)."""
    d = design_from_dict({"crossbar": {"rows": 16, "cols": 16, "cell_bits": 2}, "weights": {"bits": 4},
                          "inputs": {"bits": 4}, "adc": {"bits": 12, "per_crossbar": 4}, "pe": {"crossbars": 4},
                          "mask": {"bits": 2, "exponents": [0, 1, 2]}})
    assert d.lossless
    model = torch.nn.Sequential(torch.nn.Linear(40, 10))
    prog = convert_to_program(model, d, torch.rand(64, 40), None)
    net = build_network(prog)
    layer = mapped_layers(net)[0]
    codes = torch.randint(0, 4, (layer.lp.n_crossbars, d.logical_cols), generator=torch.Generator().manual_seed(1))
    proxy = ProxyLayer(layer)
    table = torch.tensor([0.0, 1.0, 2.0, 4.0])

    class Fixed(torch.nn.Module):
        def forward(self):
            return table[codes.long()]

    proxy.column_mask = Fixed()
    set_column_masks(net, {"0": codes})
    x = torch.rand(7, 40)
    torch.testing.assert_close(proxy(x), net(x), rtol=1e-5, atol=1e-5)
    # and the grid itself: weight (k, n) takes the value of crossbar (n // L) * n_rb + k // R
    v = torch.arange(layer.lp.n_crossbars * d.logical_cols, dtype=torch.float32).view(layer.lp.n_crossbars, -1)
    grid = crossbar_grid(v, layer.lp, d)
    n_rb, _ = layer.lp.grid(d)
    for k in (0, 15, 16, 39):
        for n in (0, 3, 4, 9):
            assert grid[k, n] == v[(n // d.logical_cols) * n_rb + k // 16, n % d.logical_cols]


def test_task_entry_roundtrip(program, entries, task, tmp_path):
    p = Program(program.design, program.layers, program.model, program.digital, program.meta,
                tasks={"split_mnist_5_9": entries["xma2_0.5"], "other": entries["piggyback"]})
    path = tmp_path / "p.safetensors"
    p.save(path)
    q = Program.load(path, program.design)
    assert list(q.tasks) == ["split_mnist_5_9", "other"]
    x = task.x_test[:16]
    for name in q.tasks:
        a, b = build_task(p, name)(x), build_task(q, name)(x)
        assert torch.equal(a, b)
        assert q.tasks[name].meta == json.loads(json.dumps(p.tasks[name].meta))
    assert switch_diff(q, "other", "split_mnist_5_9").count == switch_diff(p, "other", "split_mnist_5_9").count
    with pytest.raises(XbarError, match=r"task: got 'nope'; allowed: one of this Program's tasks"):
        q.task("nope")


def test_diff_by_hand(program, tiny):
    b = Program(program.design, {n: lp for n, lp in program.layers.items()}, program.model)
    import copy

    lp = copy.copy(program.layers["conv3"])
    lp.levels = lp.levels.clone()
    changes = [(0, 0, 0), (5, 15, 15), (9, 3, 7)]  # crossbar, row, column
    for xb, r, c in changes:
        lp.levels[xb, r, c] = (int(lp.levels[xb, r, c]) + 1) % 4
    b.layers["conv3"] = lp
    diff = diff_programs(program, b)
    assert diff.count == 3
    first = program.layers["conv3"].first_pe
    rows = sorted(diff.rows())
    want = sorted(["conv3", xb, first + xb // tiny.pe.crossbars, r, c, int(program.layers["conv3"].levels[xb, r, c]),
                   int(lp.levels[xb, r, c])] for xb, r, c in changes)
    assert rows == want
    assert diff.per_pe() == {first: 1, first + 1: 1, first + 2: 1}


def test_same_seed_same_entry(program, task):
    cfg = AdaptConfig(epochs=1, eval_limit=16, head_epochs=1, seed=5)
    a = fit(program, task, get_method("xma"), cfg)
    b = fit(program, task, get_method("xma"), cfg)
    assert all(torch.equal(a.masks[n], b.masks[n]) for n in a.masks)
    assert torch.equal(a.head.levels, b.head.levels) and a.meta["accuracy"] == b.meta["accuracy"]


def test_bad_input(program, task, tiny):
    with pytest.raises(XbarError, match=r"^budget: got 1.5; allowed: a fraction of PEs in \[0, 1\]$"):
        AdaptConfig(budget=1.5)
    with pytest.raises(XbarError, match=r"^budget: got -0.1"):
        AdaptConfig(budget=-0.1)
    with pytest.raises(XbarError, match=r"^method: got 'lora'; allowed: finetune, classifier, piggyback, xbm, xma, xma2$"):
        get_method("lora")
    rgb = Dataset("rgb", torch.rand(8, 3, 32, 32), torch.zeros(8, dtype=torch.int64), torch.rand(4, 3, 32, 32),
                  torch.zeros(4, dtype=torch.int64), ["a", "b"])
    with pytest.raises(XbarError, match=r"task rgb: input shape \[3, 32, 32\] does not fit the backbone; allowed: \[1, 28, 28\]"):
        fit(program, rgb, get_method("xma"), AdaptConfig(epochs=1))
    no_zero = design_from_dict({**tiny.to_dict(), "mask": {"bits": 2, "exponents": [-2, -1, 1]}})
    p2 = make_program(no_zero)
    with pytest.raises(XbarError, match=r"mask.exponents: got \[-2, -1, 1\]; allowed: a list that holds 0"):
        fit(p2, task, get_method("xbm"), AdaptConfig(epochs=1))


def test_cli_adapt(program, tmp_path, capsys):
    assert main(["adapt", "--list-tasks"]) == 0
    assert capsys.readouterr().out.split() == list_tasks()
    src = tmp_path / "bb.safetensors"
    program.save(src)
    out = tmp_path / "t.safetensors"
    rc = main(["adapt", "--program", str(src), "--task", "inverted_mnist", "--method", "xma2", "--budget", "0.25",
               "--epochs", "0", "--eval-limit", "16", "-o", str(out), "--json", "--quiet"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"method", "task", "accuracy", "mask_bits", "cells_written", "pes_reprogrammed"} <= set(doc)
    assert doc["method"] == "xma2" and doc["task"] == "inverted_mnist" and doc["budget"] == 0.25
    q = Program.load(out)
    assert list(q.tasks) == ["inverted_mnist"]
    csv_path = tmp_path / "cells.csv"
    assert main(["diff", str(out), "--task-b", "inverted_mnist", "--cells", str(csv_path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["cells_written"] == doc["cells_written"]
    assert len(csv_path.read_text().splitlines()) == 1 + doc["cells_written"]


@pytest.mark.parametrize("argv,msg", [
    (["--budget", "1.5", "--method", "xma2"], "error: --budget: got '1.5'; allowed: a finite number in [0, 1]"),
    (["--budget", "0.5", "--method", "xbm"], "error: budget: got 0.5; allowed: only with --method xma2 (got --method xbm)"),
    (["--method", "xma", "--design", "designs/default.yaml"], "error: program: "),
    (["--method", "xma", "--task", "no_such_task"], "error: task: got 'no_such_task'"),
])
def test_cli_adapt_bad_input(program, tmp_path, capsys, argv, msg):
    src = tmp_path / "bb.safetensors"
    program.save(src)
    base = ["adapt", "--program", str(src), "--task", "split_mnist_5_9", "--epochs", "0", "-o", str(tmp_path / "o"), "--quiet"]
    # later options win in argparse, so argv overrides the defaults above
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(msg) and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()
