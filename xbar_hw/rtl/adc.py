"""The ADC of spec section 3 and the schedule of a crossbar's shared ADCs.

A crossbar's C physical columns share A = ``adc.per_crossbar`` ADCs. Per read cycle the
active physical columns (the 2s columns of every logical column whose mask code is not 0)
are converted in order of position p = 0, 1, ...: position p is converted in conversion
cycle p // A by ADC p % A, so a read cycle takes ceil(active columns / A) cycles and a
gated column costs no conversion. Position p belongs to the (p // 2s)-th active logical
column (its rank) and is that column's physical column p % 2s (polarity +, slices 0..s-1,
then polarity -, slices 0..s-1).
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..core.cycles import conversion_cycles
from ..core.design import Design
from ..core.errors import XbarError
from .params import component_params


class Adc(wiring.Component):
    """One ADC conversion, combinational: code = min((sum + h) >> shift, 2^b_a - 1),
    h = 2^(shift-1) (0 for shift 0): round half up, then clip.

    Ports:
      sum    In  bitlen(S_max) bits: the column sum S
      shift  In  shift bits: the crossbar's ADC shift a
      code   Out b_a bits: Q (``bits`` bits where given: a crossbar's own ADC resolution,
             TinyADC; clip at 2^bits - 1)
    """

    def __init__(self, design: Design, bits: int | None = None):
        self.params = p = component_params(self, design)
        self.bits = p.adc_bits if bits is None else bits
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 1 <= self.bits <= p.adc_bits:
            self._MustUse__used = True
            raise XbarError(f"adc bits: got {self.bits!r}; allowed: an integer in [1, {p.adc_bits}] (adc.bits)")
        super().__init__({
            "sum": In(p.sum_bits),
            "shift": In(p.shift_bits),
            "code": Out(self.bits),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        # h = 2^(a-1) as a table: a variable shift of a constant would be 2^shift_bits wide.
        # For a > bitlen(S_max) + 1 the table gives 0, and S >> a = 0 = the spec's value.
        width = p.sum_bits + 1
        halves = Array(Const((1 << (a - 1)) if 1 <= a <= width else 0, width) for a in range(1 << p.shift_bits))
        rounded = Signal(width)
        m.d.comb += rounded.eq((self.sum + halves[self.shift]) >> self.shift)
        top = (1 << self.bits) - 1
        m.d.comb += self.code.eq(Mux(rounded > top, top, rounded))
        return m


class AdcScheduler(wiring.Component):
    """Which physical column each of a crossbar's ADCs converts in conversion cycle ``step``.

    Ports:
      active  In  L bits: logical column j is active (mask code != 0)
      step    In  conversion cycle within the read cycle, 0 .. n_conv - 1
      col     Out [A] physical column that ADC a converts at ``step``
      valid   Out A bits: ADC a converts at ``step`` (its position holds an active column)
      rank    Out [L] rank of logical column j among the active ones (its accumulator block)
      n_conv  Out conversion cycles per read cycle: ceil(2s * active logical columns / A)
    """

    def __init__(self, design: Design):
        self.params = p = component_params(self, design)
        #: conversion cycles per read with k logical columns active, k = 0 .. L
        self.n_conv_table = [conversion_cycles(design, gated=p.logical - k) for k in range(p.logical + 1)]
        super().__init__({
            "active": In(p.logical),
            "step": In(p.step_bits),
            "col": Out(data.ArrayLayout(unsigned(p.col_bits), p.adcs)),
            "valid": Out(p.adcs),
            "rank": Out(data.ArrayLayout(unsigned(p.lcol_bits), p.logical)),
            "n_conv": Out(range(p.conv_max + 1)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        L, two_s, A = p.logical, p.two_s, p.adcs
        n_act = Signal(range(L + 1))
        # rank = active columns to the left: a prefix count
        m.d.comb += self.rank[0].eq(0)
        for j in range(1, L):
            m.d.comb += self.rank[j].eq(self.rank[j - 1] + self.active[j - 1])
        m.d.comb += n_act.eq(self.rank[L - 1] + self.active[L - 1])
        # act[r]: the r-th active logical column (an OR of one-hot matches)
        act = [Signal(range(L), name=f"act{r}") for r in range(L)]
        for r in range(L):
            terms = [Mux(self.active[j] & (self.rank[j] == r), j, 0) for j in range(L)]
            m.d.comb += act[r].eq(_or_all(terms))
        m.d.comb += self.n_conv.eq(Array(Const(c, range(p.conv_max + 1)) for c in self.n_conv_table)[n_act])
        for a in range(A):
            cols, valids = [], []
            for i in range(p.conv_max):  # position i*A + a: constant rank and offset
                pos = i * A + a
                if pos < L * two_s:
                    r, o = divmod(pos, two_s)
                    cols.append(act[r] * two_s + o)
                    valids.append(n_act > r)
                else:
                    cols.append(Const(0))
                    valids.append(Const(0))
            m.d.comb += [
                self.col[a].eq(Array(cols)[self.step]),
                self.valid[a].eq(Array(valids)[self.step] & (self.step < p.conv_max)),
            ]
        return m


def _or_all(values):
    out = values[0]
    for v in values[1:]:
        out = out | v
    return out
