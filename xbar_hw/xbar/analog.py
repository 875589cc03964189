"""The analog path of spec section 4: one chip instance of a Program.

A :class:`Chip` draws what is fixed once a chip is made and programmed (stuck-at faults,
programming variation) and solves its IR drop; what changes at every read (thermal, shot
and random telegraph noise) is drawn by the engine, per read and per sample.

Everything is expressed in *level units*: a crossbar's effective matrix is
``W_eff[r, c] = (G_eff[r, c] - G_eff[r, ref]) / dG``, where ``ref`` is the reference
column of G_off cells, so that the ADC sees S = sum_r d_r W_eff[r, c] (+ noise). With every
effect off, W_eff is the integer level matrix and the analog path is the golden one.

Constants: Boltzmann k = 1.380649e-23 J/K and elementary charge q = 1.602176634e-19 C
(SI 2019, exact).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from ..core.design import Design, NonidealSpec
from ..core.errors import XbarError
from ..core.mapping import layer_weights
from ..core.program import LayerProgram, Program, check_same_design
from .irdrop import effective_conductances
from .layers import mapped_layers

K_BOLTZMANN = 1.380649e-23  # J/K
Q_ELECTRON = 1.602176634e-19  # C


@dataclass
class LayerChip:
    """One layer's crossbars on one chip.

    stored: uint8 [n, R, C] levels the cells actually hold (stuck cells at their level);
    faults: int64 [f, 4] the profiled fault table (crossbar, row, physical column, level);
    w_eff: [n, R, C] effective levels (float64), None when they equal ``stored``;
    thermal_var: [n, C] thermal-noise variance per read in S units^2, or None;
    rtn_var: [n, R, C] per-cell RTN variance in S units^2 per unit digit^2, or None;
    correction: int64 [K, N] = w - w_stored, added digitally (None: no correction).
    """

    stored: torch.Tensor
    faults: torch.Tensor
    w_eff: torch.Tensor | None = None
    thermal_var: torch.Tensor | None = None
    rtn_var: torch.Tensor | None = None
    shot: bool = False
    correction: torch.Tensor | None = None


@dataclass
class ReadNoise:
    """What the engine needs to draw read noise: constants in S units and a generator."""

    gen: torch.Generator
    shot_per_s: float  # sigma_S^2 per unit S (shot noise of the column's signal current)
    shot_per_digit: float  # sigma_S^2 per unit digit sum (the G_off currents of column + reference)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


def fault_codes(shape, spec, gen: torch.Generator) -> torch.Tensor:
    """i.i.d. codes per cell: 0 healthy, 1 SA0, 2 SA1."""
    u = torch.rand(shape, generator=gen, dtype=torch.float64)
    return torch.where(u < spec.sa0, 1, torch.where(u < spec.sa0 + spec.sa1, 2, 0)).to(torch.int8)


def load_fault_map(path: str, program: Program) -> dict[str, torch.Tensor]:
    """A fault map file: safetensors, one int8 tensor per layer [crossbars, R, C], codes 0/1/2."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        maps = load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise XbarError(f"nonideal.saf.map: cannot read {path!r} ({exc}); allowed: a safetensors fault map") from None
    out = {}
    for name, lp in program.layers.items():
        if name not in maps:
            raise XbarError(f"nonideal.saf.map: {path} has no tensor for layer {name!r}; allowed: one tensor per mapped layer")
        m = maps[name]
        if tuple(m.shape) != tuple(lp.levels.shape):
            raise XbarError(
                f"nonideal.saf.map: layer {name!r} has shape {list(m.shape)}; allowed: {list(lp.levels.shape)} (crossbars, R, C)"
            )
        if bool(((m < 0) | (m > 2)).any()):
            raise XbarError(f"nonideal.saf.map: layer {name!r} holds codes outside 0 (healthy), 1 (SA0), 2 (SA1)")
        out[name] = m.to(torch.int8)
    return out


