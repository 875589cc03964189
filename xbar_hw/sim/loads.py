"""What the PE tile holds in one co-simulation (:class:`TileLoad`), and where it comes from:

- :func:`random_load`: a seeded random PE that exercises every mask code, gated columns,
  ADC clipping and rounding ties, all-max levels and inputs, and stuck cells on the first
  and last rows and columns;
- :func:`program_load`: the first PE of one layer of a Program as a task sees it
  (:func:`xbar_hw.core.switch.task_view`: the task's mask codes, its reprogrammed
  crossbars and head), with the layer's profiled stuck-at faults and real activations
  (:mod:`.inputs`);
- :func:`fault_free_load`: levels, inputs, shifts and codes given by hand (the Amaranth
  tests' loads).

A stuck cell holds its stuck level (``stored``); the fault table (one entry per weight
whose stored value differs from the intended one) corrects it when the design's SAF
correction is on. A table holds the first ``design.fault_table_entries`` entries (row-major);
the others overflow it (``TileLoad.overflow``) and go uncorrected, in the RTL and in the
golden PE alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..core.design import Design, load_design
from ..core.errors import XbarError, field_error
from ..core.mapping import fault_entries, map_weights
from ..core.program import Program, check_same_design
from ..core.switch import task_view
from ..rtl.params import default_mask_code, rtl_params
from .inputs import program_inputs, tile_inputs


@dataclass
class TileLoad:
    """Everything the PE tile holds for one co-simulation, per tile position n (0 .. N-1)."""

    design: Design
    used: int                             # positions holding a crossbar of the layer
    intended: list[torch.Tensor]          # uint8 [R, C]: the levels the Program wants
    stored: list[torch.Tensor]            # uint8 [R, C]: what the cells hold (stuck cells)
    shifts: list[int]
    codes: list[list[int]]                # [L] mask codes
    faults: list[list[tuple[int, int, int]]]  # fault table: (row, logical column, delta)
    group: list[int]
    groups: int
    x: torch.Tensor                       # int64 [V, N, R]: the tile's inputs (signed designs: signed)
    source: dict = field(default_factory=dict)
    stuck: list[tuple[int, int, int, int]] = field(default_factory=list)  # (n, row, col, level)
    adc_bits: list[int] | None = None     # per position: its ADC bits (TinyADC); None: the design's
    overflow: dict[int, int] = field(default_factory=dict)  # position -> faulty weights past its table

    @property
    def vectors(self) -> int:
        return int(self.x.shape[0])

    def gated(self) -> list[int]:
        return [sum(1 for c in codes if c == 0) for codes in self.codes]


def as_design(design) -> Design:
    """A Design, or the Design of a design file."""
    if isinstance(design, Design):
        return design
    if isinstance(design, (str, Path)):
        return load_design(design)
    raise XbarError(f"design: got {type(design).__name__}; allowed: an xbar_hw.Design or a design file path")


def fit_tables(design: Design, tables: list[list[tuple[int, int, int]]]) -> tuple[list[list], dict[int, int]]:
    """The fault tables as the tile holds them, each cut at ``design.fault_table_entries``
    entries, and {position: entries dropped} for the tables that overflow."""
    depth = design.fault_table_entries
    return [t[:depth] for t in tables], {n: len(t) - depth for n, t in enumerate(tables) if len(t) > depth}


def fault_free_load(design: Design, levels, x: torch.Tensor, shifts=None, codes=None, group=None,
                    groups: int | None = None) -> TileLoad:
    """A load without stuck cells: ``levels`` [N] of [R, C], inputs ``x`` [V, N, R];
    ``shifts``, ``codes``, ``group`` and ``groups`` default to the tile's reset
    configuration (the design's shift, the identity mask code, every crossbar its own
    group)."""
    d = design
    N, L = d.pe.crossbars, d.logical_cols
    levels = [torch.as_tensor(lv).to(torch.uint8) for lv in levels]
    return TileLoad(
        d, N, levels, [lv.clone() for lv in levels],
        [d.adc_shift] * N if shifts is None else [int(a) for a in shifts],
        [[default_mask_code(d)] * L] * N if codes is None else [[int(c) for c in row] for row in codes],
        [[] for _ in range(N)], list(range(N)) if group is None else list(group), N if groups is None else groups,
        torch.as_tensor(x).to(torch.int64), {"kind": "fault-free"})


# --------------------------------------------------------------------------- random loads


def _levels(design: Design, gen: torch.Generator, kind: str, density: float = 1.0) -> torch.Tensor:
    R, L, s = design.crossbar.rows, design.logical_cols, design.slices
    keep = torch.rand(R, L, generator=gen) < density if density < 1 else torch.ones(R, L, dtype=torch.bool)
    if kind in ("max+", "max-"):  # every cell of one polarity at the top level: the largest column sums
        lv = torch.zeros(R, L, 2, s, dtype=torch.uint8)
        lv[:, :, 0 if kind == "max+" else 1, :] = design.cell_max
        lv[~keep] = 0
        out = torch.zeros(R, design.crossbar.cols, dtype=torch.uint8)
        out[:, : L * 2 * s] = lv.reshape(R, -1)
        return out
    wm = design.weight_max
    w = torch.randint(-wm, wm + 1, (R, L), generator=gen) * keep
    return map_weights(w, design)


def _random_stuck(d: Design, intended: list[torch.Tensor], pick) -> tuple[list, list, list]:
    """A few random stuck cells per crossbar, the corners (first and last row, first and
    last used column) on the first and last crossbar: (stored, fault tables, stuck)."""
    N, R, C = d.pe.crossbars, d.crossbar.rows, d.crossbar.cols
    used_cols = d.logical_cols * d.cols_per_logical
    stored, faults, stuck = [], [], []
    for n in range(N):
        cells = {}
        for _ in range(pick(min(6, R * C) + 1)):
            cells[(pick(R), pick(C))] = pick(d.cell_max + 1)
        if n == 0:
            cells[(0, 0)] = d.cell_max if int(intended[n][0, 0]) != d.cell_max else 0
            cells[(R - 1, used_cols - 1)] = d.cell_max
        if n == N - 1:
            cells[(0, used_cols - 1)] = 0 if int(intended[n][0, used_cols - 1]) else d.cell_max
            cells[(R - 1, 0)] = d.cell_max
        triples = sorted((r, c, lv) for (r, c), lv in cells.items())
        st = intended[n].clone()
        for r, c, level in triples:
            st[r, c] = level
        stored.append(st)
        faults.append(fault_entries(intended[n], st, d))
        stuck += [(n, r, c, lv) for r, c, lv in triples]
    return stored, faults, stuck


def random_load(design: Design, seed: int = 0, vectors: int = 16, density: float = 1.0) -> TileLoad:
    """A seeded random PE: random mapped weights, with position 0 at the top level of the
    positive polarity and position 1 (N >= 3) of the negative one; per-crossbar ADC shifts
    that cycle through the design's, 0, one less (clips), one more and a random one (one
    less on the all-top-level crossbar, so that the ADC clips); mask
    codes that cycle through every code, 0 (gated) included; a few stuck cells per crossbar,
    the corners (first and last row, first and last used column) among them; random output
    groups; seeded random inputs, the first vectors all-max and all-min. ``density`` < 1
    keeps that fraction of the weights (the rest 0): fewer cells to write on large designs."""
    d = design
    p = rtl_params(d)
    N, R, L = d.pe.crossbars, d.crossbar.rows, d.logical_cols
    gen = torch.Generator().manual_seed(int(seed))

    def pick(n: int) -> int:
        return int(torch.randint(0, n, (1,), generator=gen))

    kinds = ["random"] * N
    if N >= 2:
        kinds[0] = "max+"
    if N >= 3:
        kinds[1] = "max-"
    if N == 1:
        kinds[0] = ("random", "max+", "max-")[seed % 3]
    intended = [_levels(d, gen, k, density) for k in kinds]

    top_shift = min((1 << p.shift_bits) - 1, p.sum_bits + 1)
    a0 = d.adc_shift
    choices = [a0, 0, max(0, a0 - 1), min(top_shift, a0 + 1)]
    shifts = [choices[(n + seed) % 4] if n < 4 else pick(top_shift + 1) for n in range(N)]
    if kinds[0] != "random":  # the top levels at one shift below the design's: the ADC clips
        shifts[0] = max(0, a0 - 1)

    n_codes = 1 << d.mask.bits
    codes = [[(n * L + j + seed) % n_codes for j in range(L)] for n in range(N)]
    stored, faults, stuck = _random_stuck(d, intended, pick)
    faults, overflow = fit_tables(d, faults)

    n_rb = 1 + seed % N
    group = [n // n_rb for n in range(N)]
    groups = -(-N // n_rb)

    lo, hi = d.input_range
    x = torch.randint(lo, hi + 1, (vectors, N, R), generator=gen, dtype=torch.int64)
    if vectors >= 2:
        x[0] = hi
        x[1] = lo
    if vectors >= 4:
        x[2, :, : R // 2] = hi
    return TileLoad(d, N, intended, stored, shifts, codes, faults, group, groups, x,
                    {"kind": "random", "seed": int(seed), "levels": kinds}, stuck, overflow=overflow)


# --------------------------------------------------------------------------- a Program's layer


def check_program(design: Design, program, task: str | None, layer: str | None) -> str:
    """The cheap checks of a Program argument (its design, the task, the layer); returns
    the layer name."""
    if not isinstance(program, Program):
        raise XbarError(f"program: got {type(program).__name__}; allowed: an xbar_hw.Program or None (random)")
    check_same_design(program.design, design, "the Program")
    view, _ = task_view(program, task)
    names = list(view.layers)
    if layer is None:
        return names[0]
    if layer not in view.layers:
        raise field_error("layer", layer, "one of the Program's layers " + ", ".join(names))
    return layer


def _program_codes(d: Design, lp, layer_codes, used: int, n_rb: int) -> list[list[int]]:
    """Mask codes per tile position: the task's (default: the identity code); logical
    columns past the layer's outputs, and empty positions, gated."""
    L = d.logical_cols
    codes = []
    for n in range(d.pe.crossbars):
        if n >= used:
            codes.append([0] * L)  # an empty slot converts nothing
            continue
        cb = n // n_rb
        row = [int(c) for c in layer_codes[n]] if layer_codes is not None else [default_mask_code(d)] * L
        # logical columns past the layer's outputs hold no weight: gated, as the cost model counts them
        codes.append([c if cb * L + j < lp.n_out else 0 for j, c in enumerate(row)])
    return codes


