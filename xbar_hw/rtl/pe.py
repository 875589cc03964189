"""The PE tile: ``pe.crossbars`` crossbars with their periphery and a control FSM.

Per crossbar n (0 .. N-1, N = pe.crossbars): a behavioural :class:`CrossbarArray`, A ADCs
and their :class:`AdcScheduler`, a :class:`ShiftAdd`, a :class:`SafCorrector` and a
:class:`ColumnMask`, in the spec's order ADC -> shift-add -> SAF correction -> mask; then
the sum over the crossbars of one output group.

How a layer maps onto the tile. :func:`xbar_hw.core.mapping.map_layer` numbers a layer's
crossbars ``cb * n_rb + rb`` (column block cb, row block rb). Crossbar n of the tile takes
its own input vector ``x[n]`` (R inputs: the host sends the row block rb's inputs to every
crossbar that holds row block rb) and belongs to output group ``group[n]`` (config). Output
beat g carries P[j] = sum over the crossbars n with group[n] == g of P'_n[j]: the crossbars
that hold the row blocks of one column block sum into the same outputs. For crossbars
``cb * n_rb + rb`` placed at tile positions 0, 1, ... set group[n] = n // n_rb and
groups = ceil(crossbars used / n_rb). Reset: group[n] = n, groups = N (every crossbar its
own output), ADC shift = the design's, every mask code the identity code, no faults,
colsum 0.

Protocol (all streams: a beat transfers in a cycle where valid and ready are both high):
  prog  sink {xbar, row, col, level}: write one cell; ready only while idle.
  cfg   sink {target, xbar, index, data}: one config write (see :class:`ConfigTarget`);
        ready only while idle. A write to a crossbar >= N, a logical column >= L or a
        table entry >= the table depth is ignored.
  x     sink [N][R] inputs: one MVM per beat; ready while idle and no prog/cfg beat is
        offered (configuration goes first).
  p     source {p[L], group, last}: ``groups`` beats per MVM, group 0 first; ``last`` on the
        final one; the payload holds while valid and not ready (back-pressure).
The exact cycle count is :func:`xbar_hw.core.cycles.cycles_per_mvm`.

FSM: IDLE --x--> COMPUTE (K cycles) --> FINISH (register P' of every crossbar) --> OUTPUT
(one beat per group) --> IDLE. COMPUTE runs the reads t = T-1 .. 0, most significant digit
first, through the arrays' sample-and-hold (ISAAC-style): read t's digits are applied, a
settle counter waits S = design.settle_cycles cycles (the analog read time, at least 1),
then the column sums are sampled, which frees the array: read t-1's digits are applied at
that edge and settle while the ADCs convert read t's held sums in n_conv cycles. A read is
sampled once it has settled and the previous read's conversions are done, so a read takes
max(S, n_conv) cycles after the first settle. The fault entries are applied one per cycle
from the first compute cycle, side by side; COMPUTE ends when both are done.
A synchronous reset returns to IDLE and to the reset configuration, drops a computation in
flight and keeps the cell levels (non-volatile) and the fault table's memory words (its
entry count goes to 0).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..core.design import Design
from .adc import Adc, AdcScheduler
from .array import CrossbarArray
from .mask import ColumnMask
from .params import COUNTER_BITS, component_params
from .saf import SafCorrector, fault_entry_layout
from .shift_add import ShiftAdd


class ConfigTarget(enum.Enum, shape=3):
    """What a config beat writes (``xbar`` selects the crossbar where it applies)."""

    ADC_SHIFT = 0    #: data = the crossbar's ADC shift a
    MASK_CODE = 1    #: index = logical column, data = mask code
    FAULT_ENTRY = 2  #: index = table entry, data = {row, col, delta} (fault entry layout, packed)
    FAULT_COUNT = 3  #: data = entries in use (clamped to the table depth)
    COLSUM = 4       #: index = logical column, data = colsum_w (two's complement); signed designs only
    GROUP = 5        #: data = the crossbar's output group
    GROUPS = 6       #: data = output beats per MVM (1 .. N; the xbar field is ignored)


class PeState(enum.Enum, shape=2):
    IDLE = 0
    COMPUTE = 1
    FINISH = 2
    OUTPUT = 3


def layouts(p) -> dict:
    """The payload layouts of the PE tile's four streams."""
    index_bits = max(p.lcol_bits, max(1, (p.fault_entries - 1).bit_length()))
    data_bits = max(p.shift_bits, p.mask_bits, fault_entry_layout(p).size, p.fault_count_bits,
                    p.colsum_bits, p.xbar_bits, p.crossbars.bit_length())
    x_shape = signed(p.input_bits) if p.signed else unsigned(p.input_bits)
    return {
        "x": data.ArrayLayout(data.ArrayLayout(x_shape, p.rows), p.crossbars),
        "p": data.StructLayout({
            "p": data.ArrayLayout(signed(p.out_bits), p.logical),
            "group": unsigned(p.xbar_bits),
            "last": unsigned(1),
        }),
        "prog": data.StructLayout({
            "xbar": unsigned(p.xbar_bits),
            "row": unsigned(p.row_bits),
            "col": unsigned(p.col_bits),
            "level": unsigned(p.level_bits),
        }),
        "cfg": data.StructLayout({
            "target": ConfigTarget,
            "xbar": unsigned(p.xbar_bits),
            "index": unsigned(index_bits),
            "data": unsigned(data_bits),
        }),
    }


