"""The ``xbar-hw`` command line. User errors print one line and exit with status 2."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .core.errors import XbarError
from .sim.commands import add_parsers as add_sim_parsers
from .xbar.convert import build_network


def _print_json(doc) -> None:
    print(json.dumps(doc, indent=2, sort_keys=True))


# ---------------------------------------------------------------------------- design
def cmd_design(args) -> int:
    from .core.design import load_design

    design = load_design(args.file)
    if args.action == "check":
        print(f"ok: {args.file} is a valid design ({design.name})")
        return 0
    doc = {"design": design.to_dict(), "derived": design.derived()}
    if args.json:
        _print_json(doc)
    else:
        print(f"design {design.name} ({args.file})")
        for k, v in design.derived().items():
            print(f"  {k:28s} {v}")
    return 0


# ---------------------------------------------------------------------------- train
def _data(args):
    from .workload.tasks import TASKS, load_task
    from .workload.data import load_dataset

    if args.data in TASKS:
        return load_task(args.data, seed=args.seed)
    return load_dataset(args.data, seed=args.seed, image_size=args.image_size, channels=args.channels)


def cmd_train(args) -> int:
    from .workload.models import build_model, save_model
    from .workload.train import accuracy, train

    data = _data(args)
    kwargs = {"in_channels": data.in_channels, "num_classes": data.num_classes}
    if args.arch == "mnist_cnn":
        kwargs.update(in_size=data.in_size, width=args.width)
    model = build_model(args.arch, seed=args.seed, **kwargs)
    t0 = time.time()
    train(model, data, epochs=args.epochs, seed=args.seed, lr=args.lr, progress=not args.quiet)
    acc = accuracy(model.cpu(), data.x_test, data.y_test)
    meta = {"data": args.data, "seed": args.seed, "epochs": args.epochs, "test_acc": acc,
            "image_size": args.image_size, "channels": args.channels}
    save_model(model.cpu(), args.arch, kwargs, args.output, meta)
    doc = {"float_acc": acc, "output": str(args.output), "seconds": round(time.time() - t0, 2)}
    _print_json(doc) if args.json else print(f"trained {args.arch} on {args.data}: test accuracy {acc:.4f} -> {args.output}")
    return 0


# ---------------------------------------------------------------------------- map
def _map_model(model, doc, design, args):
    """Map a model file's network onto ``design``, calibrated on its training data
    (``--data``, else the data it was trained on). Returns (program, data)."""
    from .xbar.convert import convert_to_program

    args.data = args.data or doc["meta"].get("data", "mnist5k")
    data = _data(args)
    program = convert_to_program(
        model, design, data.x_train[: args.calibration],
        {"arch": doc["arch"], "kwargs": doc["kwargs"]},
        {"data": args.data, "seed": args.seed, "model": str(args.model)},
    )
    return program, data


def cmd_map(args) -> int:
    from .core.design import load_design
    from .workload.models import load_model

    design = load_design(args.design)
    model, doc = load_model(args.model)
    program, _ = _map_model(model, doc, design, args)
    program.save(args.output)
    s = program.summary()
    _print_json({**s, "output": str(args.output)}) if args.json else print(
        f"mapped {len(program.layers)} layers onto {s['crossbars']} crossbars in {s['pes']} PEs -> {args.output}"
    )
    return 0


# ---------------------------------------------------------------------------- evaluate
def evaluate(program, data, model=None, progress=True, limit=None) -> dict:
    from .workload.data import eval_subset
    from .workload.train import accuracy
    from .xbar.layers import set_path

    x, y = eval_subset(data, limit)
    t0 = time.time()
    mapped = build_network(program)
    doc = {"design": program.design.name, "data": data.name, "n_test": len(x), **program.summary()}
    doc["float_acc"] = accuracy(model, x, y, progress=progress, desc="float") if model is not None else None
    doc["quant_acc"] = accuracy(set_path(mapped, "folded"), x, y, progress=progress, desc="quantized")
    t1 = time.time()
    doc["mapped_acc"] = accuracy(set_path(mapped, "auto"), x, y, progress=progress, desc="mapped")
    doc["mapped_seconds"] = round(time.time() - t1, 3)
    doc["lossless"] = program.design.lossless
    doc["seconds"] = round(time.time() - t0, 3)
    return doc


def evaluate_chips(program, data, design, chips: int, progress=True, limit=None, cache=None) -> dict:
    """Accuracy on ``chips`` chip instances of ``design`` (its device and nonideal blocks;
    chip i: fault map, variation and noise seeds from (nonideal.seed, i)); mean and sample
    standard deviation."""
    import statistics
    from dataclasses import asdict

    from .workload.data import eval_subset
    from .workload.train import accuracy
    from .xbar.analog import Chip, attach_chip

    x, y = eval_subset(data, limit)
    mapped = build_network(program)
    cache = {} if cache is None else cache
    accs = [accuracy(attach_chip(mapped, Chip(program, design, i, cache)), x, y, progress=progress, desc=f"chip {i}")
            for i in range(chips)]
    return {"chips": chips, "chip_accs": accs, "chip_acc_mean": statistics.fmean(accs),
            "chip_acc_std": statistics.stdev(accs) if chips > 1 else 0.0, "nonideal": asdict(design.nonideal),
            "read_frequency": design.device.read_frequency}


def nonideal_from_args(design, args):
    """The design's non-ideal block with the command line's flags applied (validated)."""
    ni, dev = {}, {}
    if args.sa0 is not None or args.sa1 is not None:
        ni["saf"] = {"sa0": args.sa0 or 0.0, "sa1": args.sa1 or 0.0}
    if args.sa0_state:
        ni.setdefault("saf", {})["sa0_state"] = args.sa0_state
    if args.fault_map:
        ni.setdefault("saf", {})["map"] = args.fault_map
    if args.no_saf_correction:
        ni.setdefault("saf", {})["correct"] = False
    if args.ir_drop or args.r_wire is not None:
        ni["ir_drop"] = {"enabled": True}
        if args.r_wire is not None:
            ni["ir_drop"].update(r_row=args.r_wire, r_col=args.r_wire)
    for flag in ("thermal", "shot", "rtn"):
        if getattr(args, flag) or args.noise:
            ni.setdefault("noise", {})[flag] = True
    if args.variation is not None:
        ni["variation"] = {"sigma": args.variation}
    if args.chip_seed is not None:
        ni["seed"] = args.chip_seed
    if args.read_frequency is not None:
        dev["read_frequency"] = args.read_frequency
    blocks = {k: v for k, v in (("nonideal", ni), ("device", dev)) if v}
    return design.replace(**blocks) if blocks else design


def _add_nonideal(p):
    g = p.add_argument_group("non-ideal effects (override the design's nonideal block)")
    g.add_argument("--chips", type=int, default=None, help="evaluate on N chip instances (mean +- std)")
    g.add_argument("--chip-seed", type=int, default=None, help="seed of the chip instances and read noise")
    g.add_argument("--sa0", type=float, default=None, help="stuck-at-0 rate in [0, 1]")
    g.add_argument("--sa1", type=float, default=None, help="stuck-at-1 rate in [0, 1]")
    g.add_argument("--sa0-state", choices=("on", "off"), default=None, help="SA0 pins G_on (PytorX) or G_off")
    g.add_argument("--fault-map", default=None, help="safetensors fault map (codes 0/1/2 per cell)")
    g.add_argument("--no-saf-correction", action="store_true", help="turn the digital SAF correction off")
    g.add_argument("--ir-drop", action="store_true", help="solve IR drop exactly")
    g.add_argument("--r-wire", type=float, default=None, help="wire resistance per segment, ohms (implies --ir-drop)")
    g.add_argument("--thermal", action="store_true")
    g.add_argument("--shot", action="store_true")
    g.add_argument("--rtn", action="store_true")
    g.add_argument("--noise", action="store_true", help="thermal, shot and RTN")
    g.add_argument("--read-frequency", type=float, default=None, help="read frequency, Hz (noise bandwidth)")
    g.add_argument("--variation", type=float, default=None, help="programming variation, sigma in level steps")


def cmd_evaluate(args) -> int:
    from .core.design import load_design
    from .core.program import Program
    from .workload.models import load_model

    if not args.program and not (args.model and args.design):
        raise XbarError("evaluate: got neither --program nor --model with --design; allowed: --program P [--model M] or --model M --design D")
    model = doc = None
    if args.model:
        model, doc = load_model(args.model)
    design = load_design(args.design) if args.design else None
    if args.program:
        program = Program.load(args.program, design)
        args.data = args.data or program.meta.get("data", "mnist5k")
        data = _data(args)
    else:
        program, data = _map_model(model, doc, design, args)
    progress = not args.quiet and not args.json
    design = nonideal_from_args(program.design, args)  # validate before the long work
    chips = args.chips if args.chips is not None else 1
    if chips < 1:
        raise XbarError(f"--chips: got {chips}; allowed: an integer >= 1")
    result = evaluate(program, data, model, progress=progress, limit=args.limit)
    if args.chips is not None or design.nonideal.any:
        result.update(evaluate_chips(program, data, design, chips, progress, args.limit))
    if args.json:
        _print_json(result)
    else:
        fa = "n/a" if result["float_acc"] is None else f"{result['float_acc']:.4f}"
        print(f"{data.name} on {program.design.name}: float {fa}  quantized {result['quant_acc']:.4f}  "
              f"mapped {result['mapped_acc']:.4f}  ({result['crossbars']} crossbars, {result['pes']} PEs)")
        if "chips" in result:
            print(f"on {result['chips']} chip(s): {result['chip_acc_mean']:.4f} +- {result['chip_acc_std']:.4f}")
    return 0


# ---------------------------------------------------------------------------- irdrop
def cmd_irdrop(args) -> int:
    """One crossbar of random levels (seeded): exact IR-drop solve, optional SPICE netlist."""
    import torch

    from .core.design import load_design
    from .xbar import irdrop

    design = load_design(args.design)
    for name in ("rows", "cols"):
        if getattr(args, name) < 1:
            raise XbarError(f"--{name}: got {getattr(args, name)}; allowed: an integer >= 1")
    ir = design.nonideal.ir_drop
    r_row = args.r_row if args.r_row is not None else args.r_wire if args.r_wire is not None else ir.r_row
    r_col = args.r_col if args.r_col is not None else args.r_wire if args.r_wire is not None else ir.r_col
    r_source = args.r_source if args.r_source is not None else ir.r_source
    r_sense = args.r_sense if args.r_sense is not None else ir.r_sense
    gen = torch.Generator().manual_seed(args.seed)
    levels = torch.randint(0, design.cell_max + 1, (args.rows, args.cols), generator=gen).double()
    dG = (design.device.g_on - design.device.g_off) / design.cell_max
    G = design.device.g_off + levels * dG  # S
    v = torch.full((args.rows,), design.device.v_read, dtype=torch.float64)  # V, every row driven
    t0 = time.perf_counter()
    g_eff = irdrop.effective_conductance(G, r_row, r_col, r_source, r_sense)
    seconds = time.perf_counter() - t0
    ideal, real = G.t() @ v, g_eff.t() @ v  # A
    drop = 1 - real / ideal
    doc = {"rows": args.rows, "cols": args.cols, "r_row": r_row, "r_col": r_col, "r_source": r_source,
           "r_sense": r_sense, "solve_seconds": seconds, "current_drop_mean": float(drop.mean()),
           "current_drop_max": float(drop.max()), "ideal_current_a": ideal.tolist(), "current_a": real.tolist()}
    if args.netlist:
        irdrop.write_netlist(args.netlist, G, v, r_row, r_col, r_source, r_sense)
        doc["netlist"] = str(args.netlist)
    if args.json:
        _print_json(doc)
    else:
        print(f"{args.rows}x{args.cols} crossbar, wires {r_row:g}/{r_col:g} Ohm, source {r_source:g} Ohm, sense {r_sense:g} Ohm:"
              f" column currents {100 * doc['current_drop_mean']:.1f}% below ideal on average"
              f" ({100 * doc['current_drop_max']:.1f}% at most); G_eff solved in {seconds:.3f} s"
              + (f"; netlist -> {args.netlist}" if args.netlist else ""))
    return 0


# ---------------------------------------------------------------------------- nia
def cmd_nia(args) -> int:
    """Noise Injection Adaption: IR-drop statistics, one fine-tuning, chips before/after."""
    from .core.design import load_design
    from .workload.models import load_model, save_model
    from .xbar.nia import irdrop_statistics, nia_train

    design = nonideal_from_args(load_design(args.design), args)
    if not design.nonideal.ir_drop.enabled:
        design = design.replace(nonideal={"ir_drop": {"enabled": True}})
    if args.epochs < 1:
        raise XbarError(f"--epochs: got {args.epochs}; allowed: an integer >= 1")
    model, doc = load_model(args.model)
    program, data = _map_model(model, doc, design, args)
    chips = args.chips or 1
    cache: dict = {}
    progress = not args.quiet and not args.json
    before = evaluate_chips(program, data, design, chips, progress, args.limit, cache)
    stats = irdrop_statistics(program, design, data.x_train[: min(args.calibration, 256)], irdrop_cache=cache)
    trained = nia_train(model, stats, data, epochs=args.epochs, seed=args.seed, progress=progress)
    save_model(trained, doc["arch"], doc["kwargs"], args.output, {**doc["meta"], "nia": {
        "design": design.name, "ir_drop": design.to_dict()["nonideal"]["ir_drop"], "epochs": args.epochs}})
    program_after, _ = _map_model(trained, doc, design, args)
    after = evaluate_chips(program_after, data, design, chips, progress, args.limit)
    result = {"before": before["chip_acc_mean"], "before_std": before["chip_acc_std"],
              "after": after["chip_acc_mean"], "after_std": after["chip_acc_std"], "chips": chips,
              "stats": {n: {"mu_mean": float(m.mean()), "sigma_mean": float(s.mean())} for n, (m, s) in stats.items()},
              "output": str(args.output)}
    if args.json:
        _print_json(result)
    else:
        print(f"IR drop on {chips} chip(s): before NIA {result['before']:.4f}, after NIA {result['after']:.4f} -> {args.output}")
    return 0


# ---------------------------------------------------------------------------- adapt
ADAPT_KEYS = ("method", "task", "accuracy", "proxy_accuracy", "mask_bits", "piggyback_mask_bits", "cells_written",
              "pes_reprogrammed", "head_cells", "budget_pes", "pes_selected", "gated_columns", "weights_zeroed",
              "seconds_per_epoch", "train_seconds", "eval_seconds", "n_test", "epochs", "seed")


def cmd_backbone(args) -> int:
    from .adapt.backbone import make_backbone
    from .core.design import load_design

    design = load_design(args.design)
    program = make_backbone(design, epochs=args.epochs, seed=args.seed, progress=not args.quiet)
    program.save(args.output)
    doc = {**program.summary(), "backbone_pes": len(program.backbone_pes()), "float_acc": program.meta["float_acc"],
           "output": str(args.output)}
    _print_json(doc) if args.json else print(
        f"backbone task_cnn on {program.meta['base_task']}: float accuracy {doc['float_acc']:.4f}; "
        f"{doc['crossbars']} crossbars in {doc['pes']} PEs ({doc['backbone_pes']} shared) -> {args.output}")
    return 0


def cmd_adapt(args) -> int:
    from .adapt import AdaptConfig, fit, get_method, list_tasks, load_task
    from .core.design import load_design
    from .core.errors import field_error
    from .core.program import Program

    if args.list_tasks:
        for name in list_tasks():
            print(name)
        return 0
    for opt in ("program", "task", "method", "output"):
        if getattr(args, opt) is None:
            raise XbarError(f"adapt: --{opt} is missing; allowed: --program P --task T --method M -o P2 (or --list-tasks)")
    method = get_method(args.method)
    if args.budget is not None and args.method != "xma2":
        raise field_error("budget", args.budget, f"only with --method xma2 (got --method {args.method})")
    cfg = AdaptConfig(epochs=args.epochs, seed=args.seed, budget=0.1 if args.budget is None else args.budget,
                      eval_limit=args.eval_limit, progress=not args.quiet)
    design = load_design(args.design) if args.design else None
    program = Program.load(args.program, design)
    data = load_task(args.task, seed=args.split_seed)
    name = data.name if Path(args.task).is_dir() else args.task
    entry = fit(program, data, method, cfg, name)
    program.tasks[name] = entry
    program.save(args.output)
    doc = {k: entry.meta.get(k) for k in ADAPT_KEYS}
    doc["budget"] = args.budget if args.method == "xma2" else None
    doc["output"] = str(args.output)
    _print_json(doc) if args.json else print(
        f"{args.method} on {name}: accuracy {doc['accuracy']:.4f} through the crossbars; "
        f"{doc['cells_written']} cells written per switch in {len(doc['pes_reprogrammed'])} PEs; "
        f"{doc['mask_bits']} mask bits -> {args.output}")
    return 0


def cmd_diff(args) -> int:
    """Cells whose level differs: between two Programs, or between two tasks of one."""
    import csv

    from .core.io import atomic_path
    from .core.program import Program
    from .core.switch import diff_programs, switch_diff

    a = Program.load(args.program_a)
    if args.program_b:
        b = Program.load(args.program_b)
        from .core.switch import task_view

        va, _ = task_view(a, args.task_a)
        vb, _ = task_view(b, args.task_b)
        diff = diff_programs(va, vb, skip={a.head} if (args.task_a or args.task_b) else frozenset())
    else:
        diff = switch_diff(a, args.task_a, args.task_b)
    if args.cells:
        with atomic_path(args.cells) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(diff.COLUMNS)
            w.writerows(diff.rows())
    doc = {**diff.summary(), "from": args.task_a or "base", "to": args.task_b or "base"}
    if args.json:
        _print_json(doc)
    else:
        print(f"{doc['cells_written']} cells differ in {len(doc['pes_reprogrammed'])} PEs")
        for pe, n in doc["per_pe"].items():
            print(f"  PE {pe:4d}: {n} cells")
    return 0


# ---------------------------------------------------------------------------- energy and report
ENERGY_KEYS = ("pe_power_mw", "tile_power_mw", "adc_share", "cycles_per_mvm", "area_mm2", "pe_area_um2",
               "energy_per_mvm_pj", "clock_hz", "technology", "design")


def cmd_energy(args) -> int:
    """A design's peak power, ADC share, cycles and area; with a Program, its energy per
    inference on a workload."""
    from .core.design import load_design
    from .core.program import Program
    from .energy import design_report, program_report

    design = load_design(args.design)
    rep = design_report(design)
    doc = {k: rep[k] for k in ENERGY_KEYS}
    doc["energy_per_inference_pj"] = None
    if args.program:
        program = Program.load(args.program).on_design(design, args.program)
        x = _workload(args, program, args.task)
        prep = program_report(program, x, args.task)
        doc["energy_per_inference_pj"] = prep["energy_per_inference_pj"]
        doc["program"] = {k: prep[k] for k in ("energy_by_layer_pj", "energy_by_component_pj", "cycles_per_inference",
                                               "latency_s", "images", "task", "pes", "tiles", "adc_share",
                                               "chip_area_mm2", "inferences_per_s")}
    if args.json:
        _print_json(doc)
    else:
        print(f"design {design.name} ({rep['technology']}): PE {doc['pe_power_mw']:.2f} mW, tile {doc['tile_power_mw']:.1f} mW "
              f"(ADC {100 * doc['adc_share']:.1f}%), {doc['cycles_per_mvm']} cycles per MVM, tile area {doc['area_mm2']:.3f} mm2")
        if args.program:
            print(f"program {args.program}: {doc['energy_per_inference_pj'] / 1e3:.2f} nJ per inference on "
                  f"{doc['program']['images']} images, {doc['program']['cycles_per_inference']:.0f} cycles")
    return 0


def _workload(args, program, task=None):
    """Test images a Program's task runs on (``--data``, ``--images``)."""
    return task_workload(program, task, args.data, args.images)


