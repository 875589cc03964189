"""The Amaranth RTL of the PE tile, simulated with Amaranth's Python simulator, against
independent references: the golden PE (xbar_hw.sim.golden_pe: crossbar_mvm with ADC
shifts and mask codes), the spec's formulas written out (tests/spec_reference.py), and
the analytic cycle model (xbar_hw.core.cycles)."""

import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

pytest.importorskip("amaranth")

from amaranth.hdl import ClockDomain, Elaboratable, Module  # noqa: E402
from amaranth.sim import Simulator  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st
from spec_reference import ref_column_mask, ref_crossbar_mvm  # noqa: E402

from xbar_hw import XbarError, design_from_dict, load_design  # noqa: E402
from xbar_hw.core.cycles import adc_conversions, cycles_per_mvm, mvm_phases  # noqa: E402
from xbar_hw.core.mapping import (  # noqa: E402
    fault_entries,  # noqa: E402
    map_weights,
    unmap_levels,
)
from xbar_hw.rtl import driver  # noqa: E402
from xbar_hw.rtl.adc import Adc, AdcScheduler  # noqa: E402
from xbar_hw.rtl.array import CrossbarArray  # noqa: E402
from xbar_hw.rtl.macro import CrossbarMacro, cell_image, macro_name  # noqa: E402
from xbar_hw.rtl.mask import ColumnMask  # noqa: E402
from xbar_hw.rtl.params import default_mask_code, rtl_params  # noqa: E402
from xbar_hw.rtl.pe import PeTile  # noqa: E402
from xbar_hw.rtl.saf import SafCorrector  # noqa: E402
from xbar_hw.sim.golden_pe import golden_beats  # noqa: E402
from xbar_hw.sim.loads import fault_free_load  # noqa: E402
from xbar_hw.xbar import apply_column_masks  # noqa: E402

DESIGNS = Path(__file__).resolve().parent.parent / "designs"
TINY = load_design(DESIGNS / "tiny.yaml")

# Hand-made geometries: odd sizes, A not dividing the columns, b_x not a multiple of v,
# signed inputs, unused physical columns, s = 1, mask.bits = 1 and 3. Their clocks give
# small analog settles S = ceil(clock / read_frequency) (10 MHz reads), on both sides of
# the conversion cycles per read c (tiny.yaml has S = c = 4):
# ODD S = 3 < c = 7 (and its SAF test is bound by the fault table), WIDE S = 1 < c = 3,
# LOSSLESS S = 9 > c = 7 (clock 8.5e7: not a whole multiple of the read frequency).
# Their fault tables are full (corrector.entries = R * L, one entry per weight): the SAF
# tests below load tables of every depth up to that.
ODD = design_from_dict({
    "name": "odd", "crossbar": {"rows": 12, "cols": 22, "cell_bits": 2}, "weights": {"bits": 5},
    "inputs": {"bits": 5, "signed": True, "dac_bits": 2}, "adc": {"bits": 4, "per_crossbar": 3},
    "pe": {"crossbars": 3}, "mask": {"bits": 3, "exponents": [-3, -2, -1, 0, 1, 2, 3]},
    "tile": {"clock_hz": 3e7}, "corrector": {"entries": 60},
})
WIDE = design_from_dict({
    "name": "wide", "crossbar": {"rows": 8, "cols": 12, "cell_bits": 3}, "weights": {"bits": 4},
    "inputs": {"bits": 3, "dac_bits": 3}, "adc": {"bits": 6, "per_crossbar": 5},
    "pe": {"crossbars": 2}, "mask": {"bits": 1, "exponents": [0]},
    "tile": {"clock_hz": 1e7}, "corrector": {"entries": 48},
})
LOSSLESS = design_from_dict({
    "name": "lossless_small", "crossbar": {"rows": 8, "cols": 15, "cell_bits": 1}, "weights": {"bits": 8},
    "inputs": {"bits": 4, "signed": True}, "adc": {"bits": 4, "per_crossbar": 2, "shift": 0},
    "pe": {"crossbars": 2}, "tile": {"clock_hz": 8.5e7}, "corrector": {"entries": 8},
})


# --------------------------------------------------------------------------- simulation helpers


class _Top(Elaboratable):
    """The DUT under an explicit sync domain, so that a testbench can drive its reset."""

    def __init__(self, dut):
        self.dut, self.cd = dut, ClockDomain("sync")

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.cd
        m.submodules.dut = self.dut
        return m


def simulate(dut, testbench, clocked=True):
    top = _Top(dut)
    sim = Simulator(top)
    if clocked:
        sim.add_clock(1e-6)

    async def bench(ctx):
        await testbench(ctx, top)

    sim.add_testbench(bench)
    sim.run()


async def send(ctx, port, beats):
    """Offer each payload until it transfers (valid and ready at a clock edge)."""
    ctx.set(port.valid, 1)
    for beat in beats:
        ctx.set(port.payload, beat)
        while True:
            ready = ctx.get(port.ready)
            await ctx.tick()
            if ready:
                break
    ctx.set(port.valid, 0)


async def mvm(ctx, dut, x, ready=lambda cycle: True, check_stall=True):
    """One MVM: returns ([(group, last, [P...])], cycles from the input beat through the last
    output beat, both included). ``ready(cycle)`` drives the output's ready."""
    ctx.set(dut.x.payload, x)
    ctx.set(dut.x.valid, 1)
    while not ctx.get(dut.x.ready):
        await ctx.tick()
    cycle, outs, held = 0, [], None
    ctx.set(dut.p.ready, ready(cycle))
    await ctx.tick()
    ctx.set(dut.x.valid, 0)
    cycle += 1
    while True:
        r = bool(ready(cycle))
        ctx.set(dut.p.ready, r)
        if ctx.get(dut.p.valid):
            pl = ctx.get(dut.p.payload)
            beat = (int(pl.group), int(pl.last), [int(v) for v in pl.p])
            if check_stall and held is not None:
                assert beat == held, "payload changed while the output was stalled"
            held = None if r else beat
            if r:
                outs.append(beat)
                if beat[1]:
                    break
        await ctx.tick()
        cycle += 1
    await ctx.tick()  # the edge of the last transfer
    ctx.set(dut.p.ready, 0)
    return outs, cycle + 1


async def program(ctx, dut, levels):
    for n, lv in enumerate(levels):
        await send(ctx, dut.prog, driver.program_beats(lv, n))