def program_load(design: Design, program, task: str | None = None, layer: str | None = None, vectors: int = 16,
                 seed: int = 0) -> tuple[TileLoad, dict]:
    """The first PE of ``layer`` (default: the Program's first layer) as ``task`` sees it.
    Returns the load and {"module", "layer", "x_u"} (the mapped layer under the task's
    masks and its crossbar inputs) for the golden model's cross-check against the layer."""
    d = design
    layer = check_program(d, program, task, layer)
    view, masks = task_view(program, task)
    lp = view.layers[layer]
    N, R, C = d.pe.crossbars, d.crossbar.rows, d.crossbar.cols
    n_rb, n_cb = lp.grid(d)
    used = min(N, lp.n_crossbars)
    zero = torch.zeros(R, C, dtype=torch.uint8)
    intended = [lp.levels[n].to(torch.uint8).clone() if n < used else zero.clone() for n in range(N)]
    shifts = [int(lp.adc_shift[n]) if n < used else d.adc_shift for n in range(N)]
    codes = _program_codes(d, lp, masks.get(layer), used, n_rb)
    stored = [lv.clone() for lv in intended]
    stuck = []
    if lp.faults is not None and len(lp.faults):
        for xb, r, c, level in lp.faults.to(torch.int64).tolist():
            if xb < used:
                stored[xb][r, c] = level
                stuck.append((xb, r, c, level))
    correct = d.nonideal.saf.correct
    faults, overflow = fit_tables(d, [fault_entries(intended[n], stored[n], d) if correct else [] for n in range(N)])
    group = [n // n_rb if n < used else n for n in range(N)]
    groups = -(-used // n_rb)

    module, x_u, data_name = program_inputs(program, task, view, masks, layer, vectors, seed)  # x_u [V, K]
    x = tile_inputs(d, lp, used, x_u)
    bits = None
    if lp.adc_bits is not None:  # empty positions at the design's bits
        bits = [int(lp.adc_bits[n]) if n < used else d.adc.bits for n in range(N)]
    load = TileLoad(d, used, intended, stored, shifts, codes, faults, group, groups, x,
                    {"kind": "program", "layer": layer, "task": task, "data": data_name, "pe": int(lp.first_pe),
                     "crossbars": [0, used], "grid": [n_rb, n_cb]}, stuck, bits, overflow)
    return load, {"module": module, "layer": layer, "x_u": x_u}
