"""A task entry of a Program: what a task switch loads into the accelerator (spec section 1).

- ``masks``: column-mask codes per crossbar of the shared layers, uint8 [crossbars, L];
- ``levels``: the crossbars the task reprograms, per layer (crossbar indices and their new
  cell levels); every other crossbar keeps the backbone's levels;
- ``bias``: new digital biases (fine-tune only);
- ``head``: the task's classifier, a LayerProgram on crossbars of its own. Heads are
  written once, when the task is installed, and never rewritten at a task switch, so the
  cells of a switch are those of the shared layers only.

In the Program file an entry is the tensors ``task.<i>.*`` and one JSON object of the
header's ``tasks`` list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .check import need_dict, need_key, need_list, need_str, need_tensor
from .design import Design
from .errors import field_error, short
from .layer import LayerProgram, layer_from, layer_tensors


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
        t = layer_tensors(f"{prefix}head.", self.head)
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
    def from_tensors(cls, prefix: str, doc: dict, tensors: dict, design: Design,
                     layers: dict[str, LayerProgram]) -> "TaskEntry":
        """An entry from its JSON and tensors, checked against ``design`` and the Program's
        ``layers`` (masks [crossbars, L] of valid codes, reprogrammed crossbars that exist,
        levels within the cell's levels, one bias per output)."""
        need_dict(doc, "program task")
        name = need_str(need_key(doc, "name", "program task"), "program task.name")
        at = f"program task {short(name)}"

        def names(key: str) -> list[str]:
            out = need_list(need_key(doc, key, at), f"{at}.{key}")
            for n in out:
                if not isinstance(n, str) or n not in layers:
                    raise field_error(f"{at}.{key}", n, f"a layer of the Program ({', '.join(layers)})")
            return out

        R, C, L = design.crossbar.rows, design.crossbar.cols, design.logical_cols
        masks = {n: need_tensor(tensors, f"{prefix}mask.{n}", at, torch.uint8, (layers[n].n_crossbars, L),
                                0, (1 << design.mask.bits) - 1) for n in names("masks")}
        levels = {}
        for n in names("levels"):
            idx = need_tensor(tensors, f"{prefix}crossbars.{n}", at, torch.int64, (None,), 0, layers[n].n_crossbars - 1)
            levels[n] = (idx, need_tensor(tensors, f"{prefix}levels.{n}", at, torch.uint8, (len(idx), R, C),
                                          0, design.cell_max))
        bias = {n: need_tensor(tensors, f"{prefix}bias.{n}", at, torch.float32, (layers[n].n_out,))
                for n in names("bias")}
        classes = need_list(need_key(doc, "classes", at), f"{at}.classes")
        return cls(
            name=name,
            method=need_str(need_key(doc, "method", at), f"{at}.method"),
            head=layer_from(f"{prefix}head.", need_key(doc, "head", at), tensors, design, f"{at} head"),
            classes=[str(c) for c in classes],
            masks=masks,
            levels=levels,
            bias=bias,
            meta=need_dict(doc.get("meta", {}), f"{at}.meta"),
        )

    def reprogrammed_crossbars(self) -> dict[str, torch.Tensor]:
        return {n: idx for n, (idx, _) in self.levels.items()}