def random_levels(design, gen, kind="random"):
    """Levels of mapped random weights, or every cell of one polarity at the top level
    ("max+", "max-": the largest column sums, which clip the ADC)."""
    if kind in ("max+", "max-"):
        s = design.slices
        lv = torch.zeros(design.crossbar.rows, design.logical_cols, 2, s, dtype=torch.uint8)
        lv[:, :, 0 if kind == "max+" else 1, :] = design.cell_max
        out = torch.zeros(design.crossbar.rows, design.crossbar.cols, dtype=torch.uint8)
        out[:, : design.logical_cols * 2 * s] = lv.reshape(design.crossbar.rows, -1)
        return out
    wm = design.weight_max
    w = torch.randint(-wm, wm + 1, (design.crossbar.rows, design.logical_cols), generator=gen)
    return map_weights(w, design)


def random_x(design, gen, kind="random"):
    lo, hi = design.input_range
    shape = (design.pe.crossbars, design.crossbar.rows)
    if kind == "max":
        return torch.full(shape, hi, dtype=torch.int64)
    if kind == "min":
        return torch.full(shape, lo, dtype=torch.int64)
    return torch.randint(lo, hi + 1, shape, generator=gen)


def golden(design, levels, x, shifts, codes, group=None, groups=None):
    """The golden PE (xbar_hw.sim.golden_pe: per output group, the sum over its crossbars
    of crossbar_mvm with the ADC shift and the mask codes) for one input vector x [N, R]
    on fault-free ``levels``: the beats' P, [groups][L]."""
    load = fault_free_load(design, levels, torch.as_tensor(x).unsqueeze(0), shifts, codes, group, groups)
    return golden_beats(load)[0].tolist()


def configure(design, shifts=None, codes=None, colsums=None, faults=None, group=None, groups=None):
    beats = []
    for i in range(design.pe.crossbars):
        beats += driver.config_beats(
            design, i, shift=None if shifts is None else shifts[i], codes=None if codes is None else codes[i],
            colsum=None if colsums is None else colsums[i], faults=None if faults is None else faults[i],
            group=None if group is None else group[i])
    if groups is not None:
        beats.append(driver.groups_beat(groups))
    return beats


# --------------------------------------------------------------------------- components


async def _apply(ctx, dut, digits):
    """New digits on the rows from a clock edge where ``apply`` is high (as the PE's
    registers change them)."""
    ctx.set(dut.apply, 1)
    await ctx.tick()
    ctx.set(dut.apply, 0)
    ctx.set(dut.digits, digits)


async def _apply_and_sample(ctx, dut, digits, settle):
    """Apply ``digits`` to the rows, sample them ``settle`` clock edges later."""
    await _apply(ctx, dut, digits)
    for _ in range(settle - 1):
        await ctx.tick()
    ctx.set(dut.sample, 1)
    await ctx.tick()
    ctx.set(dut.sample, 0)


def test_crossbar_array_sums_and_write_counters():
    d = TINY
    gen = torch.Generator().manual_seed(1)
    lv = random_levels(d, gen)
    lv[0, :] = d.cell_max  # first row and last column at the top level
    lv[:, -1] = d.cell_max
    dut = CrossbarArray(d)

    async def tb(ctx, top):
        for b in driver.program_beats(lv, 0):
            ctx.set(dut.prog, {k: b[k] for k in ("row", "col", "level")})
            ctx.set(dut.prog_we, 1)
            await ctx.tick()
        ctx.set(dut.prog, {"row": 3, "col": 5, "level": int(lv[3, 5])})  # same level again
        await ctx.tick()
        ctx.set(dut.prog_we, 0)
        assert ctx.get(dut.writes) == d.crossbar.rows * d.crossbar.cols + 1
        assert ctx.get(dut.changes) == int((lv != 0).sum())  # cells start at level 0
        for digits in ([1] * d.crossbar.rows, [0] * d.crossbar.rows,
                       [int(v) for v in torch.randint(0, 2, (d.crossbar.rows,), generator=gen)]):
            await _apply_and_sample(ctx, dut, digits, d.settle_cycles)
            for c0 in range(0, d.crossbar.cols, d.adc.per_crossbar):
                cols = [(c0 + a) % d.crossbar.cols for a in range(d.adc.per_crossbar)]
                ctx.set(dut.col, cols)
                sums = [int(v) for v in ctx.get(dut.sums)]
                exp = [sum(digits[r] * int(lv[r, c]) for r in range(d.crossbar.rows)) for c in cols]
                assert sums == exp

    simulate(dut, tb)


@pytest.mark.parametrize("design", [TINY, WIDE, LOSSLESS], ids=lambda d: d.name)
def test_crossbar_array_settle_and_sample_and_hold(design):
    """A sample S = settle_cycles clock edges after the digits were applied holds their
    sums; one edge earlier it holds the stale sums of the last settled digits (zero after
    reset); the held sums stay while the rows carry the next digits."""
    S = design.settle_cycles
    R, C = design.crossbar.rows, design.crossbar.cols
    gen = torch.Generator().manual_seed(6)
    lv = random_levels(design, gen)
    dut = CrossbarArray(design)
    vmax = design.digit_max
    d1 = [vmax] * R
    d2 = [int(v) for v in torch.randint(0, vmax + 1, (R,), generator=gen)]
    d2[0] = 0  # d2 differs from d1 on row 0

    def expect(digits):
        return [sum(digits[r] * int(lv[r, c]) for r in range(R)) for c in range(C)]

    async def read_all(ctx):
        out = []
        for c0 in range(0, C, design.adc.per_crossbar):
            cols = [min(c0 + a, C - 1) for a in range(design.adc.per_crossbar)]
            ctx.set(dut.col, cols)
            out += [int(v) for v in ctx.get(dut.sums)][: C - c0]
        return out

    async def tb(ctx, top):
        for b in driver.program_beats(lv, 0):
            ctx.set(dut.prog, {k: b[k] for k in ("row", "col", "level")})
            ctx.set(dut.prog_we, 1)
            await ctx.tick()
        ctx.set(dut.prog_we, 0)
        assert expect(d1) != expect(d2) and expect(d1) != expect([0] * R)
        if S > 1:  # sampled one edge too early: the stale (reset) sums
            await _apply_and_sample(ctx, dut, d1, S - 1)
            assert await read_all(ctx) == expect([0] * R)
        await _apply_and_sample(ctx, dut, d1, S)
        assert await read_all(ctx) == expect(d1)
        # the next digits settle while the held sums stay
        await _apply(ctx, dut, d2)
        for _ in range(S + 2):
            assert await read_all(ctx) == expect(d1)
            await ctx.tick()
        ctx.set(dut.sample, 1)
        await ctx.tick()
        ctx.set(dut.sample, 0)
        assert await read_all(ctx) == expect(d2)
        if S > 1:  # too early again: the last settled digits, d2, not d1
            await _apply_and_sample(ctx, dut, d1, S - 1)
            assert await read_all(ctx) == expect(d2)
        ctx.set(top.cd.rst, 1)
        await ctx.tick()
        ctx.set(top.cd.rst, 0)
        assert await read_all(ctx) == expect([0] * R)

    simulate(dut, tb)