class Chip:
    """One chip instance of a Program under ``nonideal`` (default: the design's block).

    ``index`` picks the instance: chips 0, 1, 2, ... of the same seed differ in fault maps
    and variation; the same (seed, index) always gives the same chip and the same noise.
    """

    def __init__(self, program: Program, design: Design | NonidealSpec | None = None, index: int = 0,
                 irdrop_cache: dict | None = None):
        # ``design``: the chip's design (its device and nonideal blocks apply; its mapping
        # keys must be the Program's), or just a nonideal block on the Program's design
        if design is None:
            design = program.design
        elif isinstance(design, NonidealSpec):
            design = program.design.replace(nonideal=asdict(design))
        else:

            check_same_design(program.design, design, "the chip's design")
        self.design: Design = design
        self.spec = design.nonideal
        self.index = index
        base = self.spec.seed * 1_000_003 + index
        gen = torch.Generator().manual_seed(base)
        self.noise_gen = torch.Generator().manual_seed(base + 500_009)
        fmap = load_fault_map(self.spec.saf.map, program) if self.spec.saf.map else None
        self.layers = {
            name: self._layer(name, lp, gen, fmap[name] if fmap else None, irdrop_cache)
            for name, lp in program.layers.items()
        }

    # ------------------------------------------------------------------ per layer
    def _layer(self, name: str, lp: LayerProgram, gen, fmap, cache) -> LayerChip:
        d, spec = self.design, self.spec
        levels = lp.levels
        if fmap is None and (spec.saf.sa0 or spec.saf.sa1):
            fmap = fault_codes(levels.shape, spec.saf, gen)
        stored, faults = levels, torch.zeros(0, 4, dtype=torch.int64)
        if fmap is not None:
            top = d.cell_max
            sa0_level, sa1_level = (top, 0) if spec.saf.sa0_state == "on" else (0, top)
            stuck = torch.where(fmap == 1, sa0_level, sa1_level).to(torch.uint8)
            stored = torch.where(fmap > 0, stuck, levels)
            idx = (fmap > 0).nonzero()
            faults = torch.cat([idx, stored[fmap > 0].to(torch.int64).unsqueeze(1)], 1)
        correction = None
        if fmap is not None and spec.saf.correct:
            correction = layer_weights(levels, lp.k_in, lp.n_out, d) - layer_weights(stored, lp.k_in, lp.n_out, d)

        # conductances (S) with the reference column appended: [n, R, C + 1]
        n, R, C = levels.shape
        g_off, dG = d.device.g_off, (d.device.g_on - d.device.g_off) / d.cell_max
        lv = torch.cat([stored.to(torch.float64), torch.zeros(n, R, 1, dtype=torch.float64)], -1)
        if spec.variation.sigma:
            var = spec.variation.sigma * torch.randn(lv.shape, generator=gen, dtype=torch.float64)
            if fmap is not None:  # stuck cells are pinned, not programmed
                var[..., :C][fmap > 0] = 0.0
            lv = lv + var
        g = (g_off + lv * dG).clamp(min=g_off * 1e-3)  # a conductance stays positive

        w_eff = None
        if spec.ir_drop.enabled:
            key = (name, index_free_key(g)) if cache is not None else None
            if key is not None and key in cache:
                g_eff = cache[key]
            else:

                ir = spec.ir_drop
                g_eff = effective_conductances(g, ir.r_row, ir.r_col, ir.r_source, ir.r_sense)
                if key is not None:
                    cache[key] = g_eff
            w_eff = (g_eff[..., :C] - g_eff[..., C:]) / dG
        elif spec.variation.sigma:
            w_eff = lv[..., :C] - lv[..., C:]

        noise = spec.noise
        v_unit = d.device.v_read / d.digit_max  # V per digit step
        df = d.device.read_frequency
        s_unit = dG * v_unit  # A per unit of S
        thermal = rtn = None
        if noise.thermal:
            g_sum = g[..., :C].sum(1) + g[..., C:].sum(1)  # [n, C]: column and its reference
            thermal = 4 * K_BOLTZMANN * d.device.temperature * df * g_sum / s_unit**2
        if noise.rtn:
            ab = noise.rtn_b * g + noise.rtn_a
            dg_rtn = (g * ab / (g - ab)).clamp(min=0)  # PytorX's fit; zero where G <= bG + a
            p = noise.rtn_probability
            # two-state cells: mean p*dG, variance p(1-p)*dG^2 per cell, summed over the
            # column and its reference column (both in level units)
            cell_var = p * (1 - p) * (dg_rtn / dG) ** 2
            rtn = cell_var[..., :C] + cell_var[..., C:]
            mean = p * (dg_rtn[..., :C] - dg_rtn[..., C:]) / dG
            w_eff = (w_eff if w_eff is not None else lv[..., :C] - lv[..., C:]) + mean
        return LayerChip(stored, faults, w_eff, thermal, rtn, noise.shot, correction)

    def read_noise(self) -> ReadNoise | None:
        n = self.spec.noise
        if not (n.thermal or n.shot or n.rtn):
            return None
        d = self.design
        dG = (d.device.g_on - d.device.g_off) / d.cell_max
        v_unit = d.device.v_read / d.digit_max
        two_q_df = 2 * Q_ELECTRON * d.device.read_frequency
        # I_col + I_ref = v_unit * (dG * S + 2 * g_off * digit_sum); sigma_I^2 = 2 q I df
        per_s = two_q_df * v_unit * dG / (dG * v_unit) ** 2 if n.shot else 0.0
        per_digit = two_q_df * v_unit * 2 * d.device.g_off / (dG * v_unit) ** 2 if n.shot else 0.0
        return ReadNoise(self.noise_gen, per_s, per_digit)

    def profile(self, program: Program) -> None:
        """One-time profiling: write each layer's fault table into the Program."""
        for name, lc in self.layers.items():
            program.layers[name].faults = lc.faults.clone()


def index_free_key(g: torch.Tensor) -> tuple:
    """A cache key for conductances: chips whose G are equal share one IR-drop solve."""
    return (tuple(g.shape), hash(g.numpy().tobytes()))


def attach_chip(mapped: torch.nn.Module, chip: Chip | None) -> torch.nn.Module:
    """Run ``mapped`` as that chip (None: back to the golden crossbars)."""

    noise = chip.read_noise() if chip is not None else None
    for layer in mapped_layers(mapped):
        layer.chip = chip.layers[layer.lp.name] if chip is not None else None
        layer.noise = noise
        layer.reset_engine()
    return mapped
