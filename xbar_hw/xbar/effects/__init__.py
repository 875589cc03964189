"""The non-ideal effects of spec section 4, one unit per effect (interface in ``base``).

``EFFECTS`` is the registry: every unit, in the order a chip applies them, stage by stage
(``program``: stuck-at faults, then programming variation; ``wire``: IR drop; ``read``:
thermal, shot, random telegraph noise). The order is part of a chip's identity: the
manufacturing draws (fault codes, then variation, layer by layer) and the sum of the read
variances follow it. A new effect is a module with an :class:`Effect` subclass built from its
config block (``xbar_hw.core.nonideal``) and one line here.
"""

from __future__ import annotations

from ...core.design import Design
from ...core.nonideal import NonidealSpec
from .base import STAGES, Effect, LayerCells, LayerChip, ReadNoise, ReadTerm
from .irdrop import IrDrop, index_free_key
from .rtn import TelegraphNoise
from .saf import StuckAtFaults, fault_codes, load_fault_map
from .shot import Q_ELECTRON, ShotNoise
from .thermal import K_BOLTZMANN, ThermalNoise
from .variation import ProgrammingVariation

#: every effect unit, in the order a chip applies them (sorted by stage, see STAGES)
EFFECTS: tuple[type[Effect], ...] = (
    StuckAtFaults,
    ProgrammingVariation,
    IrDrop,
    ThermalNoise,
    ShotNoise,
    TelegraphNoise,
)


def build_effects(nonideal: NonidealSpec, design: Design) -> list[Effect]:
    """The active units of ``nonideal`` on ``design``, in registry order."""
    units = []
    for cls in EFFECTS:
        config = getattr(nonideal, cls.block)
        if cls.active(config):
            units.append(cls(config, design))
    return units


__all__ = [
    "EFFECTS", "K_BOLTZMANN", "Q_ELECTRON", "STAGES", "Effect", "IrDrop", "LayerCells", "LayerChip",
    "ProgrammingVariation", "ReadNoise", "ReadTerm", "ShotNoise", "StuckAtFaults", "TelegraphNoise", "ThermalNoise",
    "build_effects", "fault_codes", "index_free_key", "load_fault_map",
]