@pytest.mark.parametrize("design", [TINY, WIDE, LOSSLESS], ids=lambda d: d.name)
def test_adc_every_sum_and_shift(design):
    """Every column sum 0..S_max at every shift the register holds: rounding ties (S + h a
    multiple of 2^a), clipping at 2^b_a - 1, shifts beyond bitlen(S_max)."""
    dut = Adc(design)
    p = rtl_params(design)
    qmax = design.adc_max

    async def tb(ctx, top):
        for a in range(1 << p.shift_bits):
            h = (1 << (a - 1)) if a else 0
            ctx.set(dut.shift, a)
            for s in range(design.s_max + 1):
                ctx.set(dut.sum, s)
                assert ctx.get(dut.code) == min((s + h) >> a, qmax), (a, s)

    simulate(dut, tb, clocked=False)


def test_adc_scheduler_converts_each_active_column_once():
    for d in (TINY, ODD, WIDE):
        dut = AdcScheduler(d)
        L, two_s, A = d.logical_cols, d.cols_per_logical, d.adc.per_crossbar
        rng = random.Random(3)
        patterns = [[1] * L, [0] * L, [1] + [0] * (L - 1), [0] * (L - 1) + [1]]
        patterns += [[rng.randint(0, 1) for _ in range(L)] for _ in range(4)]

        async def tb(ctx, top):
            for act in patterns:
                ctx.set(dut.active, sum(b << j for j, b in enumerate(act)))
                n_conv = ctx.get(dut.n_conv)
                active_cols = [j * two_s + o for j in range(L) if act[j] for o in range(two_s)]
                assert n_conv == -(-len(active_cols) // A)
                seen = []
                for step in range(rtl_params(d).conv_max):
                    ctx.set(dut.step, step)
                    valid = ctx.get(dut.valid)
                    cols = [int(c) for c in ctx.get(dut.col)]
                    seen += [cols[a] for a in range(A) if valid >> a & 1]
                    assert step < n_conv or valid == 0
                assert seen == active_cols  # in position order, each exactly once
                ranks = [int(r) for r in ctx.get(dut.rank)]
                assert [ranks[j] for j in range(L) if act[j]] == list(range(sum(act)))

        simulate(dut, tb, clocked=False)


@pytest.mark.parametrize("design", [TINY, ODD, WIDE], ids=lambda d: d.name)
def test_column_mask_every_code(design):
    p = rtl_params(design)
    L, top_code = design.logical_cols, (1 << design.mask.bits) - 1
    dut = ColumnMask(design)
    lim = 1 << (p.pre_mask_bits - 1)
    values = [-lim, -lim + 1, -7, -5, -2, -1, 0, 1, 2, 3, 5, 7, lim - 1]

    async def tb(ctx, top):
        assert [int(c) for c in ctx.get(dut.codes)] == [default_mask_code(design)] * L
        for code in range(top_code + 1):
            for j in range(L):
                await send_code(ctx, j, code)
            assert ctx.get(dut.active) == (0 if code == 0 else (1 << L) - 1)
            for i in range(0, len(values), L):
                chunk = (values[i : i + L] + [0] * L)[:L]
                ctx.set(dut.p, chunk)
                got = [int(v) for v in ctx.get(dut.masked)]
                codes = torch.full((1, L), code)
                exp = apply_column_masks(torch.tensor([[chunk]], dtype=torch.float64), codes, design)
                assert got == exp.round().to(torch.int64)[0].tolist() == ref_column_mask([chunk], [code] * L, design.mask.exponents)[0]

    async def send_code(ctx, j, code):
        ctx.set(dut.code_we, 1)
        ctx.set(dut.code_index, j)
        ctx.set(dut.code_data, code)
        await ctx.tick()
        ctx.set(dut.code_we, 0)

    simulate(dut, tb)


def test_saf_corrector_spec_formula():
    """corr[j] = sum over entries (r, j, delta) of x_u[r] * delta, faults on the first and last
    rows and columns, the largest deltas, entries beyond ``count`` ignored."""
    d = ODD
    p = rtl_params(d)
    R, L = d.crossbar.rows, d.logical_cols
    dmax = (1 << (p.delta_bits - 1)) - 1
    entries = [(0, 0, dmax), (R - 1, L - 1, -dmax - 1), (0, L - 1, -3), (R - 1, 0, 5), (5, 2, 1), (0, 0, -1)]
    dut = SafCorrector(d)
    xu = [(1 << d.inputs.bits) - 1] + [random.Random(r).randint(0, (1 << d.inputs.bits) - 1) for r in range(1, R)]

    async def tb(ctx, top):
        for used in (len(entries), 3, 0):
            for i, (r, j, dl) in enumerate(entries):
                ctx.set(dut.entry_we, 1)
                ctx.set(dut.entry_index, i)
                ctx.set(dut.entry, {"row": r, "col": j, "delta": dl})
                await ctx.tick()
            ctx.set(dut.entry_we, 0)
            ctx.set(dut.count_we, 1)
            ctx.set(dut.count_data, used)
            ctx.set(dut.x_u, xu)
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.count_we, 0)
            ctx.set(dut.clear, 0)
            ctx.set(dut.en, 1)
            for k in range(len(entries) + 2):
                ctx.set(dut.step, k)
                await ctx.tick()
            ctx.set(dut.en, 0)
            exp = [0] * L
            for r, j, dl in entries[:used]:
                exp[j] += xu[r] * dl
            assert [int(v) for v in ctx.get(dut.corr)] == exp

    simulate(dut, tb)


# --------------------------------------------------------------------------- the PE tile