def task_workload(program, task=None, data: str | None = None, images: int = 16):
    """``images`` test images of a Program's task: the task's data (entries record it),
    else ``data``, else the Program's base data."""
    from .workload.tasks import TASKS, load_task
    from .workload.data import eval_subset

    name = None
    if task is not None:
        meta = program.task(task).meta
        name = meta.get("data") or meta.get("task", task)
    name = name or data or program.meta.get("base_task") or program.meta.get("data") or "mnist5k"
    ds = load_task(name, 0) if name in TASKS else _data(argparse.Namespace(data=name, seed=0, image_size=28, channels=1))
    return eval_subset(ds, images)[0]


def cmd_report(args) -> int:
    from .energy.report import build_report, merge_programs, write_report

    program = merge_programs(args.program)
    if args.design:
        # the cost side (clock, technology, overrides) from another design file that maps the same way
        from .core.design import load_design

        program = program.on_design(load_design(args.design), args.program[0])
    tasks = args.tasks or list(program.tasks)
    if not tasks:
        raise XbarError("report: the Program holds no task entry; allowed: a Program written by `xbar-hw adapt`")
    for t in tasks:
        program.task(t)
    workloads = {t: _workload(args, program, t) for t in tasks}
    doc = build_report(program, workloads, tasks)
    write_report(doc, Path(args.output))
    if args.json:
        _print_json({"methods": {m: {k: v[k] for k in ("cells_written", "switch_energy_pj", "inference_energy_pj", "accuracy")}
                                 for m, v in doc["methods"].items()}, "claims": doc["claims"], "output": args.output})
    else:
        print(f"report on {len(tasks)} task(s) -> {args.output}/report.md, report.json, energy_breakdown.png, "
              "energy_vs_inferences.png, lifetime.png")
    return 0


