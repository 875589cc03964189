"""Shot read noise (read stage): a column's and its reference column's currents
``I_col + I_ref`` each read add a current variance ``2 q I df``, df = device.read_frequency.
With the ideal network's currents ``I_col + I_ref = v_unit (dG S + 2 g_off sum_r d_r)``
(v_unit = v_read / (2^v - 1), S the column sum the ADC sees), the variance in level units is
``per_s * S + per_digit * sum_r d_r``, with S clamped at 0.

Elementary charge q = 1.602176634e-19 C (SI 2019, exact)."""

from __future__ import annotations

from .base import Effect, LayerCells, ReadTerm

Q_ELECTRON = 1.602176634e-19  # C


class ShotNoise(Effect):
    """Shot noise, on with ``nonideal.noise.shot``."""

    name, block, stage = "shot", "noise", "read"
    switches = ("shot",)


    def term(self) -> ReadTerm:
        d = self.design
        dG = d.conductance_step
        v_unit = d.device.v_read / d.digit_max
        two_q_df = 2 * Q_ELECTRON * d.device.read_frequency
        per_s = two_q_df * v_unit * dG / (dG * v_unit) ** 2
        per_digit = two_q_df * v_unit * 2 * d.device.g_off / (dG * v_unit) ** 2
        return ReadTerm(self.name, per_s=per_s, per_digit=per_digit)

    def apply(self, cells: LayerCells) -> None:
        cells.reads.append(self.term())
