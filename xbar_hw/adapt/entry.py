"""Task entries of a Program, the task view of a Program, and cell diffs.

A task entry is what a task switch loads into the accelerator (spec section 1, "program"):
- ``masks``: column-mask codes per crossbar of the shared layers, uint8 [crossbars, L];
- ``levels``: the crossbars the task reprograms, per layer (crossbar indices and their new
  cell levels); every other crossbar keeps the backbone's levels;
- ``bias``: new digital biases (fine-tune only);
- ``head``: the task's classifier, a LayerProgram on crossbars of its own. Heads are
  written once, when the task is installed, and never rewritten at a task switch, so the
  cells of a switch are those of the shared layers only (``head_cells`` reports the rest).

:func:`task_view` applies an entry to its Program; :func:`diff_programs` lists every cell
whose level differs between two Programs (or two task views of one Program).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from ..errors import XbarError
from ..program import LayerProgram, Program, _layer_from, _layer_tensors


@dataclass
class TaskEntry:
    name: str
    method: str
    head: LayerProgram
    classes: list[str]
    masks: dict[str, torch.Tensor] = field(default_factory=dict)  # layer -> uint8 [crossbars, L]
    levels: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # layer -> (idx, uint8 [n, R, C])
    bias: dict[str, torch.Tensor] = field(default_factory=dict)  # layer -> float32 [N]
    meta: dict = field(default_factory=dict)  # budget, PEs selected, accuracy, epochs, seed, ...

    def to_tensors(self, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
        t = _layer_tensors(f"{prefix}head.", self.head)
        for layer, codes in self.masks.items():
            t[f"{prefix}mask.{layer}"] = codes.to(torch.uint8)
        for layer, (idx, lv) in self.levels.items():
            t[f"{prefix}crossbars.{layer}"] = idx.to(torch.int64)
            t[f"{prefix}levels.{layer}"] = lv.to(torch.uint8)
        for layer, b in self.bias.items():
            t[f"{prefix}bias.{layer}"] = b.to(torch.float32)
        doc = {
            "name": self.name,
            "method": self.method,
            "classes": list(self.classes),
            "head": self.head.json(),
            "masks": sorted(self.masks),
            "levels": sorted(self.levels),
            "bias": sorted(self.bias),
            "meta": self.meta,
        }
        return t, doc

    @classmethod
    def from_tensors(cls, prefix: str, doc: dict, tensors: dict) -> "TaskEntry":
        return cls(
            name=doc["name"],
            method=doc["method"],
            head=_layer_from(f"{prefix}head.", doc["head"], tensors),
            classes=list(doc["classes"]),
            masks={n: tensors[f"{prefix}mask.{n}"] for n in doc["masks"]},
            levels={n: (tensors[f"{prefix}crossbars.{n}"], tensors[f"{prefix}levels.{n}"]) for n in doc["levels"]},
            bias={n: tensors[f"{prefix}bias.{n}"] for n in doc["bias"]},
            meta=doc.get("meta", {}),
        )

    def reprogrammed_crossbars(self) -> dict[str, torch.Tensor]:
        return {n: idx for n, (idx, _) in self.levels.items()}


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


def build_task(program: Program, task: str | TaskEntry | None, device=None):
    """The mapped network of ``program`` running ``task`` (masks loaded, reprogrammed
    crossbars and head in place)."""
    from ..xbar.layers import set_column_masks

    view, masks = task_view(program, task)
    return set_column_masks(view.build(device=device), masks or None)


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
    from ..program import check_same_design

    check_same_design(a.design, b.design, "the second Program")
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