def _codes_cycle(design, gen):
    """Mask codes per crossbar covering every code, with some columns gated."""
    top = (1 << design.mask.bits) - 1
    L, n = design.logical_cols, design.pe.crossbars
    codes = [[(i * L + j) % (top + 1) for j in range(L)] for i in range(n)]
    codes[-1] = [int(c) for c in torch.randint(0, top + 1, (L,), generator=gen)]
    return codes


@pytest.mark.parametrize("design", [TINY, ODD, WIDE, LOSSLESS], ids=lambda d: d.name)
def test_pe_matches_golden_and_cycle_model(design):
    """Random and all-max levels and inputs, per-crossbar ADC shifts (0, the design's, a
    small one that clips), every mask code and gated columns: bit-exact outputs, the cycle
    count of timing.cycles_per_mvm, the conversions of timing.adc_conversions."""
    gen = torch.Generator().manual_seed(7)
    n = design.pe.crossbars
    levels = [random_levels(design, gen, {0: "max+", 1: "max-"}.get(i, "random")) for i in range(n)]
    a0 = design.adc_shift
    shift_sets = [[a0] * n, [[0, max(0, a0 - 1), a0 + 1][i % 3] for i in range(n)]]
    code_sets = [[[default_mask_code(design)] * design.logical_cols] * n, _codes_cycle(design, gen),
                 [[0] * design.logical_cols] * n]
    xs = [random_x(design, gen, "max"), random_x(design, gen), random_x(design, gen, "min")]
    colsums = [driver.colsums(lv, design) for lv in levels] if design.inputs.signed else None
    dut = PeTile(design, array="amaranth")

    async def tb(ctx, top):
        await program(ctx, dut, levels)
        assert [int(v) for v in ctx.get(dut.writes)] == [design.crossbar.rows * design.crossbar.cols] * n
        await send(ctx, dut.cfg, configure(design, colsums=colsums))
        conversions = 0
        for shifts in shift_sets:
            for codes in code_sets:
                await send(ctx, dut.cfg, configure(design, shifts=shifts, codes=codes))
                gated = [c.count(0) for c in codes]
                for x in xs:
                    outs, cycles = await mvm(ctx, dut, x.tolist())
                    assert [o[2] for o in outs] == golden(design, levels, x, shifts, codes)
                    assert [o[0] for o in outs] == list(range(n))
                    assert [o[1] for o in outs] == [0] * (n - 1) + [1]
                    assert cycles == cycles_per_mvm(design, gated=gated)
                    conversions += adc_conversions(design, gated=gated)
                    assert ctx.get(dut.conversions) == conversions

    simulate(dut, tb)


def test_pe_row_blocks_sum_into_groups():
    """A 2-row-block layer: crossbars cb * 2 + rb, group[n] = n // 2, two output beats."""
    d = TINY
    gen = torch.Generator().manual_seed(11)
    K, N = 2 * d.crossbar.rows, 2 * d.logical_cols
    w = torch.randint(-d.weight_max, d.weight_max + 1, (K, N), generator=gen)
    from xbar_hw.core.mapping import map_layer
    levels = list(map_layer(w, d))  # [cb * n_rb + rb]
    xin = torch.randint(0, 16, (K,), generator=gen)
    x = torch.stack([xin[(i % 2) * 16 : (i % 2) * 16 + 16] for i in range(4)])
    group, codes = [0, 0, 1, 1], _codes_cycle(d, gen)
    dut = PeTile(d, array="amaranth")

    async def tb(ctx, top):
        await program(ctx, dut, levels)
        await send(ctx, dut.cfg, configure(d, codes=codes, group=group, groups=2))
        outs, cycles = await mvm(ctx, dut, x.tolist())
        assert [o[2] for o in outs] == golden(d, levels, x, [d.adc_shift] * 4, codes, group, 2)
        assert [(o[0], o[1]) for o in outs] == [(0, 0), (1, 1)]
        assert cycles == cycles_per_mvm(d, gated=[c.count(0) for c in codes], groups=2)

    simulate(dut, tb)


def _saf_case(design, gen, stuck_cells):
    """Intended levels, stored levels with stuck cells at the given (row, column) places."""
    n = design.pe.crossbars
    intended = [random_levels(design, gen) for _ in range(n)]
    stored = [lv.clone() for lv in intended]
    for i in range(n):
        for r, c, level in stuck_cells:
            stored[i][r, c] = level if level != intended[i][r, c] else (level + 1) % (design.cell_max + 1)
    faults = [fault_entries(intended[i], stored[i], design) for i in range(n)]
    return intended, stored, faults


def _spec_pe_with_faults(design, intended, stored, x, shifts, codes):
    """Spec section 3 written out: ADC on the stored cells, shift-add, the signed offset of
    the intended weights, + sum_r x_u[r] (w - w_stored)[r, j], then the column mask."""
    out = []
    off = design.input_offset
    for i in range(design.pe.crossbars):
        xu = [int(v) + off for v in x[i]]
        st_l = stored[i].tolist()
        p = ref_crossbar_mvm(st_l, [xu], design.weights.bits, design.crossbar.cell_bits, design.inputs.bits,
                             design.inputs.dac_bits, design.adc.bits, shifts[i], signed=False)[0]
        w, ws = unmap_levels(intended[i], design).tolist(), unmap_levels(stored[i], design).tolist()
        for j in range(design.logical_cols):
            p[j] -= off * sum(w[r][j] for r in range(design.crossbar.rows))
            p[j] += sum(xu[r] * (w[r][j] - ws[r][j]) for r in range(design.crossbar.rows))
        out.append(ref_column_mask([p], codes[i], design.mask.exponents)[0])
    return out


