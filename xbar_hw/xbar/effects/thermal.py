"""Thermal (Johnson-Nyquist) read noise (read stage): each cell of a column and of its
reference column adds a current variance ``4 k T G df`` per read, df = device.read_frequency,
T = device.temperature, G the programmed conductances (IR drop is not applied to the noise
magnitude). In level units: ``4 k T df sum_r (G[r, c] + G[r, ref]) / (dG v_unit)^2`` per
column, v_unit = v_read / (2^v - 1) the voltage of one digit step.

Boltzmann's constant k = 1.380649e-23 J/K (SI 2019, exact)."""

from __future__ import annotations

from .base import Effect, LayerCells, ReadTerm

K_BOLTZMANN = 1.380649e-23  # J/K


class ThermalNoise(Effect):
    """Thermal noise, on with ``nonideal.noise.thermal``."""

    name, block, stage = "thermal", "noise", "read"
    switches = ("thermal",)


    def apply(self, cells: LayerCells) -> None:
        d, g, C = self.design, cells.g, cells.cols
        v_unit = d.device.v_read / d.digit_max  # V per digit step
        s_unit = d.conductance_step * v_unit  # A per unit of S
        g_sum = g[..., :C].sum(1) + g[..., C:].sum(1)  # [n, C]: column and its reference
        var = 4 * K_BOLTZMANN * d.device.temperature * d.device.read_frequency * g_sum / s_unit**2
        cells.reads.append(ReadTerm(self.name, column=var))
