"""ReBoc's input register (docs/architecture.md, "ReBoc"): Input Tile Sharing and Input
Slice Reusing in hardware.

One register of R input words per row block, loaded once per MVM from the tile buffer
(the crossbars of the row block, one per column block, all read it: Input Tile Sharing).
Read sequence c of an MVM must drive row i*b + m with x[i*b + (c - m) mod b]
(:func:`xbar_hw.core.circulant.input_index`): the load writes sequence 0's order (a
fixed wiring permutation, m -> (-m) mod b within each slice) and each ``rotate`` moves every
slice one row on, cyclically (row m takes row m - 1's word), which is sequence c + 1's
order. No word is fetched twice (Input Slice Reusing). The words go to the row drivers,
whose digits (bit-serial) the PE tile already takes from its input register.
"""

from __future__ import annotations

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..core.design import Design
from ..core.errors import XbarError, field_error


def check_block(design: Design, block) -> int:
    """``block`` if the rotator can be built for it, else one line: an input slice of
    ``block`` rows must lie whole in a crossbar."""
    R = design.crossbar.rows
    if isinstance(block, bool) or not isinstance(block, int) or block < 1 or R % block:
        raise field_error("block", block, f"a positive integer dividing crossbar.rows = {R} "
                                          f"(one whole input slice per crossbar)")
    return block


class SliceRotator(wiring.Component):
    """The rotating input register of one row block, for block size ``block``.

    Ports:
      load   In  1: take ``x`` (sequence 0's order); has priority over ``rotate``
      x      In  [R] x b_x bits: the row block's inputs as the tile buffer holds them
      rotate In  1: next read sequence (each slice of ``block`` rows rotates by one row)
      rows   Out [R] x b_x bits: the words that drive the rows now (reset: 0)
    """

    def __init__(self, design: Design, block: int):
        try:
            check_block(design, block)
        except XbarError:
            self._MustUse__used = True  # never elaborated: no UnusedElaboratable warning (as the tile's blocks)
            raise
        self.design, self.block = design, block
        R, bits = design.crossbar.rows, design.inputs.bits
        super().__init__({
            "load": In(1),
            "x": In(data.ArrayLayout(unsigned(bits), R)),
            "rotate": In(1),
            "rows": Out(data.ArrayLayout(unsigned(bits), R)),
        })

    def elaborate(self, platform):
        m = Module()
        R, b = self.design.crossbar.rows, self.block
        with m.If(self.load):
            for r in range(R):
                base, k = r - r % b, r % b
                m.d.sync += self.rows[r].eq(self.x[base + (-k) % b])
        with m.Elif(self.rotate):
            for r in range(R):
                base, k = r - r % b, r % b
                m.d.sync += self.rows[r].eq(self.rows[base + (k - 1) % b])
        return m
