"""Configuration of the non-ideal effects of spec section 4 (the ``nonideal`` block of a
design): one frozen dataclass per effect, apart from the code that simulates it
(``xbar_hw.xbar.effects``: one unit per effect, built from its block here). Units: siemens
(S), ohms (Ohm), hertz (Hz)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .schema import choice_field, float_field, int_field


@dataclass(frozen=True)
class SafSpec:
    """Stuck-at faults, i.i.d. per cell at rates ``sa0`` and ``sa1`` (or from ``map``).

    PytorX's convention (default, ``sa0_state: on``): SA0 pins a cell at G_on (the top
    level), SA1 at G_off (level 0); ``sa0_state: off`` swaps them. ``map`` names a
    safetensors file with one int8 tensor per layer, [crossbars, R, C], codes 0 (healthy),
    1 (SA0), 2 (SA1). ``correct`` turns on the digital SAF correction of spec section 3.
    PytorX's measured rates (He et al., DAC 2019): 1.75% SA0, 9.04% SA1.
    Simulated by ``xbar_hw.xbar.effects.saf.StuckAtFaults``.
    """

    sa0: float = field(default=0.0, metadata=float_field(0.0, 1.0, lo_open=False))
    sa1: float = field(default=0.0, metadata=float_field(0.0, 1.0, lo_open=False))
    sa0_state: str = field(default="on", metadata=choice_field("on", "off"))
    map: Any = field(default=None, metadata={"kind": "path"})
    correct: bool = field(default=True, metadata={"kind": "bool"})


@dataclass(frozen=True)
class IrDropSpec:
    """Wire resistances of spec section 4's network, in ohms (Ohm).

    Defaults from PytorX (elliothe/pytorx): wire conductance 0.375 S per segment
    (r = 2.67 Ohm; its other setting is 0.0357 S, 28 Ohm) and load conductance 0.25 S
    (4 Ohm), used here for both the row driver and the column sense resistance. ``enabled``
    turns on ``xbar_hw.xbar.effects.irdrop.IrDrop`` (the exact solve of ``xbar_hw.xbar.irdrop``).
    """

    enabled: bool = field(default=False, metadata={"kind": "bool"})
    r_row: float = field(default=1 / 0.375, metadata=float_field(0.0, lo_open=False))
    r_col: float = field(default=1 / 0.375, metadata=float_field(0.0, lo_open=False))
    r_source: float = field(default=1 / 0.25, metadata=float_field(0.0, lo_open=False))
    r_sense: float = field(default=1 / 0.25, metadata=float_field(0.0, lo_open=False))


@dataclass(frozen=True)
class NoiseSpec:
    """Read noise, drawn per read and per sample; bandwidth = device.read_frequency (Hz).

    thermal: current variance 4 k T G df; shot: 2 q I df (both over a column's and its
    reference column's cells). rtn: random telegraph noise, each cell in its high state
    with probability ``rtn_probability``, shifted by dG = G (bG + a) / (G - (bG + a)),
    a = 1.662e-7, b = 0.0015 (PytorX's fit, elliothe/pytorx). One unit each in
    ``xbar_hw.xbar.effects``: ``thermal.ThermalNoise``, ``shot.ShotNoise``, ``rtn.TelegraphNoise``.
    """

    thermal: bool = field(default=False, metadata={"kind": "bool"})
    shot: bool = field(default=False, metadata={"kind": "bool"})
    rtn: bool = field(default=False, metadata={"kind": "bool"})
    rtn_a: float = field(default=1.662e-7, metadata=float_field(0.0, lo_open=False))
    rtn_b: float = field(default=0.0015, metadata=float_field(0.0, lo_open=False))
    rtn_probability: float = field(default=0.5, metadata=float_field(0.0, 1.0, lo_open=False))


@dataclass(frozen=True)
class VariationSpec:
    """Programming variation: each written cell's G is drawn as G + sigma * dG * N(0, 1),
    ``sigma`` in level steps dG (PytorX uses dG/3, i.e. sigma = 1/3, drawn per read). Drawn once
    per chip by ``xbar_hw.xbar.effects.variation.ProgrammingVariation``."""

    sigma: float = field(default=0.0, metadata=float_field(0.0, lo_open=False))


@dataclass(frozen=True)
class NonidealSpec:
    """Non-ideal effects of spec section 4; every effect off by default. ``seed`` seeds
    chip instances (fault maps, variation) and read noise."""

    seed: int = field(default=0, metadata=int_field(0, 2**31 - 1))
    saf: SafSpec = field(default_factory=SafSpec)
    ir_drop: IrDropSpec = field(default_factory=IrDropSpec)
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    variation: VariationSpec = field(default_factory=VariationSpec)

    @property
    def any(self) -> bool:
        """True when some effect is on (otherwise the analog path is the golden one)."""
        n = self.noise
        return bool(self.saf.sa0 or self.saf.sa1 or self.saf.map or self.ir_drop.enabled
                    or n.thermal or n.shot or n.rtn or self.variation.sigma)