# ---------------------------------------------------------------------------- demo
def cmd_demo(args) -> int:
    """The end-to-end run on one design: train, map, evaluate; results in DIR."""
    from .core.design import load_design
    from .core.io import write_text
    from .core.program import Program
    from .workload.models import build_model, save_model
    from .workload.train import accuracy, train
    from .xbar.convert import convert_to_program

    out = Path(args.output)
    design = load_design(args.design)
    args.data = "mnist5k"
    data = _data(args)
    print(f"[1/7] train mnist_cnn on MNIST-5k ({len(data.x_train)} train / {len(data.x_test)} test, {args.epochs} epochs)")
    kwargs = {"in_channels": 1, "num_classes": 10, "in_size": 28, "width": 16}
    model = train(build_model("mnist_cnn", seed=args.seed, **kwargs), data, epochs=args.epochs, seed=args.seed, progress=not args.quiet).cpu()
    save_model(model, "mnist_cnn", kwargs, out / "model.safetensors",
               {"data": "mnist5k", "seed": args.seed, "epochs": args.epochs, "test_acc": accuracy(model, data.x_test, data.y_test)})
    print(f"[2/7] map onto design {design.name}")
    program = convert_to_program(model, design, data.x_train[:512], {"arch": "mnist_cnn", "kwargs": kwargs},
                                 {"data": "mnist5k", "seed": args.seed})
    program.save(out / "program.safetensors")
    print("[3/7] evaluate float, quantized and mapped inference")
    program = Program.load(out / "program.safetensors", design)
    result = evaluate(program, data, model, progress=not args.quiet)
    print(f"float {result['float_acc']:.4f}  quantized {result['quant_acc']:.4f}  mapped {result['mapped_acc']:.4f}"
          f"  on {result['crossbars']} crossbars in {result['pes']} PEs")
    print("[4/7] non-ideal chips: stuck-at faults at PytorX's rates (1.75% SA0, 9.04% SA1) and read noise")
    result["nonideal"] = {}
    cases = {
        "saf_uncorrected": {"saf": {"sa0": 0.0175, "sa1": 0.0904, "correct": False}},
        "saf_corrected": {"saf": {"sa0": 0.0175, "sa1": 0.0904, "correct": True}},
        "noise_10MHz": {"noise": {"thermal": True, "shot": True, "rtn": True}},
    }
    for key, block in cases.items():
        chips = 1 if key.startswith("noise") else 3
        res = evaluate_chips(program, data, design.replace(nonideal=block), chips, not args.quiet)
        result["nonideal"][key] = {k: res[k] for k in ("chips", "chip_acc_mean", "chip_acc_std")}
        print(f"  {key:16s} {res['chip_acc_mean']:.4f} +- {res['chip_acc_std']:.4f} over {chips} chip(s)")
    write_text(out / "evaluate.json", json.dumps(result, indent=2, sort_keys=True) + "\n")
    adapt = demo_adapt(design, out, args)
    write_text(out / "adapt.json", json.dumps(adapt, indent=2, sort_keys=True) + "\n")
    ok = demo_cosim(design, out, args)
    demo_report(design, out, args)
    print(f"results in {out}/: model.safetensors, program.safetensors, evaluate.json, backbone.safetensors,"
          " tasks.safetensors, adapt.json, cosim/ (Verilog in cosim/rtl, cosim.json), report/")
    return 0 if ok else 1


