"""Accuracy of a Program: float (its source model), quantized (the folded digital path),
mapped (through the crossbars), and over chip instances with non-ideal effects."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict

import torch
from torch import nn

from ..core.design import Design
from ..core.errors import XbarError
from ..core.program import Program
from ..core.switch import task_view
from ..workload.data import Dataset, eval_subset
from ..workload.train import accuracy
from ..xbar import build_network, set_column_masks, set_path
from ..xbar.analog import Chip, attach_chip
from ..xbar.circulant import attach_reboc


def check_fits(net: nn.Module, x: torch.Tensor, data_name: str) -> None:
    """Raise a one-line XbarError unless images like ``x`` run through ``net`` (a network
    of another input shape would fail deep inside torch)."""
    try:
        with torch.no_grad():
            net(x[:1])
    except RuntimeError as exc:
        raise XbarError(f"data: {data_name} images of shape {list(x.shape[1:])} do not fit the Program's network "
                        f"({str(exc).splitlines()[0][:120]}); allowed: data of the shape it was mapped for") from None


def evaluate(program: Program, data: Dataset, model: nn.Module | None = None, *, progress: bool = True,
             limit: int | None = None) -> dict:
    """Float (None without ``model``), quantized and mapped accuracy of ``program`` on
    ``data``'s test split (``limit``: a fixed subset of that many samples), with the
    Program's summary; ``mapped_seconds`` and ``seconds`` are wall times in seconds."""
    x, y = eval_subset(data, limit)
    t0 = time.time()
    mapped = build_network(program)
    check_fits(set_path(mapped, "folded"), x, data.name)
    doc = {"design": program.design.name, "data": data.name, "n_test": len(x), **program.summary()}
    doc["float_acc"] = accuracy(model, x, y, progress=progress, desc="float") if model is not None else None
    doc["quant_acc"] = accuracy(set_path(mapped, "folded"), x, y, progress=progress, desc="quantized")
    t1 = time.time()
    net = set_path(mapped, "auto")
    if program.design.mapping.kind == "reboc":  # block-circulant layers on their ReBoc crossbars
        net = attach_reboc(build_network(program), program.design)
    doc["mapping"] = program.design.mapping.kind
    doc["mapped_acc"] = accuracy(net, x, y, progress=progress, desc="mapped")
    doc["mapped_seconds"] = round(time.time() - t1, 3)
    doc["lossless"] = program.design.lossless
    doc["seconds"] = round(time.time() - t0, 3)
    return doc


def task_network(program: Program, task: str | None = None) -> tuple[Program, nn.Module]:
    """The view of ``program`` with ``task`` active (None: the base task) and its mapped
    network, the task's column masks applied."""
    view, masks = task_view(program, task)
    mapped = build_network(view)
    return view, set_column_masks(mapped, masks) if masks else mapped


def task_accuracy(program: Program, data: Dataset, task: str | None = None, *, limit: int | None = None,
                  progress: bool = False) -> float:
    """Accuracy through the (ideal) crossbars of ``program`` with ``task`` active (None: the
    base task) on ``data``'s test split (``limit``: a fixed subset of that many samples)."""
    x, y = eval_subset(data, limit)
    return accuracy(task_network(program, task)[1], x, y, progress=progress, desc="mapped")


def chip_accuracies(mapped: nn.Module, program: Program, design: Design, chips: int, x: torch.Tensor,
                    y: torch.Tensor, *, progress: bool = True, cache: dict | None = None) -> list[float]:
    """Accuracy of ``mapped`` (the network of ``program``) on chip instances 0 .. chips-1 of
    ``design`` (chip i: fault map, variation and noise seeds from (nonideal.seed, i));
    ``cache`` keeps what chips of one Program share (IR-drop solves). The network is left
    without a chip."""
    return chip_runs(mapped, program, design, chips, x, y, progress=progress, cache=cache)[0]


def chip_runs(mapped: nn.Module, program: Program, design: Design, chips: int, x: torch.Tensor, y: torch.Tensor, *,
              progress: bool = True, cache: dict | None = None) -> tuple[list[float], list[dict]]:
    """:func:`chip_accuracies`, and each chip's fault-table overflow ({layer: {crossbar:
    faulty weights past the design's table depth, uncorrected}})."""
    cache = {} if cache is None else cache
    accs, overflow = [], []
    for i in range(chips):
        chip = Chip(program, design, i, cache)
        accs.append(accuracy(attach_chip(mapped, chip), x, y, progress=progress, desc=f"chip {i}"))
        overflow.append(chip.fault_overflow())
    attach_chip(mapped, None)
    return accs, overflow


def refuse_reboc_chips(program: Program) -> None:
    """One line for chips of a ReBoc-mapped Program: a chip's faults, noise and IR drop sit
    on cells, and the chip model places them on the plain layout's cells."""
    if program.design.mapping.kind == "reboc":
        raise XbarError("--chips / nonideal: got a Program mapped with mapping.kind = reboc; allowed: chips of a "
                        "Program mapped with mapping.kind = plain (ReBoc's cell layout has no chip model yet)")


def evaluate_chips(program: Program, data: Dataset, design: Design, chips: int, *, progress: bool = True,
                   limit: int | None = None, cache: dict | None = None, task: str | None = None) -> dict:
    """Accuracy on ``chips`` chip instances of ``design`` (its device and nonideal blocks)
    with ``task`` of ``program`` active (None: the base task): each chip's, their mean and
    sample standard deviation, the nonideal block and the read frequency (Hz); the depth
    of each crossbar's fault table and, per chip, the faulty weights that overflow it
    ({layer: {crossbar: weights}}, uncorrected; empty when every table holds its faults)."""
    refuse_reboc_chips(program)
    x, y = eval_subset(data, limit)
    view, mapped = task_network(program, task)
    accs, overflow = chip_runs(mapped, view, design, chips, x, y, progress=progress, cache=cache)
    return {"chips": chips, "chip_accs": accs, "chip_acc_mean": statistics.fmean(accs),
            "chip_acc_std": statistics.stdev(accs) if chips > 1 else 0.0, "nonideal": asdict(design.nonideal),
            "read_frequency": design.device.read_frequency, "fault_table_entries": design.fault_table_entries,
            "fault_overflow": overflow}


def evaluate_with_chips(program: Program, data: Dataset, model: nn.Module | None = None, *,
                        chip_design: Design | None = None, chips: int | None = None, progress: bool = True,
                        limit: int | None = None) -> dict:
    """:func:`evaluate`, and with ``chips`` given or non-ideal effects in ``chip_design``
    (default: the Program's design) :func:`evaluate_chips` on ``chips`` (default 1) chips
    of it too; ``chips`` is checked before the long work."""
    chip_design = program.design if chip_design is None else chip_design
    n = chips if chips is not None else 1
    if n < 1:
        raise XbarError(f"--chips: got {n}; allowed: an integer >= 1")
    if chips is not None or chip_design.nonideal.any:
        refuse_reboc_chips(program)
    result = evaluate(program, data, model, progress=progress, limit=limit)
    if chips is not None or chip_design.nonideal.any:
        result.update(evaluate_chips(program, data, chip_design, n, progress=progress, limit=limit))
    return result
