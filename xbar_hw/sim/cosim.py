"""Co-simulation of the generated PE tile against the torch golden model.

:func:`cosim` loads one PE's worth of crossbars into the tile and streams MVMs through it:

- what the tile holds (:class:`TileLoad`): either the first PE of one layer of a Program,
  as a task sees it (:func:`xbar_hw.core.switch.task_view`: the task's mask codes, its
  reprogrammed crossbars and head), with the layer's profiled stuck-at faults; or a seeded
  random load (:func:`random_load`) that exercises every mask code, gated columns, ADC
  clipping and rounding ties, all-max levels and inputs, and faults on the first and last
  rows and columns;
- the host writes the cells through ``prog`` (the cells that differ from the power-on
  level 0; a stuck cell gets its stuck level, since the behavioural array has no stuck
  cells of its own), then ADC shifts, mask codes, fault tables (one entry per weight whose
  stored value differs from the intended one), colsums (signed designs) and output groups
  through ``cfg``;
- the inputs: a Program's layer gets real activation vectors, the crossbar inputs x_u of
  that layer (:meth:`MappedLayer.input_rows`) on images of the Program's data set through
  the mapped network (with the task's masks); a random load gets seeded random inputs in
  the design's range;
- the golden output of each beat: per crossbar, ``crossbar_mvm`` on the stored levels, the
  SAF correction sum_r x_u[r] * (w - w_stored)[r, j], the signed-input offset from the
  intended weights, ``apply_column_masks``; summed over the crossbars of each group;
- cycles per MVM, measured from the clock-edge numbers of the transfers (input beat through
  last output beat, minus the cycles the output was stalled), against
  :func:`xbar_hw.core.cycles.cycles_per_mvm`; the tile's event counters against the cell
  writes and :func:`xbar_hw.core.cycles.adc_conversions`.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..core.design import Design, load_design
from ..core.errors import XbarError, field_error
from ..xbar.convert import build_network

#: beats of a mismatch report kept in the result
EXAMPLES = 5


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

    @property
    def vectors(self) -> int:
        return int(self.x.shape[0])

    def gated(self) -> list[int]:
        return [sum(1 for c in codes if c == 0) for codes in self.codes]


# --------------------------------------------------------------------------- loads


def _as_design(design) -> Design:
    if isinstance(design, Design):
        return design
    if isinstance(design, (str, Path)):
        return load_design(design)
    raise XbarError(f"design: got {type(design).__name__}; allowed: an xbar_hw.Design or a design file path")


def _levels(design: Design, gen: torch.Generator, kind: str, density: float = 1.0) -> torch.Tensor:
    from ..core.mapping import map_weights

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


def _stuck_levels(design: Design, intended: torch.Tensor, cells) -> torch.Tensor:
    stored = intended.clone()
    for r, c, level in cells:
        stored[r, c] = level
    return stored


def _fault_table(design: Design, intended: torch.Tensor, stored: torch.Tensor, correct: bool = True) -> list:
    from ..core.mapping import fault_entries

    return fault_entries(intended, stored, design) if correct else []


def random_load(design: Design, seed: int = 0, vectors: int = 16, density: float = 1.0) -> TileLoad:
    """A seeded random PE: random mapped weights, with position 0 at the top level of the
    positive polarity and position 1 (N >= 3) of the negative one; per-crossbar ADC shifts
    that cycle through the design's, 0, one less (clips), one more and a random one (one
    less on the all-top-level crossbar, so that the ADC clips); mask
    codes that cycle through every code, 0 (gated) included; a few stuck cells per crossbar,
    the corners (first and last row, first and last used column) among them; random output
    groups; seeded random inputs, the first vectors all-max and all-min. ``density`` < 1
    keeps that fraction of the weights (the rest 0): fewer cells to write on large designs."""
    from ..rtl.params import rtl_params

    d = design
    p = rtl_params(d)
    N, R, C, L = d.pe.crossbars, d.crossbar.rows, d.crossbar.cols, d.logical_cols
    used_cols = L * d.cols_per_logical
    gen = torch.Generator().manual_seed(int(seed))
    pick = lambda n: int(torch.randint(0, n, (1,), generator=gen))  # noqa: E731

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

    # stuck cells: a few random ones per crossbar; the corners on the first and last crossbar
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
        st = _stuck_levels(d, intended[n], triples)
        stored.append(st)
        faults.append(_fault_table(d, intended[n], st))
        stuck += [(n, r, c, lv) for r, c, lv in triples]

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
                    {"kind": "random", "seed": int(seed), "levels": kinds}, stuck)


def _program_data(program, task: str | None, seed: int):
    """The data set whose images feed the layer: the task's own data when it is a built-in
    task (or a folder), else the Program's base task or the data it was mapped with."""
    from ..workload.data import load_dataset
    from ..workload.tasks import TASKS, load_task

    meta = program.meta or {}
    names = []
    if task is not None:
        entry = program.task(task)
        names += [entry.meta.get("task"), entry.name]
    names += [meta.get("base_task"), meta.get("data")]
    for name in names:
        if name and (name in TASKS or Path(str(name)).is_dir()):
            return load_task(name, int(meta.get("seed", 0))), name
        if name in ("mnist5k", "digits"):
            return load_dataset(name, seed=int(meta.get("seed", 0))), name
    if meta.get("data"):
        return load_dataset(meta["data"], seed=int(meta.get("seed", 0)), image_size=int(meta.get("image_size") or 28),
                            channels=int(meta.get("channels") or 1)), meta["data"]
    raise XbarError("program: its meta names no data set (data or base_task); allowed: a Program made by "
                    "xbar-hw map, backbone or adapt, or --program random")


