"""Presets of the ``nonideal`` block, shipped as files (``xbar_hw/presets/NAME.yaml``), each a
partial block with the source of its numbers: PytorX's stuck-at rates, its two wire
settings, read noise. A design or a command applies one with ``Design.replace``."""

from __future__ import annotations

from pathlib import Path

from .errors import field_error
from .nonideal import NonidealSpec
from .schema import build_block
from .yamlfile import load_yaml

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"


def list_presets() -> list[str]:
    """Names of the shipped presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_preset(name: str) -> dict:
    """The partial ``nonideal`` block of preset ``name`` (validated against the schema)."""
    if name not in list_presets():
        raise field_error("preset", name, "one of " + ", ".join(list_presets()))
    block = load_yaml(PRESETS_DIR / f"{name}.yaml", "preset")
    build_block(NonidealSpec, block, "nonideal")
    return block