def demo_cosim(design, out: Path, args) -> bool:
    """Demo step 6: the PE tile's Verilog for the design, co-simulated (cocotb, Icarus)
    against the golden model with the first layer of the XMA task loaded."""
    from .core.io import write_text
    from .core.program import Program
    from .sim.cosim import cosim
    from .sim.runner import available

    task = "split_mnist_5_9.xma"
    print(f"[6/7] generate the PE tile's Verilog and co-simulate it with the first layer under task {task}")
    if not available("icarus"):
        print("  skipped: iverilog is not installed (apt-get install -y iverilog); Verilog only")
        from .rtl.generate import generate

        generate(design, out / "cosim" / "rtl")
        return True
    program = Program.load(out / "tasks.safetensors", design)
    r = cosim(design, program, seed=args.seed, task=task, vectors=4, build_dir=out / "cosim")
    write_text(out / "cosim" / "cosim.json", json.dumps(r, indent=2, sort_keys=True, default=str) + "\n")
    print(f"  {r['vectors']} MVMs of layer {r['source']['layer']}: {r['mismatches']} mismatches; "
          f"{r['cycles_per_mvm']} cycles per MVM measured, {r['cycles_expected']} from the cycle model; "
          f"{r['sim_seconds']:.0f} s in Icarus")
    return bool(r["ok"])