@torch.no_grad()
def layer_inputs(view, masks: dict, layer: str, data, vectors: int, seed: int = 0) -> torch.Tensor:
    """Crossbar input vectors x_u [vectors, K] (int64) of ``layer``: images of ``data``'s
    test split through the mapped network ``view`` (with ``masks``), the layer's
    ``input_rows`` of its quantized input; a seeded sample of them."""
    from ..xbar.layers import mapped_layers, set_column_masks

    net = set_column_masks(build_network(view), masks or None)
    target = next(m for m in mapped_layers(net) if m.lp.name == layer)
    rows: list[torch.Tensor] = []
    hook = target.register_forward_pre_hook(
        lambda mod, args: rows.append(mod.input_rows(mod.quantize_input(args[0])).to(torch.int64)))
    images = data.x_test if len(data.x_test) else data.x_train
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(int(seed)))
    want, got, i, batch = 4 * vectors, 0, 0, 16
    try:
        while got < want and i < len(images):
            net(images[order[i : i + batch]])
            got = sum(r.shape[0] for r in rows)
            i += batch
    except RuntimeError as exc:
        raise XbarError(f"program: its network does not run on {data.name} images {list(images.shape[1:])} "
                        f"({str(exc).splitlines()[0]})") from None
    finally:
        hook.remove()
    allrows = torch.cat(rows)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    if len(allrows) >= vectors:
        idx = torch.randperm(len(allrows), generator=gen)[:vectors]
    else:
        idx = torch.randint(0, len(allrows), (vectors,), generator=gen)
    return allrows[idx]


def check_program(design: Design, program, task: str | None, layer: str | None) -> str:
    """The cheap checks of a Program argument (its design, the task, the layer); returns
    the layer name."""
    from ..core.program import Program, check_same_design
    from ..core.switch import task_view

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


