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

from amaranth.hdl import Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..core.design import Design
from ..core.errors import XbarError, field_error
from .pe import PeTile


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


class RebocPe(wiring.Component):
    """A PE tile that runs the ReBoc mapping's read sequences (docs/architecture.md, "ReBoc"):
    :class:`~.pe.PeTile` behind one :class:`SliceRotator` per crossbar slot.

    The ports are the tile's (``x``, ``p``, ``prog``, ``cfg``, ``busy`` and the counters),
    so the tile's driver, testbench and protocol apply unchanged; the difference is what one
    ``x`` beat means. It is one ReBoc MVM: the words as the tile buffer holds them, loaded
    once into the rotators (Input Slice Reusing: no word is fetched again); then the
    rotators feed the tile ``reads`` (= b/D) inputs one after another, read sequence c =
    0 .. reads-1 (row i*b + m driven with x[i*b + (c - m) mod b]), each a whole MVM of the
    tile (the read schedule without the intra-layer pipeline). ``p`` sends every
    sequence's output beats in order, ``last`` only on the final sequence's last beat.
    The rotators are free again once the final sequence is in the tile, so the next ``x``
    loads while the tile computes: back-to-back MVMs take ``reads`` x the tile's cycles
    each, and one ReBoc MVM 1 + ``reads`` x the tile's cycles from its input beat to its
    last output beat (the load cycle).

    Input Tile Sharing: ``row_blocks`` rotators (default: one per slot), slot n fed by
    rotator n % ``row_blocks``, which is loaded from ``x`` slot n % ``row_blocks``: the
    crossbars of one row block (a layer's slot n holds row block n % n_rb) share one fetch
    and one rotating register; ``x``'s other slots are not read. The tile keeps its own
    input register per crossbar.
    """

    def __init__(self, design: Design, block: int, reads: int, row_blocks: int | None = None,
                 fault_entries: int | None = None):
        N = design.pe.crossbars
        try:
            check_block(design, block)
            if isinstance(reads, bool) or not isinstance(reads, int) or reads < 1 or block % reads:
                raise field_error("reads", reads, f"a positive integer dividing the block size {block} (b/D)")
            if row_blocks is None:
                row_blocks = N
            if isinstance(row_blocks, bool) or not isinstance(row_blocks, int) or not 1 <= row_blocks <= N:
                raise field_error("row_blocks", row_blocks, f"an integer in [1, {N}] (pe.crossbars)")
        except XbarError:
            self._MustUse__used = True  # never elaborated: no UnusedElaboratable warning
            raise
        self.design, self.block, self.reads, self.row_blocks = design, block, reads, row_blocks
        self.tile = PeTile(design, fault_entries)
        self.params = self.tile.params
        super().__init__(dict(self.tile.signature.members))

    def elaborate(self, platform):
        m = Module()
        tile, N = self.tile, self.params.crossbars
        m.submodules.tile = tile
        rots = [SliceRotator(self.design, self.block) for _ in range(self.row_blocks)]
        for n, rot in enumerate(rots):
            m.submodules[f"rotator{n}"] = rot
        active = Signal(name="active")                         # the rotators feed the tile
        seq_in = Signal(range(self.reads), name="seq_in")      # sequence on the rotators' rows
        seq_out = Signal(range(self.reads), name="seq_out")    # sequence of the tile's output beats
        for s in ("prog", "cfg"):
            mine, its = getattr(self, s), getattr(tile, s)
            m.d.comb += [its.payload.eq(mine.payload), its.valid.eq(mine.valid & ~active),
                         mine.ready.eq(its.ready & ~active)]
        load = Signal(name="load")
        sent = Signal(name="sent")
        m.d.comb += [
            self.x.ready.eq(~active & ~self.prog.valid & ~self.cfg.valid),
            load.eq(self.x.valid & self.x.ready),
            tile.x.valid.eq(active),
            sent.eq(active & tile.x.ready),
        ]
        for n, rot in enumerate(rots):
            m.d.comb += [rot.load.eq(load), rot.rotate.eq(sent), Value.cast(rot.x).eq(Value.cast(self.x.payload[n]))]
        for n in range(N):
            m.d.comb += Value.cast(tile.x.payload[n]).eq(Value.cast(rots[n % self.row_blocks].rows))
        with m.If(load):
            m.d.sync += [active.eq(1), seq_in.eq(0)]
        with m.Elif(sent):
            with m.If(seq_in == self.reads - 1):
                m.d.sync += active.eq(0)
            with m.Else():
                m.d.sync += seq_in.eq(seq_in + 1)
        final = seq_out == self.reads - 1
        m.d.comb += [
            self.p.payload.p.eq(tile.p.payload.p), self.p.payload.group.eq(tile.p.payload.group),
            self.p.payload.last.eq(tile.p.payload.last & final),
            self.p.valid.eq(tile.p.valid), tile.p.ready.eq(self.p.ready),
            self.busy.eq(tile.busy | active),
            self.writes.eq(tile.writes), self.changes.eq(tile.changes), self.conversions.eq(tile.conversions),
        ]
        with m.If(tile.p.valid & self.p.ready & tile.p.payload.last):
            m.d.sync += seq_out.eq(Mux(final, 0, seq_out + 1))
        return m