def demo_report(design, out: Path, args) -> None:
    """Demo step 7: energy, writes and lifetime of the two task entries."""
    from .core.program import Program
    from .energy.report import build_report, write_report

    print("[7/7] cost report: energy per inference, cells written per switch, lifetime")
    program = Program.load(out / "tasks.safetensors", design)
    tasks = list(program.tasks)
    doc = build_report(program, {t: task_workload(program, t) for t in tasks}, tasks)
    write_report(doc, out / "report")
    d = doc["design"]
    print(f"  tile {d['tile_power_mw']:.1f} mW, ADC share {100 * d['adc_share']:.1f}%, {d['cycles_per_mvm']} cycles per MVM")
    for m, v in doc["methods"].items():
        print(f"  {m:9s} {v['inference_energy_pj'] / 1e3:9.1f} nJ per inference, {v['cells_written']:.0f} cells and "
              f"{v['switch_energy_pj'] / 1e3:.1f} nJ per switch")


def demo_adapt(design, out: Path, args) -> dict:
    """Demo step 5: a task_cnn backbone on MNIST 0-4, adapted to Split MNIST 5-9 by XMA
    (column masks, no writes) and XMA² (10% of PEs reprogrammed)."""
    from .adapt import AdaptConfig, fit, get_method, load_task
    from .adapt.backbone import make_backbone

    epochs = max(1, min(args.epochs, 3))
    print(f"[5/7] adapt: task_cnn backbone on MNIST 0-4 ({epochs} epochs), then Split MNIST 5-9 by XMA and XMA²")
    program = make_backbone(design, epochs=epochs, seed=args.seed, progress=not args.quiet)
    program.save(out / "backbone.safetensors")
    data = load_task("split_mnist_5_9", args.seed)
    doc = {"backbone": {**program.summary(), "backbone_pes": len(program.backbone_pes()),
                        "float_acc": program.meta["float_acc"]}}
    for method in ("xma", "xma2"):
        cfg = AdaptConfig(epochs=epochs, seed=args.seed, budget=0.1, eval_limit=200, progress=not args.quiet)
        entry = fit(program, data, get_method(method), cfg, f"split_mnist_5_9.{method}")
        program.tasks[entry.name] = entry
        doc[method] = {k: entry.meta.get(k) for k in ADAPT_KEYS}
        print(f"  {method:5s} accuracy {entry.meta['accuracy']:.4f} through the crossbars; "
              f"{entry.meta['cells_written']} cells written in {len(entry.meta['pes_reprogrammed'])} of "
              f"{doc['backbone']['backbone_pes']} PEs; {entry.meta['mask_bits']} mask bits")
    program.save(out / "tasks.safetensors")
    return doc


