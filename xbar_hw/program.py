"""Program (spec section 1): a mapped network, one safetensors file with a JSON header.

Tensors: per layer ``<layer>.levels`` (uint8 [crossbars, R, C]), ``<layer>.adc_shift``
(int64 [crossbars]), ``<layer>.w_scale`` (float32 [N]), ``<layer>.bias`` (float32 [N],
when the layer has one), and ``digital.<name>`` for float parameters of the network that
no crossbar holds. JSON (metadata key ``xbar_hw.program``): format version, the design
(full), its mapping fingerprint, the architecture to rebuild, and per layer its shape,
convolution parameters, activation scale and PE placement.

Placement: each layer starts on a fresh PE; its crossbars (index ``cb * n_rb + rb``, so
the row blocks of one column block are neighbours) fill PEs of ``pe.crossbars`` in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .design import MAPPING_KEYS, Design, design_from_dict
from .errors import XbarError
from .io import load_tensors, save_tensors
from .xbar.mapping import layer_grid

FORMAT_VERSION = 1
META_KEY = "xbar_hw.program"


@dataclass
class LayerProgram:
    """One Conv2d or Linear layer mapped to crossbars."""

    name: str
    kind: str  # "conv" or "linear"
    k_in: int  # rows of W[K, N]: in_channels * kh * kw for a conv
    n_out: int
    levels: torch.Tensor  # uint8 [n_crossbars, R, C]
    adc_shift: torch.Tensor  # int64 [n_crossbars]
    w_scale: torch.Tensor  # float32 [N]: weight = w_scale[n] * w_int
    x_scale: float  # input = x_scale * x_int
    bias: torch.Tensor | None = None  # float32 [N]
    conv: dict | None = None  # in_channels, kernel_size, stride, padding, dilation
    first_pe: int = 0
    faults: torch.Tensor | None = None  # int64 [f, 4]: crossbar, row, column, stuck level (profiled)

    @property
    def n_crossbars(self) -> int:
        return int(self.levels.shape[0])

    def grid(self, design: Design) -> tuple[int, int]:
        return layer_grid(self.k_in, self.n_out, design)

    def n_pes(self, design: Design) -> int:
        return -(-self.n_crossbars // design.pe.crossbars)

    def crossbar_pe(self, design: Design) -> torch.Tensor:
        """PE index of each crossbar."""
        return self.first_pe + torch.arange(self.n_crossbars) // design.pe.crossbars

    def json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "k_in": self.k_in,
            "n_out": self.n_out,
            "x_scale": self.x_scale,
            "conv": self.conv,
            "first_pe": self.first_pe,
            "n_crossbars": self.n_crossbars,
            "has_bias": self.bias is not None,
        }


@dataclass
class Program:
    design: Design
    layers: dict[str, LayerProgram]
    model: dict | None = None  # {"arch": ..., "kwargs": {...}} from the zoo, or None
    digital: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    #: the float model this Program was converted from (in memory only, never saved): lets
    #: :meth:`build` rebuild models outside the zoo in the session that mapped them
    source: nn.Module | None = field(default=None, repr=False, compare=False)
    #: task entries (xbar_hw.adapt.entry.TaskEntry) by task name
    tasks: dict = field(default_factory=dict)

    @property
    def n_pes(self) -> int:
        return sum(lp.n_pes(self.design) for lp in self.layers.values())

    @property
    def n_crossbars(self) -> int:
        return sum(lp.n_crossbars for lp in self.layers.values())

    def on_design(self, design: Design, where: str = "program") -> "Program":
        """This Program with ``design``'s cost-side entries (clock, technology, non-ideal
        block); refuses a design that maps another way."""
        check_same_design(self.design, design, where)
        return Program(design, self.layers, self.model, self.digital, self.meta, tasks=self.tasks,
                       source=self.source)

    def summary(self) -> dict:
        return {
            "design": self.design.name,
            "layers": len(self.layers),
            "crossbars": self.n_crossbars,
            "pes": self.n_pes,
            "cells": self.n_crossbars * self.design.crossbar.rows * self.design.crossbar.cols,
        }

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | Path) -> None:
        tensors = {f"digital.{k}": v for k, v in self.digital.items()}
        for name, lp in self.layers.items():
            tensors.update(_layer_tensors(f"{name}.", lp))
        tasks = []
        for i, (tname, entry) in enumerate(self.tasks.items()):
            t, doc = entry.to_tensors(f"task.{i}.")
            tensors.update(t)
            tasks.append({**doc, "name": tname})  # the key names the task
        doc = {
            "format_version": FORMAT_VERSION,
            "design": self.design.to_dict(),
            "design_fingerprint": self.design.mapping_fingerprint(),
            "model": self.model,
            "layers": [lp.json() for lp in self.layers.values()],
            "tasks": tasks,
            "meta": self.meta,
        }
        save_tensors(path, tensors, META_KEY, doc)

    @classmethod
    def load(cls, path: str | Path, design: Design | None = None) -> "Program":
        """Read a Program; with ``design``, refuse one mapped for another design."""
        from .adapt.entry import TaskEntry

        tensors, doc = load_tensors(path, META_KEY, "program")
        if doc.get("format_version") != FORMAT_VERSION:
            raise XbarError(
                f"program: format_version {doc.get('format_version')!r} in {path}; allowed: {FORMAT_VERSION}"
            )
        stored = design_from_dict(doc["design"])
        if design is not None:
            check_same_design(stored, design, str(path))
        try:
            layers = {lj["name"]: _layer_from(f"{lj['name']}.", lj, tensors) for lj in doc["layers"]}
            tasks = {}
            for i, tj in enumerate(doc.get("tasks", [])):
                entry = TaskEntry.from_tensors(f"task.{i}.", tj, tensors)
                tasks[entry.name] = entry
        except KeyError as exc:
            raise XbarError(f"program: {path} lacks entry {exc}; it is damaged or from another tool") from None
        digital = {k[len("digital.") :]: v for k, v in tensors.items() if k.startswith("digital.")}
        return cls(stored, layers, doc.get("model"), digital, doc.get("meta", {}), tasks=tasks)

    @property
    def head(self) -> str:
        """The layer that each task replaces: its classifier head (the zoo's, else the last layer)."""
        from .models import HEADS

        if self.meta.get("head") in self.layers:
            return self.meta["head"]
        arch = (self.model or {}).get("arch")
        if HEADS.get(arch) in self.layers:
            return HEADS[arch]
        return list(self.layers)[-1]

    def backbone_pes(self) -> list[int]:
        """The PEs of every layer but the head: the PEs that tasks share."""
        d = self.design
        return sorted({int(p) for n, lp in self.layers.items() if n != self.head for p in lp.crossbar_pe(d).unique()})

    def task(self, name: str):
        """The entry of task ``name`` (a :class:`xbar_hw.adapt.entry.TaskEntry`)."""
        if name not in self.tasks:
            raise XbarError(f"task: got {name!r}; allowed: one of this Program's tasks {sorted(self.tasks)}"
                            if self.tasks else f"task: got {name!r}; allowed: none (this Program holds no task entry)")
        return self.tasks[name]

    # ------------------------------------------------------------------ execution
    def build(self, model: nn.Module | None = None, device: str | torch.device | None = None) -> nn.Module:
        """The mapped network: the architecture with every mapped layer on crossbars.

        ``model`` supplies the structure when the Program's architecture is not in the zoo.
        """
        from .xbar.convert import assemble

        return assemble(self, model, device)


def _layer_tensors(prefix: str, lp: LayerProgram) -> dict[str, torch.Tensor]:
    t = {
        f"{prefix}levels": lp.levels.to(torch.uint8),
        f"{prefix}adc_shift": lp.adc_shift.to(torch.int64),
        f"{prefix}w_scale": lp.w_scale.to(torch.float32),
    }
    if lp.bias is not None:
        t[f"{prefix}bias"] = lp.bias.to(torch.float32)
    if lp.faults is not None:
        t[f"{prefix}faults"] = lp.faults.to(torch.int64)
    return t


def _layer_from(prefix: str, lj: dict, tensors: dict) -> LayerProgram:
    return LayerProgram(
        name=lj["name"],
        kind=lj["kind"],
        k_in=lj["k_in"],
        n_out=lj["n_out"],
        levels=tensors[f"{prefix}levels"],
        adc_shift=tensors[f"{prefix}adc_shift"],
        w_scale=tensors[f"{prefix}w_scale"],
        x_scale=float(lj["x_scale"]),
        bias=tensors.get(f"{prefix}bias"),
        conv=lj["conv"],
        first_pe=lj["first_pe"],
        faults=tensors.get(f"{prefix}faults"),
    )


def check_same_design(stored: Design, design: Design, where: str) -> None:
    if stored.mapping_fingerprint() == design.mapping_fingerprint():
        return
    a, b = stored.to_dict(), design.to_dict()
    diff = [k for k in MAPPING_KEYS if a[k] != b[k]]
    raise XbarError(
        f"program: {where} was mapped for design {stored.name!r}, not {design.name!r} "
        f"(differs in: {', '.join(diff)}); allowed: a Program mapped with this design"
    )
