"""The end-to-end demo on one design, step by step: train a small CNN on MNIST-5k, map it,
evaluate it, prune it for smaller ADCs (TinyADC), evaluate it on non-ideal chips, adapt a backbone to a second task by XMA and
XMA², co-simulate the PE tile's Verilog, and write the cost report. Each step is a function;
:func:`run_demo` runs them in order and tells what it does through ``say``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

from torch import nn

from ..adapt import fit
from ..core.adcbits import min_prunable_bits
from ..core.design import Design, load_design
from ..core.io import atomic_dir, write_text
from ..core.presets import load_preset
from ..core.program import Program
from ..energy.adcbits import hardware_report
from ..energy.report import build_report, write_report
from ..rtl.generate import generate
from ..sim.cosim import cosim
from ..sim.runner import available
from ..workload.data import Dataset
from ..workload.models import build_model, save_model
from ..workload.resolve import resolve_data
from ..workload.tasks import load_task
from ..workload.train import accuracy, train
from .adapting import adapt_config, backbone_summary, build_backbone, entry_summary
from .evaluate import evaluate, evaluate_chips
from .models import CALIBRATION, map_model, model_kwargs
from .prune import prune_model
from .workloads import task_workload

Say = Callable[[str], None]

#: step 1: the model and its data (mnist_cnn with 16 channels in its first convolution)
DATA = "mnist5k"
ARCH = "mnist_cnn"
WIDTH = 16
#: step 5: name -> (shipped non-ideal preset, chip instances evaluated); the noise case runs
#: at the design's read frequency (10 MHz in designs/default.yaml)
NONIDEAL_CASES = {
    "saf_uncorrected": ("pytorx-saf-uncorrected", 3),
    "saf_corrected": ("pytorx-saf", 3),
    "noise_10MHz": ("read-noise", 1),
}
#: step 4: TinyADC prunes the model for ADCs this many bits below the design's (at least the
#: fewest any pruning reaches), retrained for at most this many epochs, scored on this many test samples
PRUNE_BITS_BELOW = 2
PRUNE_EPOCHS_MAX = 2
PRUNE_EVAL_LIMIT = 500
#: step 6: the task the backbone is adapted to, the methods, their epochs at most (the demo's
#: --epochs caps them) and the test samples each entry is scored on
TASK = "split_mnist_5_9"
METHODS = ("xma", "xma2")
ADAPT_EPOCHS_MAX = 3
ADAPT_EVAL_LIMIT = 200
#: step 7: the task entry the PE tile holds, and the MVMs streamed through it
COSIM_TASK = f"{TASK}.xma"
COSIM_VECTORS = 4


def write_json(path: Path, doc: dict) -> None:
    """``doc`` as indented, key-sorted JSON (atomic)."""
    write_text(path, json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")


def demo_train(data: Dataset, out: Path, *, epochs: int, seed: int, progress: bool, say: Say) -> nn.Module:
    """Step 1: train :data:`ARCH` on ``data``; written to ``out``/model.safetensors."""
    say(f"[1/8] train {ARCH} on MNIST-5k ({len(data.x_train)} train / {len(data.x_test)} test, {epochs} epochs)")
    kwargs = model_kwargs(ARCH, data, WIDTH)
    model = train(build_model(ARCH, seed=seed, **kwargs), data, epochs=epochs, seed=seed, progress=progress).cpu()
    save_model(model, ARCH, kwargs, out / "model.safetensors",
               {"data": DATA, "seed": seed, "epochs": epochs, "test_acc": accuracy(model, data.x_test, data.y_test)})
    return model


def demo_map(model: nn.Module, design: Design, data: Dataset, out: Path, *, seed: int, say: Say) -> None:
    """Step 2: map the model onto ``design``; written to ``out``/program.safetensors."""
    say(f"[2/8] map onto design {design.name}")
    program = map_model(model, ARCH, model_kwargs(ARCH, data, WIDTH), design, data, data_name=DATA, seed=seed,
                        calibration=CALIBRATION)
    program.save(out / "program.safetensors")


def demo_evaluate(model: nn.Module, design: Design, data: Dataset, out: Path, *, progress: bool,
                  say: Say) -> tuple[Program, dict]:
    """Step 3: float, quantized and mapped accuracy of the Program as read back from its file."""
    say("[3/8] evaluate float, quantized and mapped inference")
    program = Program.load(out / "program.safetensors", design)
    result = evaluate(program, data, model, progress=progress)
    say(f"float {result['float_acc']:.4f}  quantized {result['quant_acc']:.4f}  mapped {result['mapped_acc']:.4f}"
        f"  on {result['crossbars']} crossbars in {result['pes']} PEs")
    return program, result


def demo_prune(model: nn.Module, design: Design, data: Dataset, out: Path, *, epochs: int, seed: int,
               progress: bool, say: Say) -> dict:
    """Step 4: TinyADC: a copy of the model pruned so that every crossbar is exact with ADCs
    :data:`PRUNE_BITS_BELOW` bits below the design's (``out``/pruned.safetensors), mapped
    with each crossbar's own bits; its mapped accuracy and the tile's ADC power and area
    against the design's (``out``/tinyadc.json)."""
    lowest = min_prunable_bits(design)
    if lowest > design.adc.bits:  # e.g. one 8-bit DAC read of 7-bit cells: 15 bits at least
        why = (f"no pruning makes this design's {design.adc.bits}-bit ADCs lossless: one cell of a column's largest "
               f"weight with {design.inputs.dac_bits}-bit digits needs {lowest} bits")
        say(f"[4/8] TinyADC: skipped ({why})")
        return {"skipped": why, "design_adc_bits": design.adc.bits, "min_prunable_bits": lowest}
    bits = max(lowest, design.adc.bits - PRUNE_BITS_BELOW)
    epochs = max(1, min(epochs, PRUNE_EPOCHS_MAX))
    say(f"[4/8] TinyADC: prune for lossless {bits}-bit ADCs (design: {design.adc.bits}), {epochs} epoch(s) of retraining")
    pruned = copy.deepcopy(model)
    figures = prune_model(pruned, design, data, bits, epochs=epochs, seed=seed)
    kwargs = model_kwargs(ARCH, data, WIDTH)
    save_model(pruned, ARCH, kwargs, out / "pruned.safetensors", {"data": DATA, "seed": seed, "prune": figures})
    program = map_model(pruned, ARCH, kwargs, design, data, data_name=DATA, seed=seed, adc_bits="lossless")
    result = evaluate(program, data, pruned, progress=progress, limit=PRUNE_EVAL_LIMIT)
    hw = hardware_report(program, empty=False)
    doc = {"adc_bits": bits, "epochs": epochs, "sparsity": figures["sparsity"]["total"],
           "lossless_bits": figures["lossless_bits"], "mapped_acc": result["mapped_acc"], "n_test": result["n_test"],
           **{k: hw[k] for k in ("adc_bits_mean", "adc_power_mw", "tile_power_mw", "area_mm2", "gops_per_s_mm2",
                                 "gops_per_w", "design_adc_power_mw", "design_tile_power_mw", "design_area_mm2")}}
    say(f"  mapped {result['mapped_acc']:.4f} on {result['n_test']} test images at sparsity {doc['sparsity']:.2f}; "
        f"ADC power {hw['design_adc_power_mw']:.1f} -> {hw['adc_power_mw']:.1f} mW, tile "
        f"{hw['design_tile_power_mw']:.1f} -> {hw['tile_power_mw']:.1f} mW, area {hw['design_area_mm2']:.3f} -> "
        f"{hw['area_mm2']:.3f} mm2")
    return doc