@pytest.mark.parametrize("design", [ODD, LOSSLESS], ids=lambda d: d.name)
def test_pe_saf_correction(design):
    """Stuck cells on the first and last rows and columns; the corrected output equals the
    spec formula, and with a lossless ADC the fault-free golden output; more fault entries
    than conversion cycles lengthen the MVM as the cycle model says."""
    gen = torch.Generator().manual_seed(5)
    R, used = design.crossbar.rows, design.logical_cols * design.cols_per_logical
    stuck = [(0, 0, design.cell_max), (R - 1, used - 1, 0), (0, used - 1, design.cell_max),
             (R - 1, 0, design.cell_max), (R // 2, design.cols_per_logical // 2, 0)]
    intended, stored, faults = _saf_case(design, gen, stuck)
    n = design.pe.crossbars
    depth = R * design.logical_cols  # pad the last table to its depth with zero-delta entries
    faults[-1] = (faults[-1] + [(r, j, 0) for r in range(R) for j in range(design.logical_cols)])[:depth]
    shifts = [design.adc_shift] * n
    codes = [[default_mask_code(design)] * design.logical_cols, _codes_cycle(design, gen)[0]] + \
            [[default_mask_code(design)] * design.logical_cols] * (n - 2)
    colsums = [driver.colsums(lv, design) for lv in intended] if design.inputs.signed else None
    xs = [random_x(design, gen, "max"), random_x(design, gen), random_x(design, gen, "min")]
    dut = PeTile(design, array="amaranth")

    async def tb(ctx, top):
        await program(ctx, dut, stored)
        await send(ctx, dut.cfg, configure(design, codes=codes, colsums=colsums, faults=faults))
        for x in xs:
            outs, cycles = await mvm(ctx, dut, x.tolist())
            got = [o[2] for o in outs]
            assert got == _spec_pe_with_faults(design, intended, stored, x.tolist(), shifts, codes)
            if design.lossless:
                assert got == golden(design, intended, x, shifts, codes)
            assert cycles == cycles_per_mvm(design, gated=[c.count(0) for c in codes],
                                            n_faults=[len(f) for f in faults])
        if design is ODD:  # here the correction, not the conversions, sets the pace
            assert mvm_phases(design, n_faults=[len(f) for f in faults])["correction"] > \
                mvm_phases(design)["conversion"]

    simulate(dut, tb)


def test_pe_output_backpressure_and_back_to_back():
    """A stalled output holds its payload; the MVM takes the cycle model's count plus the
    stall cycles; with the input always valid and the output always ready, MVMs follow
    each other every cycles_per_mvm cycles."""
    d = TINY
    gen = torch.Generator().manual_seed(2)
    levels = [random_levels(d, gen) for _ in range(4)]
    codes = _codes_cycle(d, gen)
    xs = [random_x(d, gen) for _ in range(3)]
    dut = PeTile(d, array="amaranth")
    rng = random.Random(4)
    pattern = [rng.random() < 0.4 for _ in range(200)]

    async def tb(ctx, top):
        await program(ctx, dut, levels)
        await send(ctx, dut.cfg, configure(d, codes=codes))
        base = cycles_per_mvm(d, gated=[c.count(0) for c in codes])
        exp = golden(d, levels, xs[0], [d.adc_shift] * 4, codes)
        stalls = []

        def ready(cycle):
            r = cycle < 3 or pattern[cycle]  # never ready before the first beat could come
            if ctx.get(dut.p.valid) and not r:
                stalls.append(cycle)
            return r

        outs, cycles = await mvm(ctx, dut, xs[0].tolist(), ready)
        assert [o[2] for o in outs] == exp
        assert stalls and cycles == base + len(stalls)
        # back to back: x.valid stays high; count the cycles between input transfers
        ctx.set(dut.p.ready, 1)
        ctx.set(dut.x.valid, 1)
        accepted, got, cycle = [], [], 0
        while len(got) < 3 * 4:
            if ctx.get(dut.x.ready) and len(accepted) < 3:
                ctx.set(dut.x.payload, xs[len(accepted)].tolist())
                accepted.append(cycle)
            if ctx.get(dut.p.valid):
                got.append([int(v) for v in ctx.get(dut.p.payload).p])
            await ctx.tick()
            cycle += 1
            if len(accepted) == 3:
                ctx.set(dut.x.valid, 0)
        assert [b - a for a, b in zip(accepted, accepted[1:])] == [base, base]
        assert got == sum((golden(d, levels, x, [d.adc_shift] * 4, codes) for x in xs), [])

    simulate(dut, tb)


def test_pe_reset_in_the_middle_of_a_computation():
    """A reset mid-MVM: no output beat, idle again, reset configuration back, cell levels
    kept (non-volatile), counters zeroed; the next MVM is exact."""
    d = TINY
    gen = torch.Generator().manual_seed(9)
    levels = [random_levels(d, gen) for _ in range(4)]
    codes = _codes_cycle(d, gen)
    x1, x2 = random_x(d, gen), random_x(d, gen)
    dut = PeTile(d, array="amaranth")

    async def tb(ctx, top):
        await program(ctx, dut, levels)
        await send(ctx, dut.cfg, configure(d, shifts=[0, 1, 2, 0], codes=codes))
        ctx.set(dut.x.payload, x1.tolist())
        ctx.set(dut.x.valid, 1)
        ctx.set(dut.p.ready, 1)
        await ctx.tick()
        ctx.set(dut.x.valid, 0)
        for _ in range(5):
            assert ctx.get(dut.busy) and not ctx.get(dut.p.valid)
            await ctx.tick()
        ctx.set(top.cd.rst, 1)
        await ctx.tick()
        ctx.set(top.cd.rst, 0)
        assert not ctx.get(dut.busy) and ctx.get(dut.x.ready) and not ctx.get(dut.p.valid)
        assert [int(v) for v in ctx.get(dut.writes)] == [0] * 4
        assert ctx.get(dut.conversions) == 0
        for _ in range(30):  # nothing comes out of the dropped MVM
            assert not ctx.get(dut.p.valid)
            await ctx.tick()
        default = [[default_mask_code(d)] * d.logical_cols] * 4
        outs, cycles = await mvm(ctx, dut, x2.tolist())  # reset configuration, same cells
        assert [o[2] for o in outs] == golden(d, levels, x2, [d.adc_shift] * 4, default)
        assert cycles == cycles_per_mvm(d)
        await send(ctx, dut.cfg, configure(d, shifts=[0, 1, 2, 0], codes=codes))
        outs, _ = await mvm(ctx, dut, x1.tolist())
        assert [o[2] for o in outs] == golden(d, levels, x1, [0, 1, 2, 0], codes)

    simulate(dut, tb)


def test_pe_reprogramming_counts_changed_cells():
    d = TINY
    gen = torch.Generator().manual_seed(13)
    old = [random_levels(d, gen) for _ in range(4)]
    new = [lv.clone() for lv in old]
    new[2] = random_levels(d, gen)
    dut = PeTile(d, array="amaranth")
    x = random_x(d, gen)

    async def tb(ctx, top):
        await program(ctx, dut, old)
        first = [int(v) for v in ctx.get(dut.changes)]
        assert first == [int((lv != 0).sum()) for lv in old]
        for i in range(4):
            await send(ctx, dut.prog, driver.program_beats(new[i], i, previous=old[i]))
        diff = [int((a != b).sum()) for a, b in zip(old, new)]
        assert [int(v) for v in ctx.get(dut.changes)] == [f + df for f, df in zip(first, diff)]
        outs, _ = await mvm(ctx, dut, x.tolist())
        default = [[default_mask_code(d)] * d.logical_cols] * 4
        assert [o[2] for o in outs] == golden(d, new, x, [d.adc_shift] * 4, default)

    simulate(dut, tb)


def test_pe_ignores_config_writes_out_of_range():
    """Config writes to a crossbar, logical column or table entry that does not exist change
    nothing (a narrower index would otherwise wrap onto a real one)."""
    from xbar_hw.rtl.pe import ConfigTarget

    d = ODD  # N = 3 of 4 crossbar indices, L = 5 of 8 column indices, 60 of 64 table entries
    gen = torch.Generator().manual_seed(17)
    levels = [random_levels(d, gen) for _ in range(3)]
    x = random_x(d, gen)
    colsums = [driver.colsums(lv, d) for lv in levels]
    bad = [{"target": ConfigTarget.ADC_SHIFT, "xbar": 3, "index": 0, "data": 0},
           {"target": ConfigTarget.GROUP, "xbar": 3, "index": 0, "data": 0},
           {"target": ConfigTarget.MASK_CODE, "xbar": 0, "index": 8, "data": 0},
           {"target": ConfigTarget.COLSUM, "xbar": 1, "index": 8, "data": 5},
           {"target": ConfigTarget.FAULT_ENTRY, "xbar": 2, "index": 60, "data": driver.pack_fault_entry(d, 0, 0, 9)},
           {"target": ConfigTarget.FAULT_ENTRY, "xbar": 2, "index": 0, "data": driver.pack_fault_entry(d, 0, 0, 0)},
           {"target": ConfigTarget.FAULT_COUNT, "xbar": 2, "index": 0, "data": 1}]
    dut = PeTile(d, array="amaranth")

    async def tb(ctx, top):
        await program(ctx, dut, levels)
        await send(ctx, dut.cfg, configure(d, colsums=colsums) + bad)
        outs, _ = await mvm(ctx, dut, x.tolist())
        default = [[default_mask_code(d)] * d.logical_cols] * 3
        assert [o[2] for o in outs] == golden(d, levels, x, [d.adc_shift] * 3, default)

    simulate(dut, tb)


@st.composite
def small_designs(draw):
    b_c = draw(st.integers(1, 3))
    b_w = draw(st.integers(2, 6))
    s = -(-(b_w - 1) // b_c)
    cols = 2 * s * draw(st.integers(1, 3)) + draw(st.integers(0, 2))
    b_x = draw(st.integers(1, 5))
    bits = draw(st.integers(1, 2))
    return design_from_dict({
        "crossbar": {"rows": draw(st.integers(1, 9)), "cols": cols, "cell_bits": b_c},
        "weights": {"bits": b_w},
        "inputs": {"bits": b_x, "signed": b_x >= 2 and draw(st.booleans()), "dac_bits": draw(st.integers(1, b_x))},
        "adc": {"bits": draw(st.integers(1, 7)), "per_crossbar": draw(st.integers(1, cols))},
        "pe": {"crossbars": draw(st.integers(1, 3))},
        "mask": {"bits": bits, "exponents": draw(st.lists(st.integers(-3, 3), min_size=2**bits - 1, max_size=2**bits - 1))},
        # settle S = 1 .. 5 cycles at 10 MHz reads (2.5 rounds up to 3)
        "tile": {"clock_hz": 1e7 * draw(st.sampled_from([1, 2, 2.5, 4, 5]))},
    }), draw(st.integers(0, 2**16))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_designs())
def test_pe_random_geometries(case):
    design, seed = case
    gen = torch.Generator().manual_seed(seed)
    n = design.pe.crossbars
    levels = [random_levels(design, gen) for _ in range(n)]
    shifts = [int(v) for v in torch.randint(0, design.s_max.bit_length() + 2, (n,), generator=gen)]
    codes = [[int(c) for c in torch.randint(0, 1 << design.mask.bits, (design.logical_cols,), generator=gen)]
             for _ in range(n)]
    colsums = [driver.colsums(lv, design) for lv in levels] if design.inputs.signed else None
    x = random_x(design, gen)
    dut = PeTile(design, array="amaranth")

    async def tb(ctx, top):
        await program(ctx, dut, levels)
        await send(ctx, dut.cfg, configure(design, shifts=shifts, codes=codes, colsums=colsums))
        outs, cycles = await mvm(ctx, dut, x.tolist())
        assert [o[2] for o in outs] == golden(design, levels, x, shifts, codes)
        assert cycles == cycles_per_mvm(design, gated=[c.count(0) for c in codes])

    simulate(dut, tb)


@pytest.mark.slow
def test_pe_default_design_sparse_cells():
    """The 128 x 128 default design in the Python simulator: only a few rows are programmed
    (one cell write per cycle makes all 131072 cells too slow); the others hold level 0."""
    d = load_design(DESIGNS / "default.yaml")
    gen = torch.Generator().manual_seed(21)
    n, R, C = d.pe.crossbars, d.crossbar.rows, d.crossbar.cols
    levels = [torch.zeros(R, C, dtype=torch.uint8) for _ in range(n)]
    rows = [0, 1, R // 2, R - 1]
    for i in (0, n - 1):
        levels[i][rows] = random_levels(d, gen)[rows]
    levels[0][0] = random_levels(d, gen, "max+")[0]
    codes = _codes_cycle(d, gen)
    x = random_x(d, gen)
    dut = PeTile(d, array="amaranth")

    async def tb(ctx, top):
        for i in (0, n - 1):
            beats = [b for b in driver.program_beats(levels[i], i) if b["row"] in rows]
            await send(ctx, dut.prog, beats)
        await send(ctx, dut.cfg, configure(d, codes=codes))
        outs, cycles = await mvm(ctx, dut, x.tolist())
        assert [o[2] for o in outs] == golden(d, levels, x, [d.adc_shift] * n, codes)
        assert cycles == cycles_per_mvm(d, gated=[c.count(0) for c in codes])

    simulate(dut, tb)


# --------------------------------------------------------------------------- timing model


def test_cycle_formula_values():
    # cycles = 1 + max(S + (T-1) * max(S, c) + c, F) + 1 + G
    d = TINY  # T = 4, 16 used columns over 4 ADCs: c = 4; clock 4e7 Hz, 1e7 Hz reads: S = 4
    assert d.settle_cycles == 4
    assert cycles_per_mvm(d) == 1 + (4 + 3 * 4 + 4) + 1 + 4
    assert cycles_per_mvm(d, gated=1) == 1 + (4 + 3 * 4 + 3) + 1 + 4  # c = 3 < S
    assert cycles_per_mvm(d, gated=[4, 4, 4, 3]) == 1 + (4 + 3 * 4 + 1) + 1 + 4
    assert cycles_per_mvm(d, gated=4) == 1 + 4 * 4 + 1 + 4  # nothing to convert: T reads of S
    assert cycles_per_mvm(d, n_faults=[0, 0, 40, 0], groups=1, fault_entries=64) == 1 + 40 + 1 + 1
    with pytest.raises(XbarError):  # more entries than tiny's 8-entry tables hold
        cycles_per_mvm(d, n_faults=[0, 0, 9, 0])
    assert mvm_phases(d, gated=1) == {"input": 1, "compute": 19, "settle": 4, "per_read": 3, "conversion": 19,
                                      "correction": 0, "finish": 1, "output": 4}
    # the hand-made designs: S < c, S = 1, S > c (T = 3, 1, 4)
    assert (ODD.settle_cycles, WIDE.settle_cycles, LOSSLESS.settle_cycles) == (3, 1, 9)
    assert cycles_per_mvm(ODD) == 1 + (3 + 2 * 7 + 7) + 1 + 3
    assert cycles_per_mvm(WIDE) == 1 + (1 + 0 + 3) + 1 + 2
    assert cycles_per_mvm(LOSSLESS) == 1 + (9 + 3 * 9 + 7) + 1 + 2
    # the shipped designs: the clock keeps the ADCs at the pace of the reads (S = c); ISAAC's
    # 1.28 GHz periphery gives 128 conversions per 100 ns read (S = c = 128)
    shipped = {name: load_design(DESIGNS / f"{name}.yaml") for name in ("tiny", "default", "pytorx", "lossless", "isaac")}
    assert {k: (v.settle_cycles, mvm_phases(v)["per_read"], cycles_per_mvm(v)) for k, v in shipped.items()} == {
        "tiny": (4, 4, 1 + (4 + 3 * 4 + 4) + 1 + 4),
        "default": (16, 16, 1 + (16 + 7 * 16 + 16) + 1 + 8),
        "pytorx": (1, 1, 1 + (1 + 0 + 1) + 1 + 8),
        "lossless": (7, 7, 1 + (7 + 7 * 7 + 7) + 1 + 8),
        "isaac": (128, 128, 1 + (128 + 15 * 128 + 128) + 1 + 8),
    }
    assert adc_conversions(d, gated=[0, 1, 2, 4]) == 4 * 4 * (4 + 3 + 2 + 0)
    with pytest.raises(XbarError, match=r"^gated: got 5; allowed: an integer in \[0, 4\] or a list of 4 of them$"):
        cycles_per_mvm(d, gated=5)
    with pytest.raises(XbarError, match=r"^groups: got 0; allowed: an integer in \[1, 4\] \(pe.crossbars\)$"):
        cycles_per_mvm(d, groups=0)


# --------------------------------------------------------------------------- bad designs


def test_bad_designs_rejected_with_one_line_messages():
    huge = design_from_dict({"crossbar": {"rows": 1024, "cols": 1024}, "pe": {"crossbars": 8}})
    with pytest.raises(XbarError) as e:
        PeTile(huge)
    assert str(e.value) == ("pe.crossbars: got 8; allowed: at most 1 for the RTL PE tile (crossbar.rows * "
                            "crossbar.cols * pe.crossbars <= 1048576 cells)")
    wide = design_from_dict({"crossbar": {"rows": 512, "cols": 512}, "adc": {"per_crossbar": 64}, "pe": {"crossbars": 4}})
    with pytest.raises(XbarError) as e:
        Adc(wide)
    assert str(e.value) == ("adc.per_crossbar: got 64; allowed: at most 32 for the RTL PE tile (pe.crossbars * "
                            "adc.per_crossbar * crossbar.rows <= 65536 digit-by-level products)")
    with pytest.raises(XbarError) as e:
        PeTile(TINY, fault_entries=0)
    assert str(e.value) == "fault_entries: got 0; allowed: an integer in [1, 64] (crossbar.rows * logical columns)"
    with pytest.raises(XbarError) as e:
        PeTile(TINY, array="spice")
    assert str(e.value) == "array: got 'spice'; allowed: one of macro, amaranth"
    with pytest.raises(XbarError) as e:
        CrossbarMacro(TINY, index=4)
    assert str(e.value) == "index: got 4; allowed: an integer in [0, 3] (pe.crossbars - 1)"
    with pytest.raises(XbarError) as e:
        CrossbarArray({"crossbar": {"rows": 4}})
    assert str(e.value) == "design: got dict; allowed: an xbar_hw.Design"
    with pytest.raises(XbarError, match=r"^fault entry: got \(row 16, col 0, delta 1\); allowed: row in \[0, 15\]"):
        driver.pack_fault_entry(TINY, 16, 0, 1)


# --------------------------------------------------------------------------- Verilog


def test_generate_tiny_verilog_compiles_and_is_deterministic(tmp_path):
    from xbar_hw.rtl.generate import generate

    a = generate(TINY, tmp_path / "a")
    b = generate(TINY, tmp_path / "b")
    for kind in ("verilog", "macro", "ports", "readme"):
        assert a[kind].read_bytes() == b[kind].read_bytes(), kind
    text = a["verilog"].read_text()
    assert "module xbar_pe_tiny(" in text
    # every crossbar is a black-box instance of the macro, its position as INDEX; the
    # macro's model is a file of its own and the tile holds no cell memory
    assert macro_name(TINY) == "xbar_array_tiny" and a["macro"].name == "xbar_array_tiny.v"
    assert text.count("xbar_array_tiny #(") == TINY.pe.crossbars and "module xbar_array_tiny" not in text
    assert sorted(int(i) for i in re.findall(r"\.INDEX\(32'(?:sd|d|h)(\d+)\)", text)) == list(range(TINY.pe.crossbars))
    assert "module xbar_array_tiny #(" in a["macro"].read_text()
    readme = a["readme"].read_text()
    assert "## The crossbar macro `xbar_array_tiny`" in readme and "+xbar_cells=DIR" in readme
    assert json.loads(a["ports"].read_text())["macro"]["parameters"]["SUM_BITS"] == rtl_params(TINY).sum_bits
    assert str(tmp_path) not in text and "/work" not in text and "/home" not in text
    assert not re.search(r"\.py:\d+", text)  # no source locations
    ports = json.loads(a["ports"].read_text())["ports"]
    assert ports["x__payload"]["width"] == 4 * 16 * 4 and ports["x__payload"]["direction"] == "input"
    assert ports["p__payload"]["fields"]["p"]["array"] == {"length": 4, "width": rtl_params(TINY).out_bits, "signed": True}
    assert ports["cfg__payload"]["fields"]["target"]["enum"]["MASK_CODE"] == 1
    for name in ports:
        if name not in ("clk", "rst"):
            assert re.search(rf"\b(input|output)\b[^;]*\b{name}\b\s*;", text), name
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog is not installed")
    r = subprocess.run(["iverilog", "-g2005", "-o", "/dev/null", str(a["verilog"]), str(a["macro"])],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # the tile alone names a module it does not define: the macro is a black box
    r = subprocess.run(["iverilog", "-g2005", "-o", "/dev/null", str(a["verilog"])], capture_output=True, text=True)
    assert r.returncode != 0 and "xbar_array_tiny" in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["default", "lossless"])
def test_generate_shipped_designs_compile(tmp_path, name):
    """The 128 x 128 default (about a minute of Amaranth elaboration) and the lossless design."""
    from xbar_hw.rtl.generate import generate

    paths = generate(load_design(DESIGNS / f"{name}.yaml"), tmp_path)
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog is not installed")
    r = subprocess.run(["iverilog", "-g2005", "-o", "/dev/null", str(paths["verilog"]), str(paths["macro"])],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_cell_image_hand_worked():
    """The backdoor load's hex line of a row: column c's level at bits c * cell_bits."""
    lv = [[0] * TINY.crossbar.cols for _ in range(TINY.crossbar.rows)]
    lv[0][0], lv[0][15], lv[1][1], lv[15][2] = 1, 3, 2, 3
    lines = cell_image(lv, TINY).splitlines()
    assert len(lines) == 16 and lines[0] == "c0000001" and lines[1] == "00000008" and lines[15] == "00000030"
    assert lines[2:15] == ["00000000"] * 13


def test_stats_counts_cells_per_component():
    from xbar_hw.rtl.generate import stats

    s = stats(TINY)
    comps = s["components"]
    n, A = TINY.pe.crossbars, TINY.adc.per_crossbar
    assert {k: v["instances"] for k, v in comps.items()} == {
        "control": 1, "array": n, "adc": n * A, "sched": n, "shift_add": n, "saf": n, "mask": n}
    assert comps["array"]["behavioural"] and not comps["adc"]["behavioural"]
    assert s["total"]["cells"] == sum(v["cells"] for k, v in comps.items() if k != "array")
    # the arrays are black boxes (no cells of their own); every other component has cells
    assert comps["array"]["cells"] == 0 and comps["array"]["ff_bits"] == 0
    assert all(v["cells"] > 0 for k, v in comps.items() if k != "array")
    # the shift-add holds one Horner accumulator per used physical column
    assert comps["shift_add"]["ff_bits"] == n * TINY.logical_cols * TINY.cols_per_logical * rtl_params(TINY).acc_bits


def test_pe_with_per_crossbar_adc_bits():
    """TinyADC: crossbars pruned for 2..4-bit ADCs (column_keep), each slot built with its own
    ADC width at shift 0; slot 3 one bit below what its levels need, so it clips. Every
    crossbar's output equals the spec's crossbar (spec_reference) at that slot's bits; the
    lossless ones equal the exact integer product sum_r x_r w[r, j]."""
    from xbar_hw.core.adcbits import column_keep, lossless_adc_bits

    d = TINY  # 5-bit ADCs, a0 = 1
    gen = torch.Generator().manual_seed(5)
    ws, levels = [], []
    for target in (2, 3, 4, 5):
        w = torch.randint(-d.weight_max, d.weight_max + 1, (d.crossbar.rows, d.logical_cols), generator=gen)
        w = w * column_keep(w, target, d)
        ws.append(w)
        levels.append(map_weights(w, d))
    need = [int(b) for b in lossless_adc_bits(torch.stack(levels), d)]
    assert need[3] >= 2
    bits = need[:3] + [need[3] - 1]
    xs = [random_x(d, gen, "max"), random_x(d, gen)]
    dut = PeTile(d, adc_bits=bits, array="amaranth")
    assert [dut_adc for dut_adc in dut.adc_bits] == bits

    async def tb(ctx, top):
        await program(ctx, dut, levels)
        await send(ctx, dut.cfg, configure(d, shifts=[0] * 4))
        for x in xs:
            outs, _ = await mvm(ctx, dut, x.tolist())
            for n, o in enumerate(outs):
                ref = ref_crossbar_mvm(levels[n].tolist(), [x[n].tolist()], d.weights.bits, d.crossbar.cell_bits,
                                       d.inputs.bits, d.inputs.dac_bits, bits[n], a=0)[0]
                assert o[2] == ref
                exact = [sum(int(x[n, r]) * int(ws[n][r, j]) for r in range(d.crossbar.rows)) for j in range(d.logical_cols)]
                if n < 3:  # lossless at its bits
                    assert o[2] == exact
                elif x is xs[0]:  # every input at the top: the worst column reaches S_max and clips
                    assert o[2] != exact
    simulate(dut, tb)
    with pytest.raises(XbarError, match="adc bits"):
        PeTile(d, adc_bits=[6, 5, 5, 5])


def test_stats_show_the_narrower_adcs():
    """3-bit ADCs in every slot of the tiny design (5-bit ADCs): the ADCs' output mux is 2
    bits narrower, 4 slots x 4 ADCs x 2 bits = 32 bits of datapath fewer; nothing else changes."""
    from xbar_hw.rtl.generate import stats

    full, narrow = stats(TINY)["components"], stats(TINY, adc_bits=[3] * 4)["components"]
    n_adcs = TINY.pe.crossbars * TINY.adc.per_crossbar
    assert full["adc"]["out_bits"] - narrow["adc"]["out_bits"] == n_adcs * (TINY.adc.bits - 3)
    assert {k: v["out_bits"] for k, v in full.items() if k != "adc"} == {
        k: v["out_bits"] for k, v in narrow.items() if k != "adc"}