# ---------------------------------------------------------------------------- parser
def _add_data(p, default=None):
    p.add_argument("--data", default=default, help="mnist5k, digits, a task of `xbar-hw adapt --list-tasks`, or a folder in ImageFolder layout")
    p.add_argument("--image-size", type=int, default=28, help="side of folder images after resizing (pixels)")
    p.add_argument("--channels", type=int, default=1, choices=(1, 3), help="channels of folder images")
    p.add_argument("--seed", type=int, default=0, help="seed of the data split and of training")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="xbar-hw", description="ReRAM crossbar accelerator toolchain")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("design", help="check or show a design file")
    p.add_argument("action", choices=("check", "show"))
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_design)

    p = sub.add_parser("train", help="train a float model (safetensors + JSON header)")
    _add_data(p, "mnist5k")
    p.add_argument("--arch", default="mnist_cnn", choices=("mnist_cnn", "task_cnn", "resnet20"))
    p.add_argument("--width", type=int, default=16, help="channels of mnist_cnn's first conv")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("map", help="quantize and map a model onto a design: a Program")
    p.add_argument("--model", required=True)
    p.add_argument("--design", required=True)
    _add_data(p)
    p.add_argument("--calibration", type=int, default=512, help="training samples used to calibrate scales")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_map)

    p = sub.add_parser("evaluate", help="float, quantized and mapped accuracy")
    p.add_argument("--program")
    p.add_argument("--model")
    p.add_argument("--design")
    _add_data(p)
    p.add_argument("--calibration", type=int, default=512)
    p.add_argument("--limit", type=int, default=None, help="evaluate N test samples (a fixed random subset)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    _add_nonideal(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("irdrop", help="exact IR drop of one random crossbar; write it as a SPICE netlist")
    p.add_argument("--design", default="designs/default.yaml", help="conductances, read voltage, wire defaults")
    p.add_argument("--rows", type=int, default=128)
    p.add_argument("--cols", type=int, default=128)
    p.add_argument("--r-wire", type=float, default=None, help="row and column wire resistance per segment, ohms")
    p.add_argument("--r-row", type=float, default=None)
    p.add_argument("--r-col", type=float, default=None)
    p.add_argument("--r-source", type=float, default=None, help="row driver resistance, ohms")
    p.add_argument("--r-sense", type=float, default=None, help="column sense resistance, ohms")
    p.add_argument("--seed", type=int, default=0, help="seed of the random cell levels")
    p.add_argument("--netlist", default=None, help="write the crossbar as a SPICE netlist (ngspice -b)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_irdrop)

    p = sub.add_parser("nia", help="Noise Injection Adaption against IR drop: train once, evaluate on chips")
    p.add_argument("--model", required=True)
    p.add_argument("--design", required=True)
    _add_data(p)
    p.add_argument("--calibration", type=int, default=512)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    _add_nonideal(p)
    p.set_defaults(func=cmd_nia)

    p = sub.add_parser("backbone", help="train task_cnn on the base task (MNIST 0-4) and map it: the shared backbone")
    p.add_argument("--design", default="designs/default.yaml")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_backbone)

    p = sub.add_parser("adapt", help="adapt a programmed backbone to a new task; adds the task's entry to the Program")
    p.add_argument("--list-tasks", action="store_true", help="print the built-in tasks, one a line")
    p.add_argument("--program", help="the backbone Program (from `xbar-hw backbone` or `xbar-hw map`)")
    p.add_argument("--design", help="refuse a Program mapped for another design")
    p.add_argument("--task", help="a built-in task (see --list-tasks) or a folder in ImageFolder layout")
    p.add_argument("--method", help="finetune, classifier, piggyback, xbm, xma or xma2")
    p.add_argument("--budget", type=float, default=None, help="xma2: fraction of the backbone's PEs it may reprogram (default 0.1)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the head, the masks and the shuffling")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the task's train/test split")
    p.add_argument("--eval-limit", type=int, default=None, help="evaluate N test samples (a fixed random subset)")
    p.add_argument("-o", "--output")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_adapt)

    p = sub.add_parser("diff", help="the cells whose level differs between two Programs or two tasks")
    p.add_argument("program_a")
    p.add_argument("program_b", nargs="?")
    p.add_argument("--task-a", default=None, help="task active in the first Program (default: its base task)")
    p.add_argument("--task-b", default=None, help="task active in the second (or the same) Program")
    p.add_argument("--cells", default=None, help="write every differing cell to this CSV file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("energy", help="peak power, ADC share, cycles and area of a design; energy per inference of a Program")
    p.add_argument("design")
    p.add_argument("--program", help="a Program mapped with this design")
    p.add_argument("--task", default=None, help="the Program's task to run (default: its base task)")
    p.add_argument("--data", default=None, help="workload: a task or data set (default: the one the Program was mapped on)")
    p.add_argument("--images", type=int, default=16, help="workload images")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_energy)

    p = sub.add_parser("report", help="energy, writes and lifetime of each adaptation method: Markdown, JSON, PNG")
    p.add_argument("--program", nargs="+", required=True, help="Programs of one backbone holding task entries")
    p.add_argument("--tasks", nargs="+", default=None, help="task keys to include (default: all)")
    p.add_argument("--data", default=None)
    p.add_argument("--images", type=int, default=16, help="workload images per task")
    p.add_argument("--design", default=None,
                   help="design file whose cost-side entries (clock, technology) replace the Programs' own; "
                        "it must map the same way")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)

    add_sim_parsers(sub)  # rtl, cosim

    p = sub.add_parser("demo", help="the end-to-end run on a design: train, map, evaluate, adapt")
    p.add_argument("--design", default="designs/default.yaml")
    p.add_argument("-o", "--output", default="out/demo")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo, image_size=28, channels=1)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except XbarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
