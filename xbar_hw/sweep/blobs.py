"""Data sets, models and Programs as bytes, so that they reach Ray workers through the
object store instead of through paths on the driver's disk. All three are safetensors
with a JSON header (never pickle): models and Programs in exactly their file format
(written and read through a private temporary folder), data sets as tensors."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load, save

from ..core.errors import XbarError
from ..core.program import Program
from ..workload.data import Dataset
from ..workload.models import load_model, save_model

DATASET_KEY = "xbar_hw.dataset"
DATASET_TENSORS = ("x_train", "y_train", "x_test", "y_test")


def dataset_to_bytes(data: Dataset) -> bytes:
    tensors = {k: getattr(data, k).contiguous() for k in DATASET_TENSORS}
    return save(tensors, metadata={DATASET_KEY: json.dumps({"name": data.name, "classes": list(data.classes)})})


def dataset_from_bytes(blob: bytes) -> Dataset:
    doc = json.loads(metadata(blob)[DATASET_KEY])
    tensors = load(blob)
    return Dataset(doc["name"], *(tensors[k] for k in DATASET_TENSORS), doc["classes"])


def metadata(blob: bytes) -> dict:
    """The ``__metadata__`` of safetensors bytes (an 8-byte little-endian header length,
    then the JSON header)."""
    n = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8 : 8 + n]).get("__metadata__") or {}


def model_to_bytes(model: torch.nn.Module, arch: str, kwargs: dict, meta: dict) -> bytes:
    """The bytes of the model file ``save_model`` writes (``xbar-hw train``'s format)."""
    with tempfile.TemporaryDirectory(prefix="xbar-sweep-") as tmp:
        path = Path(tmp) / "model.safetensors"
        save_model(model, arch, kwargs, path, meta)
        return path.read_bytes()


def model_from_bytes(blob: bytes) -> tuple[torch.nn.Module, dict]:
    with tempfile.TemporaryDirectory(prefix="xbar-sweep-") as tmp:
        path = Path(tmp) / "model.safetensors"
        path.write_bytes(blob)
        return load_model(path)


def program_to_bytes(program: Program) -> bytes:
    with tempfile.TemporaryDirectory(prefix="xbar-sweep-") as tmp:
        path = Path(tmp) / "program.safetensors"
        program.save(path)
        return path.read_bytes()


def program_from_bytes(blob: bytes) -> Program:
    with tempfile.TemporaryDirectory(prefix="xbar-sweep-") as tmp:
        path = Path(tmp) / "program.safetensors"
        path.write_bytes(blob)
        try:
            return Program.load(path)
        except XbarError as exc:
            raise XbarError(f"sweep: a Program from the object store did not load ({exc})") from None
