"""Shift-based column mask (spec section 3), one crossbar's L logical columns.

Code 0 gates a column: P' = 0, and ``active`` tells the ADC scheduler to skip its
conversions. Code i >= 1 selects e = mask.exponents[i-1]: P' = P << e for e >= 0,
P' = P >> -e for e < 0 (arithmetic, so floor). Constant shifts only: one multiplexer per
column, no shifter.
"""

from __future__ import annotations

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..core.design import Design
from .params import component_params


class ColumnMask(wiring.Component):
    """Mask codes of one crossbar's logical columns and the masking datapath.

    Ports:
      code_we    In  1: set the code of logical column ``code_index`` to ``code_data``
      code_index In  logical column
      code_data  In  b_m bits
      codes      Out [L] x b_m bits: the codes (reset: the identity code, see
                     :func:`xbar_hw.rtl.params.default_mask_code`)
      active     Out L bits: code != 0
      p          In  [L] signed: P after shift-add and SAF correction
      masked     Out [L] signed: P'
    """

    def __init__(self, design: Design):
        self.design = design
        self.params = p = component_params(self, design)
        super().__init__({
            "code_we": In(1),
            "code_index": In(p.lcol_bits),
            "code_data": In(p.mask_bits),
            "codes": Out(data.ArrayLayout(unsigned(p.mask_bits), p.logical),
                         init=[p.mask_reset] * p.logical),
            "active": Out(p.logical),
            "p": In(data.ArrayLayout(signed(p.pre_mask_bits), p.logical)),
            "masked": Out(data.ArrayLayout(signed(p.masked_bits), p.logical)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        with m.If(self.code_we):
            with m.Switch(self.code_index):
                for j in range(p.logical):
                    with m.Case(j):
                        m.d.sync += self.codes[j].eq(self.code_data)
        for j in range(p.logical):
            code = self.codes[j]
            m.d.comb += self.active[j].eq(code != 0)
            with m.Switch(code):
                with m.Case(0):
                    m.d.comb += self.masked[j].eq(0)
                for i, e in enumerate(self.design.mask.exponents, start=1):
                    with m.Case(i):
                        m.d.comb += self.masked[j].eq(self.p[j] << e if e >= 0 else self.p[j] >> -e)
        return m