def demo_nonideal(program: Program, design: Design, data: Dataset, *, progress: bool, say: Say) -> dict:
    """Step 4: accuracy on chips with each of :data:`NONIDEAL_CASES`' presets; per case the
    chips, their mean accuracy and std."""
    saf = load_preset("pytorx-saf")["saf"]
    say(f"[5/8] non-ideal chips: stuck-at faults at PytorX's rates ({100 * saf['sa0']:.2f}% SA0, "
        f"{100 * saf['sa1']:.2f}% SA1) and read noise")
    doc = {}
    for key, (preset, chips) in NONIDEAL_CASES.items():
        res = evaluate_chips(program, data, design.replace(nonideal=load_preset(preset)), chips, progress=progress)
        doc[key] = {k: res[k] for k in ("chips", "chip_acc_mean", "chip_acc_std")}
        say(f"  {key:16s} {res['chip_acc_mean']:.4f} +- {res['chip_acc_std']:.4f} over {chips} chip(s)")
    return doc


def demo_adapt(design: Design, out: Path, *, epochs: int, seed: int, progress: bool, say: Say) -> dict:
    """Step 5: a task_cnn backbone on MNIST 0-4 (``out``/backbone.safetensors), adapted to
    :data:`TASK` by XMA (column masks, no writes) and XMA² (10% of PEs reprogrammed); both
    entries in ``out``/tasks.safetensors. Returns the backbone's and each entry's summary."""
    epochs = max(1, min(epochs, ADAPT_EPOCHS_MAX))
    say(f"[6/8] adapt: task_cnn backbone on MNIST 0-4 ({epochs} epochs), then Split MNIST 5-9 by XMA and XMA²")
    program = build_backbone(design, out / "backbone.safetensors", epochs=epochs, seed=seed, progress=progress)
    data = load_task(TASK, seed)
    doc = {"backbone": backbone_summary(program)}
    for name in METHODS:
        method, cfg = adapt_config(name, epochs=epochs, seed=seed, eval_limit=ADAPT_EVAL_LIMIT, progress=progress)
        entry = fit(program, data, method, cfg, f"{TASK}.{name}")
        program.tasks[entry.name] = entry
        doc[name] = entry_summary(entry)
        say(f"  {name:5s} accuracy {entry.meta['accuracy']:.4f} through the crossbars; "
            f"{entry.meta['cells_written']} cells written in {len(entry.meta['pes_reprogrammed'])} of "
            f"{doc['backbone']['backbone_pes']} PEs; {entry.meta['mask_bits']} mask bits")
    program.save(out / "tasks.safetensors")
    return doc


