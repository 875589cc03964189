"""Task switches: the task view of a Program and the cells a switch rewrites.

:func:`task_view` applies an entry to its Program; :func:`diff_programs` lists every cell
whose level differs between two Programs (or two task views of one Program).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from .errors import XbarError
from .program import Program, check_same_design
from .task_entry import TaskEntry


def task_view(program: Program, task: str | TaskEntry | None) -> tuple[Program, dict[str, torch.Tensor]]:
    """The Program as the accelerator holds it while ``task`` is active, and the task's
    column masks. ``None`` is the backbone's own (base) task, unmasked."""
    if task is None:
        return program, {}
    entry = task if isinstance(task, TaskEntry) else program.task(task)
    layers = {}
    for name, lp in program.layers.items():
        if name == program.head:
            layers[name] = entry.head
            continue
        lp = copy.copy(lp)
        if name in entry.levels:
            idx, lv = entry.levels[name]
            levels = lp.levels.clone()
            levels[idx] = lv.to(levels.dtype)
            lp.levels = levels
        if name in entry.bias:
            lp.bias = entry.bias[name]
        layers[name] = lp
    unknown = sorted((set(entry.levels) | set(entry.masks) | set(entry.bias)) - set(program.layers))
    if unknown:
        raise XbarError(f"task {entry.name}: names layers {unknown}; allowed: the Program's layers {sorted(program.layers)}")
    model = copy.deepcopy(program.model)
    if model is not None:
        model.setdefault("kwargs", {})["num_classes"] = entry.head.n_out
    # the source model gives the structure only: its mapped layers, head included, are replaced
    view = Program(program.design, layers, model, program.digital, {**program.meta, "task": entry.name},
                   source=program.source)
    return view, dict(entry.masks)


@dataclass
class CellDiff:
    """Cells whose level differs: one row per cell (layer index into ``layers``, crossbar,
    PE, row, physical column, old level, new level)."""

    layers: list[str]
    cells: torch.Tensor  # int64 [n, 7]

    COLUMNS = ("layer", "crossbar", "pe", "row", "col", "old", "new")

    @property
    def count(self) -> int:
        return int(self.cells.shape[0])

    def per_pe(self) -> dict[int, int]:
        pe, n = self.cells[:, 2].unique(return_counts=True)
        return {int(p): int(c) for p, c in zip(pe, n)}

    def per_layer(self) -> dict[str, int]:
        li, n = self.cells[:, 0].unique(return_counts=True)
        return {self.layers[int(i)]: int(c) for i, c in zip(li, n)}

    def summary(self) -> dict:
        return {"cells_written": self.count, "pes_reprogrammed": sorted(self.per_pe()), "per_pe": self.per_pe(),
                "per_layer": self.per_layer()}

    def rows(self):
        for r in self.cells.tolist():
            yield [self.layers[r[0]], *r[1:]]


def diff_programs(a: Program, b: Program, skip: set[str] | frozenset = frozenset()) -> CellDiff:
    """Every cell whose level differs between ``a`` and ``b`` (same design and layers,
    except those in ``skip``)."""
    check_same_design(b.design, a.design, "the second Program")
    names = [n for n in a.layers if n not in skip]
    if set(names) != set(b.layers) - set(skip):
        raise XbarError(f"diff: layers {sorted(a.layers)} against {sorted(b.layers)}; allowed: Programs of the same network")
    out = []
    for li, name in enumerate(names):
        la, lb = a.layers[name], b.layers[name]
        if la.levels.shape != lb.levels.shape:
            raise XbarError(f"diff: layer {name} has {la.n_crossbars} against {lb.n_crossbars} crossbars; allowed: the same mapping")
        xb, r, c = (la.levels != lb.levels).nonzero(as_tuple=True)
        pe = la.crossbar_pe(a.design)[xb]
        out.append(torch.stack([torch.full_like(xb, li), xb, pe, r, c,
                                la.levels[xb, r, c].to(torch.int64), lb.levels[xb, r, c].to(torch.int64)], 1))
    cells = torch.cat(out) if out else torch.zeros(0, 7, dtype=torch.int64)
    return CellDiff(names, cells)


def switch_diff(program: Program, old: str | None, new: str | None) -> CellDiff:
    """The cells a switch from task ``old`` to task ``new`` rewrites (None: the base task).
    Heads sit on crossbars of their own and are not rewritten at a switch."""
    a, _ = task_view(program, old)
    b, _ = task_view(program, new)
    return diff_programs(a, b, skip={program.head})
