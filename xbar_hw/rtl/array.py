"""Behavioural model of one ReRAM crossbar array in Amaranth (NOT synthesizable hardware).

The generated Verilog holds each crossbar as a black-box macro (:mod:`.macro`) simulated
by a Verilog model; this Amaranth model is kept as the reference semantics of that
macro's ports and for Amaranth's own simulator (``PeTile(design, array="amaranth")``:
the tests of the tile in ``tests/test_rtl.py``), which cannot simulate a black box.

The analog array is modelled by its integer contract (spec section 3): it holds the cell
levels and, for the digit vector applied to its rows, gives the column sums
S[c] = sum_r digit_r * level[r][c]. A real array produces every column current at once and
the ADC multiplexer samples some of them; the model computes S only for the columns the
multiplexer selects (one per ADC), which is the same observable behaviour at a fraction
of the logic. Synthesis statistics must exclude this component (``BEHAVIOURAL = True``;
:func:`xbar_hw.rtl.generate.stats` does).

Analog settle and sample-and-hold (ISAAC-style). New digits reach the rows at a clock edge
where ``apply`` is high; the column currents need S = ``design.settle_cycles`` full clock
cycles to settle. A sample-and-hold per column captures the column sums at a clock edge
where ``sample`` is high, and the ADCs convert the held sums (``sums``) while the rows
already carry the next read's digits. A sample taken fewer than S cycles after ``apply``
captures stale sums (those of the last settled digits, zero after reset) instead of an
error value, so that a controller that samples too early fails the bit-exact checks.
The hold is modelled by holding the sampled digit vector and forming the sums of the
selected columns from it: the same values as holding every column sum, since the cell
levels do not change while the PE tile computes (it programs cells only while idle).

Stuck-at faults are modelled by programming the stuck level into the cell: the array
computes with whatever level a cell holds, and the SAF corrector repairs the result.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..core.design import Design
from .params import COUNTER_BITS, component_params, tree_sum


def program_layout(p) -> data.StructLayout:
    """One cell write: the programming port's fields."""
    return data.StructLayout({
        "row": unsigned(p.row_bits),
        "col": unsigned(p.col_bits),
        "level": unsigned(p.level_bits),
    })


def array_signature(p) -> wiring.Signature:
    """The crossbar array's ports (the integer contract of spec section 3), shared by the
    Amaranth model and the black-box macro: see :class:`CrossbarArray`."""
    return wiring.Signature({
        "prog": In(program_layout(p)),
        "prog_we": In(1),
        "digits": In(data.ArrayLayout(unsigned(p.dac_bits), p.rows)),
        "apply": In(1),
        "sample": In(1),
        "col": In(data.ArrayLayout(unsigned(p.col_bits), p.adcs)),
        "sums": Out(data.ArrayLayout(unsigned(p.sum_bits), p.adcs)),
        "writes": Out(COUNTER_BITS),
        "changes": Out(COUNTER_BITS),
    })


class CrossbarArray(wiring.Component):
    """One R x C crossbar (behavioural; excluded from synthesis statistics).

    Ports:
      prog     In  {row, col, level}: the cell to write and its level
      prog_we  In  1: write strobe; the cell takes ``prog.level`` at the clock edge
      digits   In  [R] x v bits: the digit d_t(x_u[r]) the row drivers apply; it may change
                   only at a clock edge where ``apply`` is high
      apply    In  1: new digits on the rows from this clock edge on: their settle starts
      sample   In  1: the sample-and-hold captures the column sums at this clock edge (they
                   are valid if the digits were applied at least S clock edges before)
      col      In  [A] x col bits: the physical column each ADC converts
      sums     Out [A] x bitlen(S_max) bits: the held S[col[a]] = sum_r held[r] * level[r][col[a]],
                   held = the digits at the last sample
      writes   Out 32 bits: write strobes seen since reset (wraps)
      changes  Out 32 bits: writes that changed the cell's level (the endurance count)

    Cell levels are not reset (ReRAM is non-volatile); the counters, the settle state and
    the held sums are.
    """

    BEHAVIOURAL = True

    def __init__(self, design: Design):
        self.design = design
        self.params = p = component_params(self, design)
        super().__init__(array_signature(p))

    def elaborate(self, platform):
        p = self.params
        m = Module()
        # One memory word per physical column holds its R cells, so that one read gives a
        # whole column; a write enables only the addressed row's cell (granularity 1 element).
        m.submodules.cells = cells = memory.Memory(
            shape=data.ArrayLayout(unsigned(p.cell_bits), p.rows), depth=p.cols, init=[])
        wp = cells.write_port(granularity=1)
        old = cells.read_port(domain="comb")  # the written cell's old level, for ``changes``
        m.d.comb += [
            wp.addr.eq(self.prog.col),
            old.addr.eq(self.prog.col),
            wp.en.eq(Mux(self.prog_we, Const(1, p.rows) << self.prog.row, 0)),
        ]
        for r in range(p.rows):
            m.d.comb += wp.data[r].eq(self.prog.level)
        with m.If(self.prog_we):
            m.d.sync += self.writes.eq(self.writes + 1)
            with m.If(old.data[self.prog.row] != self.prog.level):
                m.d.sync += self.changes.eq(self.changes + 1)

        # analog settle: ``age`` counts the clock edges since ``apply`` (saturating at S - 1);
        # at the edge ending a cycle with age + 1 >= S the digits have had S full cycles
        digit_vec = data.ArrayLayout(unsigned(p.dac_bits), p.rows)
        age = Signal(range(max(2, p.settle)))
        settled = Signal()
        stale = Signal(digit_vec)   # the last digits that had settled (what the columns show)
        live = Signal(digit_vec)    # what a sample at the end of this cycle captures
        held = Signal(digit_vec)    # the sample-and-hold: the digits of the held sums
        m.d.comb += [
            settled.eq(age + 1 >= p.settle),
            live.eq(Mux(settled, self.digits, stale)),
        ]
        m.d.sync += stale.eq(live)
        with m.If(self.apply):
            m.d.sync += age.eq(0)
        with m.Elif(~settled):
            m.d.sync += age.eq(age + 1)
        with m.If(self.sample):
            m.d.sync += held.eq(live)

        for a in range(p.adcs):
            rp = cells.read_port(domain="comb")
            m.d.comb += rp.addr.eq(self.col[a])
            m.d.comb += self.sums[a].eq(tree_sum([held[r] * rp.data[r] for r in range(p.rows)]))
        return m