def program_load(design: Design, program, task: str | None = None, layer: str | None = None, vectors: int = 16,
                 seed: int = 0) -> tuple[TileLoad, dict]:
    """The first PE of ``layer`` (default: the Program's first layer) as ``task`` sees it.
    Returns the load and {"view", "masks", "layer", "data"} for the golden cross-check."""
    from ..core.mapping import fault_entries
    from ..core.switch import task_view
    from ..rtl.params import default_mask_code

    d = design
    layer = check_program(d, program, task, layer)
    view, masks = task_view(program, task)
    lp = view.layers[layer]
    N, R, C, L = d.pe.crossbars, d.crossbar.rows, d.crossbar.cols, d.logical_cols
    n_rb, n_cb = lp.grid(d)
    used = min(N, lp.n_crossbars)
    zero = torch.zeros(R, C, dtype=torch.uint8)
    intended = [lp.levels[n].to(torch.uint8).clone() if n < used else zero.clone() for n in range(N)]
    shifts = [int(lp.adc_shift[n]) if n < used else d.adc_shift for n in range(N)]
    layer_codes = masks.get(layer)
    codes = []
    for n in range(N):
        if n >= used:
            codes.append([0] * L)  # an empty slot converts nothing
            continue
        cb = n // n_rb
        row = [int(c) for c in layer_codes[n]] if layer_codes is not None else [default_mask_code(d)] * L
        # logical columns past the layer's outputs hold no weight: gated, as the cost model counts them
        codes.append([c if cb * L + j < lp.n_out else 0 for j, c in enumerate(row)])
    stored = [lv.clone() for lv in intended]
    stuck = []
    if lp.faults is not None and len(lp.faults):
        for xb, r, c, level in lp.faults.to(torch.int64).tolist():
            if xb < used:
                stored[xb][r, c] = level
                stuck.append((xb, r, c, level))
    correct = d.nonideal.saf.correct
    faults = [fault_entries(intended[n], stored[n], d) if correct else [] for n in range(N)]
    group = [n // n_rb if n < used else n for n in range(N)]
    groups = -(-used // n_rb)

    data, data_name = _program_data(program, task, seed)
    x_u = layer_inputs(view, masks, layer, data, vectors, seed)  # [V, K]
    off = d.input_offset
    x = torch.zeros(vectors, N, R, dtype=torch.int64)
    for n in range(used):
        rb = n % n_rb
        r0, r1 = rb * R, min(lp.k_in, rb * R + R)
        x[:, n, : r1 - r0] = x_u[:, r0:r1] - off  # rows past the layer's inputs: x = 0
    load = TileLoad(d, used, intended, stored, shifts, codes, faults, group, groups, x,
                    {"kind": "program", "layer": layer, "task": task, "data": data_name, "pe": int(lp.first_pe),
                     "crossbars": [0, used], "grid": [n_rb, n_cb]}, stuck)
    return load, {"view": view, "masks": masks, "layer": layer, "x_u": x_u}


# --------------------------------------------------------------------------- golden model


def golden(load: TileLoad) -> torch.Tensor:
    """Expected output beats, int64 [V, groups, L]: per crossbar, crossbar_mvm on the stored
    levels; + the SAF correction sum_r x_u[r] (w - w_stored)[r, j]; the signed-input offset
    from the intended weights (as the colsum registers hold it); the column mask; summed
    over the crossbars of each group (spec section 3's order)."""
    from ..core.mapping import unmap_levels
    from ..xbar.golden import apply_column_masks, crossbar_mvm

    d = load.design
    off = d.input_offset
    V, L = load.vectors, d.logical_cols
    out = torch.zeros(V, load.groups, L, dtype=torch.int64)
    for n in range(d.pe.crossbars):
        if load.group[n] >= load.groups:
            continue
        x = load.x[:, n, :]
        p = crossbar_mvm(load.stored[n], x, d, adc_shift=load.shifts[n])  # ADC(stored) - off * colsum(stored)
        w_i, w_s = unmap_levels(load.intended[n], d), unmap_levels(load.stored[n], d)
        delta = torch.zeros_like(w_i)
        for r, j, dl in load.faults[n]:
            delta[r, j] = dl
        pre = p + off * (w_s.sum(0) - w_i.sum(0)) + (x + off) @ delta
        codes = torch.tensor(load.codes[n], dtype=torch.int64)
        masked = apply_column_masks(pre.to(torch.float64).unsqueeze(0), codes.unsqueeze(0), d)
        out[:, load.group[n]] += masked.round().to(torch.int64)
    return out


def check_against_layer(load: TileLoad, expected: torch.Tensor, ctx: dict) -> dict:
    """Cross-check of the per-crossbar golden model against the mapped layer itself: for
    every output group that holds all row blocks of its column block (and no stuck cell),
    the beat must equal the layer's own crossbar-path P for those outputs."""
    from ..xbar.layers import mapped_layers, set_column_masks

    if load.stuck:
        return {"groups_checked": 0, "ok": True, "skipped": "stuck cells (the layer path has no chip)"}
    d = load.design
    L = d.logical_cols
    n_rb, _ = load.source["grid"]
    net = set_column_masks(build_network(ctx["view"]), ctx["masks"] or None)
    m = next(m for m in mapped_layers(net) if m.lp.name == ctx["layer"])
    with torch.no_grad():
        p = m.crossbar_rows(ctx["x_u"].to(m.w_int.device)).round().to(torch.int64)  # [V, N_out]
    checked, ok = 0, True
    for g in range(load.groups):
        if (g + 1) * n_rb > load.used:
            continue  # a partial column block: no layer output to compare with
        cols = min(L, m.lp.n_out - g * L)
        ok &= torch.equal(expected[:, g, :cols], p[:, g * L : g * L + cols])
        ok &= bool((expected[:, g, cols:] == 0).all())
        checked += 1
    return {"groups_checked": checked, "ok": bool(ok)}


def coverage(load: TileLoad) -> dict:
    """What this load exercises: mask codes, gated columns, ADC conversions that clip or
    hit a rounding tie (S + h a multiple of 2^a with a > 0), all-max crossbars and inputs,
    faults on the first and last rows and columns."""
    from ..xbar.golden import input_digits

    d = load.design
    R, L, two_s = d.crossbar.rows, d.logical_cols, d.cols_per_logical
    ties = clipped = conversions = 0
    for n in range(load.used):
        active = [j * two_s + k for j, c in enumerate(load.codes[n]) if c for k in range(two_s)]
        if not active:
            continue
        x_u = load.x[:, n, :] + d.input_offset
        digits = input_digits(x_u, d, torch.float64)  # [T, V, R]
        S = (digits @ load.stored[n][:, active].to(torch.float64)).to(torch.int64)
        a = load.shifts[n]
        h = (1 << (a - 1)) if a else 0
        conversions += S.numel()
        clipped += int((((S + h) >> a) > d.adc_max).sum())
        if a:
            ties += int(((S & ((1 << a) - 1)) == h).sum())
    lo, hi = d.input_range
    codes = sorted({c for n in range(load.used) for c in load.codes[n]})
    used_cols = L * two_s
    rows = {r for _, r, _, _ in load.stuck}
    cols = {c for _, _, c, _ in load.stuck}
    tables = [len(f) for f in load.faults]
    return {
        "mask_codes": codes,
        "gated_columns": sum(load.gated()[: load.used]),
        "conversions": conversions,
        "adc_clipped": clipped,
        "adc_ties": ties,
        "shifts": sorted(set(load.shifts[: load.used])),
        "max_level_crossbars": [n for n in range(load.used) if load.source.get("levels", [None] * (n + 1))[n] in ("max+", "max-")],
        "all_max_inputs": int((load.x[:, : load.used] == hi).flatten(1).all(1).sum()),
        "all_min_inputs": int((load.x[:, : load.used] == lo).flatten(1).all(1).sum()),
        "stuck_cells": len(load.stuck),
        "fault_entries": sum(tables),
        "faults_first_row": 0 in rows, "faults_last_row": R - 1 in rows,
        "faults_first_col": 0 in cols, "faults_last_col": used_cols - 1 in cols,
    }


# --------------------------------------------------------------------------- beats and script


def prog_beats(load: TileLoad) -> list[list[int]]:
    """[xbar, row, col, level] for every cell whose level differs from the power-on 0."""
    from ..rtl.driver import program_beats

    out = []
    for n, lv in enumerate(load.stored):
        out += [[b["xbar"], b["row"], b["col"], b["level"]]
                for b in program_beats(lv, n, previous=torch.zeros_like(lv))]
    return out


def cfg_beats(load: TileLoad) -> list[list[int]]:
    """[target, xbar, index, data]: ADC shift, mask codes, fault table, colsums (signed
    designs), group of every position, then the number of output groups."""
    from ..rtl import driver

    d = load.design
    beats = []
    for n in range(d.pe.crossbars):
        colsum = driver.colsums(load.intended[n], d) if d.inputs.signed else None
        beats += driver.config_beats(d, n, shift=load.shifts[n], codes=load.codes[n], faults=load.faults[n],
                                     colsum=colsum, group=load.group[n])
    beats.append(driver.groups_beat(load.groups))
    return [[b["target"].value, b["xbar"], b["index"], b["data"]] for b in beats]


def _compute_cycles(load: TileLoad) -> int:
    from ..core.cycles import mvm_phases

    return mvm_phases(load.design, gated=load.gated(), n_faults=[len(f) for f in load.faults],
                      groups=load.groups)["compute"]


def build_script(load: TileLoad, prog: list, cfg: list, expected_cycles: int, reset_mid: bool) -> list[dict]:
    xs = load.x.tolist()
    script = [{"op": "prog", "beats": prog}, {"op": "cfg", "beats": cfg}, {"op": "counters"}]
    if reset_mid:
        k = _compute_cycles(load)
        script += [{"op": "reset", "vector": xs[0], "after": 1 + k // 2, "quiet": expected_cycles + 8},
                   {"op": "counters"}, {"op": "cfg", "beats": cfg}]
    script += [{"op": "mvm", "vectors": xs}, {"op": "counters"}]
    return script


# --------------------------------------------------------------------------- comparison


def compare(load: TileLoad, expected: torch.Tensor, results: dict, expected_cycles: int, prog: list, cfg: list,
            reset_mid: bool, backpressure: float) -> dict:
    """Every output beat against the golden model; cycles; counters; protocol."""
    from ..core.cycles import adc_conversions

    d = load.design
    errors = list(results.get("errors", []))
    ops = results.get("ops", [])
    by = {}
    for op in ops:
        by.setdefault(op["op"], []).append(op)
    V, G = load.vectors, load.groups
    report: dict = {}
    mvm = by.get("mvm", [None])[-1]
    mismatches, examples, cycles, ii = 0, [], [], []
    stall_total = 0
    if mvm is None:
        errors.append("no MVM result (the script did not finish)")
        mismatches = V * G
    else:
        beats, stalls, x_edges = mvm["beats"], sorted(mvm["stalls"]), mvm["x_edges"]
        stall_total = len(stalls)
        per, cur = [], []
        for b in beats:
            cur.append(b)
            if b[2]:
                per.append(cur)
                cur = []
        if cur:
            per.append(cur)
        if len(per) != V or len(x_edges) != V:
            errors.append(f"got {len(per)} MVM results for {len(x_edges)} inputs; expected {V}")
        exp = expected.tolist()
        for i in range(V):
            got = per[i] if i < len(per) else []
            for g in range(G):
                beat = got[g] if g < len(got) else None
                ok = beat is not None and beat[1] == g and bool(beat[2]) == (g == G - 1) and beat[3] == exp[i][g]
                if not ok:
                    mismatches += 1
                    if len(examples) < EXAMPLES:
                        examples.append({"vector": i, "group": g, "expected": exp[i][g],
                                         "got": None if beat is None else {"group": beat[1], "last": beat[2], "p": beat[3]}})
            if len(got) > G:
                mismatches += len(got) - G
            if got and i < len(x_edges):
                lo, hi = x_edges[i], got[-1][0]
                st = sum(1 for e in stalls if lo < e <= hi)
                cycles.append(hi - lo + 1 - st)
        ii = [b - a for a, b in zip(x_edges, x_edges[1:])]
    report["mismatches"] = mismatches
    report["mismatch_examples"] = examples
    report["cycles_per_mvm"] = max(cycles) if cycles else None
    report["cycles_per_mvm_measured"] = sorted(set(cycles))
    report["cycles_expected"] = expected_cycles
    report["cycles_match"] = bool(cycles) and len(cycles) == V and all(c == expected_cycles for c in cycles)
    report["initiation_interval"] = sorted(set(ii)) if backpressure == 0 else None
    report["stall_cycles"] = stall_total

    # the tile's counters: cell writes since reset, ADC conversions of the streamed MVMs
    counters = by.get("counters", [])
    per_xbar = [0] * d.pe.crossbars
    for b in prog:
        per_xbar[b[0]] += 1
    conv_exp = V * adc_conversions(d, gated=load.gated())
    cnt = {"writes": counters[0]["writes"] if counters else None, "writes_expected": per_xbar,
           "conversions": counters[-1]["conversions"] if counters else None, "conversions_expected": conv_exp}
    ok = bool(counters) and counters[0]["writes"] == per_xbar and counters[0]["changes"] == per_xbar \
        and counters[-1]["conversions"] == conv_exp
    if reset_mid and len(counters) >= 2:  # right after the reset: every counter back at 0
        ok &= counters[1]["writes"] == [0] * d.pe.crossbars and counters[1]["conversions"] == 0
    cnt["ok"] = bool(ok)
    report["counters"] = cnt

    if reset_mid:
        r = by.get("reset", [None])[-1]
        if r is None:
            report["reset"] = {"ok": False}
        else:
            r_ok = (r["busy_before"] and not r["after_reset"]["busy"] and r["after_reset"]["x_ready"]
                    and not r["after_reset"]["p_valid"] and not r["leaked"])
            report["reset"] = {**{k: r[k] for k in ("busy_before", "after_reset")}, "leaked_beats": len(r["leaked"]),
                               "cycles_after_input": r["reset_edge"] - r["x_edge"], "ok": bool(r_ok)}

    # the monitors' view of the input ports: what transferred, in order
    mon = results.get("monitors", {})
    if mon:
        from .xbar_layout import port_layouts

        lay = port_layouts(json.loads(Path(results["ports"]).read_text())) if "ports" in results else None
        sent_x = ([load.x[0].tolist()] if reset_mid else []) + load.x.tolist()
        x_ok = len(mon.get("x", [])) == len(sent_x)
        if x_ok and lay is not None:
            x_ok = [raw for _, raw in mon["x"]] == [lay["x__payload"].pack(v) for v in sent_x]
        edges_ok = mvm is None or [e for e, _ in mon.get("x", [])][-V:] == mvm["x_edges"]
        report["monitors"] = {"prog": len(mon.get("prog", [])), "cfg": len(mon.get("cfg", [])),
                              "x": len(mon.get("x", [])),
                              "ok": bool(x_ok and edges_ok and len(mon.get("prog", [])) == len(prog)
                                         and len(mon.get("cfg", [])) == len(cfg) * (2 if reset_mid else 1))}
    report["protocol_errors"] = errors
    return report


# --------------------------------------------------------------------------- entry point


def default_build_dir(design: Design) -> Path:
    key = hashlib.sha256(json.dumps(design.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "xbar_hw_cosim" / f"{design.name}-{key}"


def _check_int(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise field_error(name, value, f"an integer >= {lo}")
    return value


def cosim(design, program=None, seed: int = 0, task: str | None = None, layer: str | None = None, vectors: int = 16,
          sim: str = "icarus", build_dir=None, *, backpressure: float = 0.0, reset_mid: bool = False,
          density: float = 1.0, event_driven: bool = True) -> dict:
    """Co-simulate the PE tile of ``design`` against the golden model (module docstring).

    ``program``: None (a seeded random load) or a Program for ``design``; ``task`` and
    ``layer`` pick what of it the tile holds; ``vectors`` MVMs are streamed back to back;
    ``sim``: "icarus" or "verilator"; ``build_dir``: where the Verilog, the simulator build
    and the run files go (default: a folder per design under the system's temp folder);
    ``backpressure``: chance per cycle that the output sink holds ready low; ``reset_mid``:
    first reset the tile in the middle of an MVM (nothing may come out, the cells must stay);
    ``density``: the fraction of non-zero weights of a random load (fewer cell writes).

    Returns {"vectors", "mismatches", "cycles_per_mvm", "cycles_expected", "cycles_match",
    "sim_seconds", "vectors_per_second", "ok", ...}; "ok" is false on any mismatching beat,
    cycle count, counter or protocol error.
    """
    from ..core.cycles import cycles_per_mvm
    from ..rtl.params import rtl_params
    from .runner import build_rtl, run_testbench, simulator_paths

    t_start = time.perf_counter()
    design = _as_design(design)
    rtl_params(design)  # a design the RTL cannot build: one-line XbarError
    _check_int("seed", seed, 0)
    _check_int("vectors", vectors, 1)
    if isinstance(backpressure, bool) or not isinstance(backpressure, (int, float)) or not 0 <= backpressure < 1:
        raise field_error("backpressure", backpressure, "a number in [0, 1)")
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 < density <= 1:
        raise field_error("density", density, "a number in (0, 1]")
    if program is None:
        if task is not None:
            raise field_error("task", task, "none with a random Program")
        if layer is not None:
            raise field_error("layer", layer, "none with a random Program")
    else:
        if density != 1:
            raise field_error("density", density, "1 with a Program (it applies to random loads)")
        check_program(design, program, task, layer)
    simulator_paths(sim)  # a missing simulator: one-line XbarError naming the install command
    if program is None:
        load, ctx = random_load(design, seed, vectors, density), None
    else:
        load, ctx = program_load(design, program, task, layer, vectors, seed)
    expected = golden(load)
    layer_check = check_against_layer(load, expected, ctx) if ctx is not None else None
    exp_cycles = cycles_per_mvm(design, gated=load.gated(), n_faults=[len(f) for f in load.faults], groups=load.groups)
    prog, cfg = prog_beats(load), cfg_beats(load)
    script = build_script(load, prog, cfg, exp_cycles, reset_mid)
    stall_factor = 1 + (20 * backpressure / (1 - backpressure) if backpressure else 0)
    max_cycles = 2 * (len(prog) + 2 * len(cfg) + (vectors + 2) * int(exp_cycles * stall_factor + 4)) + 10_000
    stimulus = {"script": script, "max_cycles": max_cycles,
                "tb": {"backpressure": float(backpressure), "seed": int(seed), "event_driven": bool(event_driven)}}

    build_dir = Path(build_dir) if build_dir is not None else default_build_dir(design)
    t_rtl = time.perf_counter()
    rtl = build_rtl(design, build_dir)
    rtl_seconds = time.perf_counter() - t_rtl
    results = run_testbench(rtl, build_dir, sim, stimulus, seed)
    results["ports"] = str(rtl["ports"])
    report = compare(load, expected, results, exp_cycles, prog, cfg, reset_mid, backpressure)

    stream = next((op["seconds"] for op in reversed(results.get("ops", [])) if op["op"] == "mvm"), None)
    ok = (report["mismatches"] == 0 and report["cycles_match"] and report["counters"]["ok"]
          and not report["protocol_errors"] and report.get("monitors", {}).get("ok", True)
          and report.get("reset", {}).get("ok", True) and (layer_check is None or layer_check["ok"]))
    return {
        "design": design.name,
        "sim": sim,
        "source": load.source,
        "seed": int(seed),
        "vectors": vectors,
        "beats": vectors * load.groups,
        **report,
        "groups": load.groups,
        "gated": load.gated(),
        "fault_entries": [len(f) for f in load.faults],
        "shifts": load.shifts,
        "golden_vs_layer": layer_check,
        "coverage": coverage(load),
        "backpressure": backpressure,
        "reset_mid": reset_mid,
        "density": density if program is None else None,
        "prog_beats": len(prog),
        "cfg_beats": len(cfg),
        "rtl_seconds": round(rtl_seconds, 3),
        "sim_build_seconds": round(results["build"]["seconds"], 3),
        "sim_build_cached": results["build"]["cached"],
        "sim_seconds": round(results["sim_seconds"], 3),
        "stream_seconds": None if stream is None else round(stream, 4),
        "vectors_per_second": None if not stream else round(vectors / stream, 1),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "build_dir": str(build_dir),
        "ok": bool(ok),
    }
