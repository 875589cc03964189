"""Shift-add over input digits, slices and polarity (spec section 3).

P[j] = (sum_t 2^(t v) sum_k 2^(k b_c) (Q[t][c+] - Q[t][c-])) << a, minus
2^(b_x-1) * colsum_w[j] for signed inputs.

The digits are applied most significant first, so each physical column's sum over t is a
Horner accumulation, acc <- (acc << v) + Q, done whenever that column is converted: no
variable shifter, and a column may be converted in any cycle of its read cycle.
Accumulators are indexed by conversion position (see :mod:`xbar_hw.rtl.adc`), so ADC a
writes only the accumulators of positions a, A + a, 2A + a, ...: no column demultiplexer.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..core.design import Design
from .params import component_params


class ShiftAdd(wiring.Component):
    """Accumulate one crossbar's ADC codes and combine them into P per logical column.

    Ports:
      clear     In  1: zero the accumulators (at the start of an MVM)
      en        In  1: a conversion cycle: accumulate the valid codes
      step      In  conversion cycle within the read cycle
      valid     In  A bits: ADC a converted a column this cycle
      codes     In  [A] x b_a bits: the ADC codes
      rank      In  [L]: rank of each logical column among the active ones
      shift     In  the crossbar's ADC shift a
      colsum_we In  1: write ``colsum`` of logical column ``colsum_index`` (signed designs)
      colsum_index In, colsum_data In (signed): colsum_w[j] = sum_r w[r, j] of the intended weights
      p         Out [L] signed: the shift-add result (offset subtracted for signed inputs);
                    undefined for gated columns (the mask zeroes them)
    """

    def __init__(self, design: Design):
        self.params = p = component_params(self, design)
        super().__init__({
            "clear": In(1),
            "en": In(1),
            "step": In(p.step_bits),
            "valid": In(p.adcs),
            "codes": In(data.ArrayLayout(unsigned(p.adc_bits), p.adcs)),
            "rank": In(data.ArrayLayout(unsigned(p.lcol_bits), p.logical)),
            "shift": In(p.shift_bits),
            "colsum_we": In(1),
            "colsum_index": In(p.lcol_bits),
            "colsum_data": In(signed(p.colsum_bits)),
            "p": Out(data.ArrayLayout(signed(p.pre_mask_bits), p.logical)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        L, two_s, s, A = p.logical, p.two_s, p.slices, p.adcs
        acc = [Signal(p.acc_bits, name=f"acc{pos}") for pos in range(L * two_s)]
        with m.If(self.clear):
            m.d.sync += [a.eq(0) for a in acc]
        with m.Elif(self.en):
            for pos, a_sig in enumerate(acc):
                i, a = divmod(pos, A)
                with m.If((self.step == i) & self.valid[a]):
                    m.d.sync += a_sig.eq((a_sig << p.dac_bits) + self.codes[a])

        # per rank: + slices minus - slices, each slice weighted 2^(k b_c)
        combined = []
        for r in range(L):
            base = r * two_s
            plus = sum(acc[base + k] << (k * p.cell_bits) for k in range(s))
            minus = sum(acc[base + s + k] << (k * p.cell_bits) for k in range(s))
            c = Signal(signed(p.p_bits), name=f"rank{r}")
            m.d.comb += c.eq(plus - minus)  # unsigned - unsigned is signed in Amaranth: exact
            combined.append(c)
        by_rank = Array(combined)

        colsum = None
        if p.signed:
            colsum = Array(Signal(signed(p.colsum_bits), name=f"colsum{j}") for j in range(L))
            with m.If(self.colsum_we & (self.colsum_index < L)):  # ignore writes past the end
                m.d.sync += colsum[self.colsum_index].eq(self.colsum_data)

        for j in range(L):
            shifted = Signal(signed(p.p_bits), name=f"p{j}")
            # the spec's << a; a value that does not fit has Q = 0 (see rtl_params)
            m.d.comb += shifted.eq((by_rank[self.rank[j]] << self.shift)[:p.p_bits].as_signed())
            if p.signed:
                m.d.comb += self.p[j].eq(shifted - (colsum[j] << (p.input_bits - 1)))
            else:
                m.d.comb += self.p[j].eq(shifted)
        return m
