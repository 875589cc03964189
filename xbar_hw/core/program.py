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

from .check import need_dict, need_key, need_list, need_str
from .design import MAPPING_KEYS, Design, design_from_dict
from .errors import XbarError, short
from .io import load_tensors, save_tensors
from .layer import LayerProgram, layer_from, layer_tensors
from .task_entry import TaskEntry

FORMAT_VERSION = 1
META_KEY = "xbar_hw.program"
#: The classifier head of each zoo architecture: the layer that each task replaces.
ZOO_HEADS = {"mnist_cnn": "fc", "task_cnn": "fc", "resnet20": "fc"}


@dataclass
class Program:
    design: Design
    layers: dict[str, LayerProgram]
    model: dict | None = None  # {"arch": ..., "kwargs": {...}} from the zoo, or None
    digital: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    #: the float model this Program was converted from (in memory only, never saved): lets
    #: ``xbar_hw.xbar.build_network`` rebuild models outside the zoo in the session that mapped them
    source: nn.Module | None = field(default=None, repr=False, compare=False)
    #: task entries (:class:`TaskEntry`) by task name
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
            tensors.update(layer_tensors(f"{name}.", lp))
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
        tensors, doc = load_tensors(path, META_KEY, "program")
        need_dict(doc, "program header")
        if doc.get("format_version") != FORMAT_VERSION:
            raise XbarError(
                f"program: format_version {short(doc.get('format_version'))} in {path}; allowed: {FORMAT_VERSION}"
            )
        stored = design_from_dict(need_dict(need_key(doc, "design", "program"), "program.design"))
        if design is not None:
            check_same_design(stored, design, str(path))
        layers = {}
        for lj in need_list(need_key(doc, "layers", "program"), "program.layers"):
            lp = layer_from(f"{need_dict(lj, 'program.layers').get('name')}.", lj, tensors, stored)
            layers[lp.name] = lp
        if not layers:
            raise XbarError(f"program: {path} maps no layer; allowed: a Program with at least one layer")
        tasks = {}
        for i, tj in enumerate(need_list(doc.get("tasks", []), "program.tasks")):
            entry = TaskEntry.from_tensors(f"task.{i}.", tj, tensors, stored, layers)
            tasks[entry.name] = entry
        digital = {k[len("digital.") :]: v for k, v in tensors.items() if k.startswith("digital.")}
        for k, v in digital.items():
            if v.dtype.is_floating_point and not bool(torch.isfinite(v).all()):
                raise XbarError(f"program: tensor 'digital.{k}' holds NaN or infinite values; allowed: finite numbers")
        return cls(stored, layers, check_model_entry(doc.get("model")), digital,
                   need_dict(doc.get("meta", {}), "program.meta"), tasks=tasks)

    @property
    def head(self) -> str:
        """The layer that each task replaces: its classifier head (the zoo's, else the last layer)."""
        if self.meta.get("head") in self.layers:
            return self.meta["head"]
        arch = (self.model or {}).get("arch")
        if ZOO_HEADS.get(arch) in self.layers:
            return ZOO_HEADS[arch]
        return list(self.layers)[-1]

    def backbone_pes(self) -> list[int]:
        """The PEs of every layer but the head: the PEs that tasks share."""
        d = self.design
        return sorted({int(p) for n, lp in self.layers.items() if n != self.head for p in lp.crossbar_pe(d).unique()})

    def task(self, name: str):
        """The entry of task ``name``."""
        if name not in self.tasks:
            raise XbarError(f"task: got {name!r}; allowed: one of this Program's tasks {sorted(self.tasks)}"
                            if self.tasks else f"task: got {name!r}; allowed: none (this Program holds no task entry)")
        return self.tasks[name]


def check_model_entry(model) -> dict | None:
    """The header's ``model`` entry: None, or {"arch": name, "kwargs": {...}} (the zoo checks
    the architecture and its arguments when the network is built)."""
    if model is None:
        return None
    need_dict(model, "program.model")
    need_str(need_key(model, "arch", "program.model"), "program.model.arch")
    need_dict(model.get("kwargs", {}), "program.model.kwargs")
    return model


def check_same_design(stored: Design, design: Design, where: str) -> None:
    if stored.mapping_fingerprint() == design.mapping_fingerprint():
        return
    a, b = stored.to_dict(), design.to_dict()
    diff = [k for k in MAPPING_KEYS if a[k] != b[k]]
    raise XbarError(
        f"program: {where} was mapped for design {stored.name!r}, not {design.name!r} "
        f"(differs in: {', '.join(diff)}); allowed: a Program mapped with this design"
    )