def demo_cosim(design: Design, out: Path, *, seed: int, say: Say) -> bool:
    """Step 6: the PE tile's Verilog for ``design``, co-simulated (cocotb, Icarus) against
    the golden model with the first layer of :data:`COSIM_TASK` loaded; results in
    ``out``/cosim. Without Icarus, the Verilog only. Returns whether the run agreed."""
    say(f"[7/8] generate the PE tile's Verilog and co-simulate it with the first layer under task {COSIM_TASK}")
    if not available("icarus"):
        say("  skipped: iverilog is not installed (apt-get install -y iverilog); Verilog only")
        generate(design, out / "cosim" / "rtl")
        return True
    program = Program.load(out / "tasks.safetensors", design)
    r = cosim(design, program, seed=seed, task=COSIM_TASK, vectors=COSIM_VECTORS, build_dir=out / "cosim")
    r["build_dir"] = "cosim"  # inside the demo's folder (the run itself wrote into a temporary one)
    write_json(out / "cosim" / "cosim.json", r)
    say(f"  {r['vectors']} MVMs of layer {r['source']['layer']}: {r['mismatches']} mismatches; "
        f"{r['cycles_per_mvm']} cycles per MVM measured, {r['cycles_expected']} from the cycle model; "
        f"{r['sim_seconds']:.0f} s in Icarus")
    return bool(r["ok"])


def demo_report(design: Design, out: Path, *, say: Say) -> None:
    """Step 7: energy, writes and lifetime of the task entries; written to ``out``/report."""
    say("[8/8] cost report: energy per inference, cells written per switch, lifetime")
    program = Program.load(out / "tasks.safetensors", design)
    tasks = list(program.tasks)
    doc = build_report(program, {t: task_workload(program, t) for t in tasks}, tasks)
    write_report(doc, out / "report")
    d = doc["design"]
    say(f"  tile {d['tile_power_mw']:.1f} mW, ADC share {100 * d['adc_share']:.1f}%, {d['cycles_per_mvm']} cycles per MVM")
    for m, v in doc["methods"].items():
        say(f"  {m:9s} {v['inference_energy_pj'] / 1e3:9.1f} nJ per inference, {v['cells_written']:.0f} cells and "
            f"{v['switch_energy_pj'] / 1e3:.1f} nJ per switch")


def run_demo(design_path, out, *, epochs: int = 5, seed: int = 0, progress: bool = True, say: Say = print) -> bool:
    """The demo on the design file ``design_path``; every result in the folder ``out``
    (model, Programs, evaluate.json, adapt.json, cosim/, report/). Returns False when the
    co-simulation disagreed with the golden model."""
    design = load_design(design_path)
    data = resolve_data(DATA, seed=seed)
    with atomic_dir(out) as tmp:  # every result appears when the demo is complete, or none
        model = demo_train(data, tmp, epochs=epochs, seed=seed, progress=progress, say=say)
        demo_map(model, design, data, tmp, seed=seed, say=say)
        program, result = demo_evaluate(model, design, data, tmp, progress=progress, say=say)
        write_json(tmp / "tinyadc.json", demo_prune(model, design, data, tmp, epochs=epochs, seed=seed,
                                                    progress=progress, say=say))
        result["nonideal"] = demo_nonideal(program, design, data, progress=progress, say=say)
        write_json(tmp / "evaluate.json", result)
        write_json(tmp / "adapt.json", demo_adapt(design, tmp, epochs=epochs, seed=seed, progress=progress, say=say))
        ok = demo_cosim(design, tmp, seed=seed, say=say)
        demo_report(design, tmp, say=say)
    say(f"results in {out}/: model.safetensors, program.safetensors, pruned.safetensors, tinyadc.json, evaluate.json, "
        "backbone.safetensors,"
        " tasks.safetensors, adapt.json, cosim/ (Verilog in cosim/rtl, cosim.json), report/")
    return ok
