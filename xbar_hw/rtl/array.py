"""Behavioural model of one ReRAM crossbar array (NOT synthesizable hardware).

The analog array is modelled by its integer contract (spec section 3): it holds the cell
levels and, for the digit vector applied to its rows, gives the column sums
S[c] = sum_r digit_r * level[r][c]. A real array produces every column current at once and
the ADC multiplexer samples some of them; the model computes S only for the columns the
multiplexer selects (one per ADC), which is the same observable behaviour at a fraction
of the logic. Synthesis statistics must exclude this component (``BEHAVIOURAL = True``;
:func:`xbar_hw.rtl.generate.stats` does).

Stuck-at faults are modelled by programming the stuck level into the cell: the array
computes with whatever level a cell holds, and the SAF corrector repairs the result.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..design import Design
from .params import COUNTER_BITS, component_params, tree_sum


def program_layout(p) -> data.StructLayout:
    """One cell write: the programming port's fields."""
    return data.StructLayout({
        "row": unsigned(p.row_bits),
        "col": unsigned(p.col_bits),
        "level": unsigned(p.level_bits),
    })


class CrossbarArray(wiring.Component):
    """One R x C crossbar (behavioural; excluded from synthesis statistics).

    Ports:
      prog     In  {row, col, level}: the cell to write and its level
      prog_we  In  1: write strobe; the cell takes ``prog.level`` at the clock edge
      digits   In  [R] x v bits: the digit d_t(x_u[r]) applied to each row
      col      In  [A] x col bits: the physical column each ADC samples
      sums     Out [A] x bitlen(S_max) bits: S[col[a]] = sum_r digits[r] * level[r][col[a]]
      writes   Out 32 bits: write strobes seen since reset (wraps)
      changes  Out 32 bits: writes that changed the cell's level (the endurance count)

    Cell levels are not reset (ReRAM is non-volatile); the counters are.
    """

    BEHAVIOURAL = True

    def __init__(self, design: Design):
        self.design = design
        self.params = p = component_params(self, design)
        super().__init__({
            "prog": In(program_layout(p)),
            "prog_we": In(1),
            "digits": In(data.ArrayLayout(unsigned(p.dac_bits), p.rows)),
            "col": In(data.ArrayLayout(unsigned(p.col_bits), p.adcs)),
            "sums": Out(data.ArrayLayout(unsigned(p.sum_bits), p.adcs)),
            "writes": Out(COUNTER_BITS),
            "changes": Out(COUNTER_BITS),
        })

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

        for a in range(p.adcs):
            rp = cells.read_port(domain="comb")
            m.d.comb += rp.addr.eq(self.col[a])
            m.d.comb += self.sums[a].eq(tree_sum([self.digits[r] * rp.data[r] for r in range(p.rows)]))
        return m
