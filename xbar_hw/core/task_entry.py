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
    def from_tensors(cls, prefix: str, doc: dict, tensors: dict) -> "TaskEntry":
        return cls(
            name=doc["name"],
            method=doc["method"],
            head=layer_from(f"{prefix}head.", doc["head"], tensors),
            classes=list(doc["classes"]),
            masks={n: tensors[f"{prefix}mask.{n}"] for n in doc["masks"]},
            levels={n: (tensors[f"{prefix}crossbars.{n}"], tensors[f"{prefix}levels.{n}"]) for n in doc["levels"]},
            bias={n: tensors[f"{prefix}bias.{n}"] for n in doc["bias"]},
            meta=doc.get("meta", {}),
        )

    def reprogrammed_crossbars(self) -> dict[str, torch.Tensor]:
        return {n: idx for n, (idx, _) in self.levels.items()}