class PeTile(wiring.Component):
    """The PE tile (see the module docstring for the protocol and the layer mapping).

    Ports:
      x            In  stream [N][R] inputs (signed b_x bits for signed designs, else unsigned)
      p            Out stream {p: [L] signed out bits, group, last}
      prog         In  stream {xbar, row, col, level}
      cfg          In  stream {target: ConfigTarget, xbar, index, data}
      busy         Out 1: not idle
      writes       Out [N] x 32: cell writes per crossbar since reset
      changes      Out [N] x 32: cell writes that changed a level, per crossbar
      conversions  Out 32: ADC conversions since reset (all crossbars)

    ``fault_entries``: depth of each crossbar's fault table (default R * L: any fault map fits).
    """

    def __init__(self, design: Design, fault_entries: int | None = None):
        self.design = design
        self.params = p = component_params(self, design, fault_entries)
        self.layouts = lay = layouts(p)
        super().__init__({
            "x": In(stream.Signature(lay["x"])),
            "p": Out(stream.Signature(lay["p"])),
            "prog": In(stream.Signature(lay["prog"])),
            "cfg": In(stream.Signature(lay["cfg"])),
            "busy": Out(1),
            "writes": Out(data.ArrayLayout(unsigned(COUNTER_BITS), p.crossbars)),
            "changes": Out(data.ArrayLayout(unsigned(COUNTER_BITS), p.crossbars)),
            "conversions": Out(COUNTER_BITS),
        })

    def elaborate(self, platform):
        p, d = self.params, self.design
        N, T, L = p.crossbars, p.read_cycles, p.logical
        m = Module()

        state = Signal(PeState)
        idle = state == PeState.IDLE
        reads = Signal(range(T + 1))               # reads not yet sampled (T at the start)
        t = Signal(range(T))                       # digit on the rows: read reads - 1 (T-1 first)
        age = Signal(range(max(2, p.settle)))      # settle counter: cycles since the digits were applied
        busy = Signal()                            # the held read is being converted
        step = Signal(p.step_bits)                 # conversion cycle within the held read
        k = Signal(p.step_bits)                    # fault entry k (stops at the entries in use)
        g = Signal(p.xbar_bits)                    # output beat
        groups = Signal(range(N + 1), init=N)
        group = Array(Signal(p.xbar_bits, init=n, name=f"group{n}") for n in range(N))
        shifts = Array(Signal(p.shift_bits, init=p.shift_reset, name=f"shift{n}") for n in range(N))
        x_u = [Signal(data.ArrayLayout(unsigned(p.input_bits), p.rows), name=f"x_u{n}") for n in range(N)]
        masked = [Signal(data.ArrayLayout(signed(p.masked_bits), L), name=f"masked{n}") for n in range(N)]

        m.d.comb += [
            self.prog.ready.eq(idle),
            self.cfg.ready.eq(idle),
            self.x.ready.eq(idle & ~self.prog.valid & ~self.cfg.valid),
            self.busy.eq(~idle),
        ]
        accept = self.x.valid & self.x.ready
        prog_go = self.prog.valid & self.prog.ready
        cfg_go = self.cfg.valid & self.cfg.ready
        cfg = self.cfg.payload
        # config writes past the end of what they address are ignored (the components'
        # narrower index ports would otherwise wrap them onto valid entries)
        in_cols = cfg.index < L
        in_table = cfg.index < p.fault_entries

        n_conv_all, fault_counts, conv_events = [], [], []
        converting = Signal()                      # a conversion cycle of the held read
        sample = Signal()                          # sample-and-hold at this edge; next read applied
        for n in range(N):
            array = CrossbarArray(d)
            sched = AdcScheduler(d)
            shadd = ShiftAdd(d)
            saf = SafCorrector(d, p.fault_entries)
            mask = ColumnMask(d)
            m.submodules[f"xbar{n}_array"] = array
            m.submodules[f"xbar{n}_sched"] = sched
            m.submodules[f"xbar{n}_shift_add"] = shadd
            m.submodules[f"xbar{n}_saf"] = saf
            m.submodules[f"xbar{n}_mask"] = mask
            this = cfg.xbar == n

            # programming port
            m.d.comb += [
                array.prog.row.eq(self.prog.payload.row),
                array.prog.col.eq(self.prog.payload.col),
                array.prog.level.eq(self.prog.payload.level),
                array.prog_we.eq(prog_go & (self.prog.payload.xbar == n)),
                self.writes[n].eq(array.writes),
                self.changes[n].eq(array.changes),
            ]
            # inputs: the digit of read t, most significant first; the array samples its
            # column sums into the sample-and-hold when the FSM says, and the new digits
            # (a new x at the input beat, the next read at a sample) start their settle
            pad = T * p.dac_bits - p.input_bits
            for r in range(p.rows):
                xr = x_u[n][r] if pad == 0 else Cat(x_u[n][r], Const(0, pad))
                m.d.comb += array.digits[r].eq(xr.word_select(t, p.dac_bits))
            m.d.comb += [array.apply.eq(accept | sample), array.sample.eq(sample)]
            # ADC multiplexer, ADCs, shift-add
            m.d.comb += [sched.active.eq(mask.active), sched.step.eq(step)]
            for a in range(p.adcs):
                adc = Adc(d)
                m.submodules[f"xbar{n}_adc{a}"] = adc
                m.d.comb += [
                    array.col[a].eq(sched.col[a]),
                    adc.sum.eq(array.sums[a]),
                    adc.shift.eq(shifts[n]),
                    shadd.codes[a].eq(adc.code),
                ]
            m.d.comb += [
                shadd.clear.eq(accept),
                shadd.en.eq(converting),
                shadd.step.eq(step),
                shadd.valid.eq(sched.valid),
                shadd.rank.eq(sched.rank),
                shadd.shift.eq(shifts[n]),
                shadd.colsum_we.eq(cfg_go & this & in_cols & (cfg.target == ConfigTarget.COLSUM)),
                shadd.colsum_index.eq(cfg.index),
                shadd.colsum_data.eq(cfg.data[:p.colsum_bits].as_signed()),
            ]
            # SAF correction, side by side with the conversions
            m.d.comb += [
                saf.entry_we.eq(cfg_go & this & in_table & (cfg.target == ConfigTarget.FAULT_ENTRY)),
                saf.entry_index.eq(cfg.index),
                saf.entry.eq(cfg.data[:fault_entry_layout(p).size]),
                saf.count_we.eq(cfg_go & this & (cfg.target == ConfigTarget.FAULT_COUNT)),
                saf.count_data.eq(cfg.data),
                saf.clear.eq(accept),
                saf.en.eq(state == PeState.COMPUTE),
                saf.step.eq(k),
                saf.x_u.eq(x_u[n]),
            ]
            # column mask
            m.d.comb += [
                mask.code_we.eq(cfg_go & this & in_cols & (cfg.target == ConfigTarget.MASK_CODE)),
                mask.code_index.eq(cfg.index),
                mask.code_data.eq(cfg.data),
            ]
            for j in range(L):
                m.d.comb += mask.p[j].eq(shadd.p[j] + saf.corr[j])
            with m.If(state == PeState.FINISH):
                m.d.sync += masked[n].eq(mask.masked)
            # input register: x_u = x + 2^(b_x-1) for signed inputs, which flips the sign bit
            with m.If(accept):
                for r in range(p.rows):
                    xr = Value.cast(self.x.payload[n][r])[:p.input_bits]
                    m.d.sync += x_u[n][r].eq(xr ^ (1 << (p.input_bits - 1)) if p.signed else xr)
            n_conv_all.append(sched.n_conv)
            fault_counts.append(saf.count)
            conv_events.append(Mux(converting, sched.valid, 0))

        # configuration registers of the tile
        # (a crossbar index past the end names no crossbar: ignored, not wrapped)
        with m.If(cfg_go):
            with m.Switch(cfg.target):
                with m.Case(ConfigTarget.ADC_SHIFT):
                    with m.If(cfg.xbar < N):
                        m.d.sync += shifts[cfg.xbar].eq(cfg.data)
                with m.Case(ConfigTarget.GROUP):
                    with m.If(cfg.xbar < N):
                        m.d.sync += group[cfg.xbar].eq(cfg.data)
                with m.Case(ConfigTarget.GROUPS):
                    m.d.sync += groups.eq(cfg.data)

        # the slowest crossbar sets the pace: crossbars convert in parallel
        n_conv = Signal(range(p.conv_max + 1))
        m.d.comb += n_conv.eq(_max_all(n_conv_all))
        faults = Signal(p.fault_count_bits)
        m.d.comb += faults.eq(_max_all(fault_counts))
        compute = state == PeState.COMPUTE
        m.d.comb += t.eq(Mux(reads == 0, 0, reads - 1))
        # at the end of this cycle: the applied read has settled (S cycles since its
        # digits), the held read's conversions are done; then the applied read is sampled
        settled = Signal()
        free = Signal()
        m.d.comb += [
            settled.eq(age + 1 >= p.settle),
            free.eq(~busy | (step + 1 >= n_conv)),
            sample.eq(compute & (reads != 0) & settled & free),
            converting.eq(compute & busy),
        ]
        reads_next = Signal.like(reads)
        busy_next = Signal()
        m.d.comb += [
            reads_next.eq(reads - sample),
            busy_next.eq(Mux(sample, n_conv != 0, busy & (step + 1 < n_conv))),
        ]
        conv_done = (reads_next == 0) & ~busy_next  # every read sampled and converted
        corr_done = k + 1 >= faults                  # every fault entry applied

        events = Signal(range(N * p.adcs + 1))
        m.d.comb += events.eq(sum(sum(ev[a] for a in range(p.adcs)) for ev in conv_events))
        m.d.sync += self.conversions.eq(self.conversions + events)

        out = self.p.payload
        last = (g + 1 >= groups) | (g == N - 1)
        for j in range(L):
            m.d.comb += out.p[j].eq(sum(Mux(group[n] == g, masked[n][j], 0) for n in range(N)))
        m.d.comb += [out.group.eq(g), out.last.eq(last), self.p.valid.eq(state == PeState.OUTPUT)]

        with m.Switch(state):
            with m.Case(PeState.IDLE):
                with m.If(accept):  # read T-1's digits are applied from the next cycle
                    m.d.sync += [reads.eq(T), age.eq(0), busy.eq(0), step.eq(0), k.eq(0)]
                    m.d.sync += state.eq(PeState.COMPUTE)  # K >= T * S >= 1
            with m.Case(PeState.COMPUTE):
                m.d.sync += [reads.eq(reads_next), busy.eq(busy_next),
                             step.eq(Mux(busy_next & ~sample, step + 1, 0))]
                with m.If(sample):
                    m.d.sync += age.eq(0)
                with m.Elif(~settled):
                    m.d.sync += age.eq(age + 1)
                with m.If(k < faults):
                    m.d.sync += k.eq(k + 1)
                with m.If(conv_done & corr_done):
                    m.d.sync += state.eq(PeState.FINISH)
            with m.Case(PeState.FINISH):
                m.d.sync += [g.eq(0), state.eq(PeState.OUTPUT)]
            with m.Case(PeState.OUTPUT):
                with m.If(self.p.ready):
                    m.d.sync += g.eq(g + 1)
                    with m.If(last):
                        m.d.sync += state.eq(PeState.IDLE)
        return m


def _max_all(values):
    out = values[0]
    for v in values[1:]:
        out = Mux(v > out, v, out)
    return out
