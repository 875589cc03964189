"""Multi-task adaptation as the command line runs it: the shared backbone, one task's
adaptation added to a Program, and the cells two Programs (or two tasks) differ in."""

from __future__ import annotations

import csv
from pathlib import Path

from ..adapt import AdaptConfig, Method, fit, get_method, load_task
from ..adapt.backbone import make_backbone
from ..core.design import Design
from ..core.errors import field_error
from ..core.io import atomic_path
from ..core.program import Program
from ..core.switch import diff_programs, switch_diff, task_view

#: what a task entry's meta reports of an adaptation
ADAPT_KEYS = ("method", "task", "accuracy", "proxy_accuracy", "mask_bits", "piggyback_mask_bits", "cells_written",
              "pes_reprogrammed", "head_cells", "budget_pes", "pes_selected", "gated_columns", "weights_zeroed",
              "seconds_per_epoch", "train_seconds", "eval_seconds", "n_test", "epochs", "seed")
#: XMA²'s default budget: the fraction of the backbone's PEs it may reprogram
DEFAULT_BUDGET = 0.1


def backbone_summary(program: Program) -> dict:
    """A backbone Program's summary, its shared PEs and its float accuracy."""
    return {**program.summary(), "backbone_pes": len(program.backbone_pes()), "float_acc": program.meta["float_acc"]}


def build_backbone(design: Design, output, *, epochs: int = 8, seed: int = 0, progress: bool = True) -> Program:
    """Train task_cnn on the base task (MNIST 0-4) for ``epochs`` epochs, map it onto
    ``design`` and write the Program to ``output``."""
    program = make_backbone(design, epochs=epochs, seed=seed, progress=progress)
    program.save(output)
    return program


def entry_summary(entry) -> dict:
    """What a task entry's meta reports (:data:`ADAPT_KEYS`; None where it has no value)."""
    return {k: entry.meta.get(k) for k in ADAPT_KEYS}


def adapt_config(method: str, *, budget: float | None = None, epochs: int = 5, seed: int = 0,
                 eval_limit: int | None = None, progress: bool = True) -> tuple[Method, AdaptConfig]:
    """The adaptation method named ``method`` and its configuration, validated (``budget``:
    xma2 only, a fraction of the backbone's PEs; default :data:`DEFAULT_BUDGET`)."""
    m = get_method(method)
    if budget is not None and method != "xma2":
        raise field_error("budget", budget, f"only with --method xma2 (got --method {method})")
    cfg = AdaptConfig(epochs=epochs, seed=seed, budget=DEFAULT_BUDGET if budget is None else budget,
                      eval_limit=eval_limit, progress=progress)
    return m, cfg


def adapt_task(program: Program, task: str, method: Method, cfg: AdaptConfig, output, *, split_seed: int = 0,
               budget: float | None = None) -> tuple[str, dict]:
    """Adapt ``program``'s backbone to ``task`` (a built-in task or an image folder; its
    train/test split seeded by ``split_seed``) and write the Program with the task's entry
    to ``output``. Returns the entry's name (the task's, or the folder's data set name) and
    its summary with the ``budget`` asked for (xma2) and the output path."""
    data = load_task(task, seed=split_seed)
    name = data.name if Path(task).is_dir() else task
    entry = fit(program, data, method, cfg, name)
    program.tasks[name] = entry
    program.save(output)
    return name, {**entry_summary(entry), "budget": budget if method.name == "xma2" else None, "output": str(output)}


def cell_diff(program_a, program_b=None, *, task_a: str | None = None, task_b: str | None = None,
              cells=None) -> dict:
    """The cells whose level differs between two Program files (each with its task active;
    the head is skipped when a task is named), or between two tasks of one (None: the base
    task). With ``cells``, every differing cell is written to that CSV file. Returns the
    count, the PEs, the cells per PE and per layer."""
    a = Program.load(program_a)
    if program_b:
        b = Program.load(program_b)
        va, _ = task_view(a, task_a)
        vb, _ = task_view(b, task_b)
        diff = diff_programs(va, vb, skip={a.head} if (task_a or task_b) else frozenset())
    else:
        diff = switch_diff(a, task_a, task_b)
    if cells:
        with atomic_path(cells) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(diff.COLUMNS)
            w.writerows(diff.rows())
    return {**diff.summary(), "from": task_a or "base", "to": task_b or "base"}
