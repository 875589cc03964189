"""Digital SAF correction (spec section 3): P[j] += sum_r x_u[r] * (w[r, j] - w_stored[r, j]).

The fault table of a crossbar lists one entry per faulty weight (not per stuck cell):
``{row r, logical column j, delta = w[r, j] - w_stored[r, j]}``, where w is the weight the
Program intends and w_stored the weight the cells actually hold (stuck levels included).
Several stuck cells of one weight (slices, polarities) merge into one entry, and a stuck
cell that happens to hold its intended level needs none. Entries 0 .. count - 1 are used;
the corrector applies entry k in compute cycle k, one per cycle, at full precision, while
the ADCs convert: a crossbar with F entries needs F compute cycles.
:func:`xbar_hw.core.mapping.fault_entries` builds a table from intended and stored levels.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..core.design import Design
from .params import component_params


def fault_entry_layout(p) -> data.StructLayout:
    """One fault-table entry: row, logical column, weight delta (signed)."""
    return data.StructLayout({
        "row": unsigned(p.row_bits),
        "col": unsigned(p.lcol_bits),
        "delta": signed(p.delta_bits),
    })


class SafCorrector(wiring.Component):
    """Fault table and full-precision correction of one crossbar.

    Ports:
      entry_we    In  1: write ``entry`` at ``entry_index`` of the table
      entry_index In  table address
      entry       In  {row, col, delta}
      count_we    In  1: set the number of used entries to ``count_data``
      count_data  In  0 .. fault_entries
      count       Out entries in use (the compute cycles this crossbar's correction needs)
      clear       In  1: zero the corrections (at the start of an MVM)
      en          In  1: a compute cycle
      step        In  compute cycle k: entry k is applied when k < count
      x_u         In  [R] x b_x bits: the unsigned (offset) inputs of this crossbar
      corr        Out [L] signed: the correction of each logical column
    """

    def __init__(self, design: Design, fault_entries: int | None = None):
        self.params = p = component_params(self, design, fault_entries)
        super().__init__({
            "entry_we": In(1),
            "entry_index": In(max(1, (p.fault_entries - 1).bit_length())),  # 1 bit at least: no 0-bit port
            "entry": In(fault_entry_layout(p)),
            "count_we": In(1),
            "count_data": In(p.fault_count_bits),
            "count": Out(p.fault_count_bits),
            "clear": In(1),
            "en": In(1),
            "step": In(p.step_bits),
            "x_u": In(data.ArrayLayout(unsigned(p.input_bits), p.rows)),
            "corr": Out(data.ArrayLayout(signed(p.corr_bits), p.logical)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        write = self.entry_we & (self.entry_index < p.fault_entries)
        if p.fault_entries == 1:
            # a one-entry table is a register (a memory of depth 1 has a 0-bit address)
            entry = Signal(fault_entry_layout(p))
            with m.If(write):
                m.d.sync += entry.eq(self.entry)
        else:
            m.submodules.table = table = memory.Memory(shape=fault_entry_layout(p), depth=p.fault_entries, init=[])
            wp = table.write_port()
            rp = table.read_port(domain="comb")
            m.d.comb += [wp.addr.eq(self.entry_index), wp.data.eq(self.entry), wp.en.eq(write), rp.addr.eq(self.step)]
            entry = rp.data
        with m.If(self.count_we):
            if (1 << p.fault_count_bits) - 1 > p.fault_entries:
                # more entries than the table holds would replay stale ones: clamp
                m.d.sync += self.count.eq(Mux(self.count_data > p.fault_entries, p.fault_entries, self.count_data))
            else:  # count_data cannot exceed the depth (a depth of 2^k - 1 entries)
                m.d.sync += self.count.eq(self.count_data)

        term = Signal(signed(p.corr_bits))
        # an entry outside the crossbar (row >= R or col >= L) corrects nothing
        x_row = Mux(entry.row < p.rows, Array(self.x_u[r] for r in range(p.rows))[entry.row], 0)
        m.d.comb += term.eq(x_row * entry.delta)
        corr = [self.corr[j] for j in range(p.logical)]
        with m.If(self.clear):
            m.d.sync += [c.eq(0) for c in corr]
        with m.Elif(self.en & (self.step < self.count)):
            for j, c in enumerate(corr):
                with m.If(entry.col == j):
                    m.d.sync += c.eq(c + term)
        return m

