"""The PE tile: ``pe.crossbars`` crossbars with their periphery and a control FSM.

Per crossbar n (0 .. N-1, N = pe.crossbars): the crossbar array, A ADCs
and their :class:`AdcScheduler`, a :class:`ShiftAdd`, a :class:`SafCorrector` and a
:class:`ColumnMask`, in the spec's order ADC -> shift-add -> SAF correction -> mask; then
the sum over the crossbars of one output group. The array is the black-box macro
(:class:`.macro.CrossbarMacro`, ``array="macro"``: what the Verilog holds, simulated with
the macro's Verilog model) or the Amaranth model (:class:`.array.CrossbarArray`,
``array="amaranth"``: for Amaranth's own simulator, which cannot run a black box).

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

The streams' payload layouts and signatures, and :class:`ConfigTarget`, are in
:mod:`.streams`. :meth:`PeTile.elaborate` builds the tile in parts: the crossbars with their
periphery (``_crossbar``: ``_array``, ``_adcs``, ``_correction``), the config registers,
the read sequencer (sample-and-hold, conversions, the end of COMPUTE), the output sum and
the FSM; the control signals they share are one ``_Control``.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from ..core.design import Design
from ..core.errors import XbarError
from .adc import Adc, AdcScheduler
from .array import CrossbarArray
from .macro import CrossbarMacro
from .mask import ColumnMask
from .params import COUNTER_BITS, component_params
from .saf import SafCorrector, fault_entry_layout
from .shift_add import ShiftAdd
from .streams import ConfigTarget, cfg_stream, input_stream, layouts, output_stream, prog_stream


class PeState(enum.Enum, shape=2):
    """The control FSM's states (module docstring)."""

    IDLE = 0
    COMPUTE = 1
    FINISH = 2
    OUTPUT = 3


class _Control:
    """The tile's control registers and the strobes its parts share (built by
    :meth:`PeTile.elaborate`; the signal names are the Verilog's)."""

    def __init__(self, p, tile: PeTile):
        N, T, L = p.crossbars, p.read_cycles, p.logical
        self.state = Signal(PeState, name="state")
        self.idle = self.state == PeState.IDLE
        self.reads = Signal(range(T + 1), name="reads")   # reads not yet sampled (T at the start)
        self.t = Signal(range(T), name="t")               # digit on the rows: read reads - 1 (T-1 first)
        # settle counter: cycles since the digits were applied
        self.age = Signal(range(max(2, p.settle)), name="age")
        self.busy = Signal(name="busy")                   # the held read is being converted
        self.step = Signal(p.step_bits, name="step")      # conversion cycle within the held read
        self.k = Signal(p.step_bits, name="k")            # fault entry k (stops at the entries in use)
        self.g = Signal(p.xbar_bits, name="g")            # output beat
        self.groups = Signal(range(N + 1), init=N, name="groups")
        self.group = Array(Signal(p.xbar_bits, init=n, name=f"group{n}") for n in range(N))
        self.shifts = Array(Signal(p.shift_bits, init=p.shift_reset, name=f"shift{n}") for n in range(N))
        self.x_u = [Signal(data.ArrayLayout(unsigned(p.input_bits), p.rows), name=f"x_u{n}") for n in range(N)]
        self.masked = [Signal(data.ArrayLayout(signed(p.masked_bits), L), name=f"masked{n}") for n in range(N)]
        # handshakes of this cycle
        self.accept = tile.x.valid & tile.x.ready
        self.prog_go = tile.prog.valid & tile.prog.ready
        self.cfg_go = tile.cfg.valid & tile.cfg.ready
        self.converting = Signal(name="converting")      # a conversion cycle of the held read
        self.sample = Signal(name="sample")              # sample-and-hold at this edge; next read applied
        # the read sequencer's (PeTile._read_sequencer) view of the end of this cycle
        self.faults = Signal(p.fault_count_bits, name="faults")  # fault entries of the longest table
        self.settled = Signal(name="settled")            # the applied read has settled
        self.reads_next = Signal.like(self.reads, name="reads_next")
        self.busy_next = Signal(name="busy_next")
        self.done = None                                 # COMPUTE's last cycle (every read and entry done)
        self.last = None                                 # the output beat is the MVM's last

    def cfg_write(self, tile: PeTile, n: int, target: ConfigTarget, in_range=None):
        """A config write of ``target`` to crossbar ``n`` in this cycle. Writes past the end
        of what they address (``in_range`` false) are ignored: the components' narrower
        index ports would otherwise wrap them onto valid entries."""
        cfg = tile.cfg.payload
        this = self.cfg_go & (cfg.xbar == n)
        return (this if in_range is None else this & in_range) & (cfg.target == target)


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

    ``fault_entries``: depth of each crossbar's fault table (default: the design's,
    ``design.fault_table_entries``; faults past it go uncorrected, as in the golden model).
    ``adc_bits``: the ADC bits of each crossbar slot (TinyADC: the Program's per-crossbar
    bits; default: every slot at ``adc.bits``); a slot's ADCs clip at 2^bits - 1 and their
    codes are that many bits wide (zero-extended into the shift-add).
    ``array``: "macro" (each crossbar a black-box instance of the macro) or "amaranth"
    (the Amaranth model, for Amaranth's simulator).
    """

    ARRAYS = {"macro": CrossbarMacro, "amaranth": CrossbarArray}

    def __init__(self, design: Design, fault_entries: int | None = None, adc_bits: list[int] | None = None,
                 array: str = "macro"):
        self.design = design
        self.params = p = component_params(self, design, fault_entries)
        self.adc_bits = [p.adc_bits] * p.crossbars if adc_bits is None else [int(b) for b in adc_bits]
        if len(self.adc_bits) != p.crossbars or not all(1 <= b <= p.adc_bits for b in self.adc_bits):
            self._MustUse__used = True
            raise XbarError(f"adc bits: got {list(adc_bits)}; allowed: {p.crossbars} integers in [1, {p.adc_bits}]")
        if array not in self.ARRAYS:
            self._MustUse__used = True
            raise XbarError(f"array: got {array!r}; allowed: one of {', '.join(self.ARRAYS)}")
        self.array = array
        self.layouts = layouts(p)
        super().__init__({
            "x": In(input_stream(p)),
            "p": Out(output_stream(p)),
            "prog": In(prog_stream(p)),
            "cfg": In(cfg_stream(p)),
            "busy": Out(1),
            "writes": Out(data.ArrayLayout(unsigned(COUNTER_BITS), p.crossbars)),
            "changes": Out(data.ArrayLayout(unsigned(COUNTER_BITS), p.crossbars)),
            "conversions": Out(COUNTER_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        c = _Control(self.params, self)
        m.d.comb += [
            self.prog.ready.eq(c.idle),
            self.cfg.ready.eq(c.idle),
            self.x.ready.eq(c.idle & ~self.prog.valid & ~self.cfg.valid),
            self.busy.eq(~c.idle),
        ]
        per = [self._crossbar(m, c, n) for n in range(self.params.crossbars)]
        self._config_registers(m, c)
        self._read_sequencer(m, c, per)
        self._output(m, c)
        self._fsm(m, c)
        return m

    # ------------------------------------------------------------------ one crossbar

    def _crossbar(self, m: Module, c: _Control, n: int) -> tuple:
        """Crossbar n with its periphery: array, ADC scheduler, shift-add, SAF corrector,
        column mask, ADCs; its input register and its masked-result register. Returns its
        (conversion cycles per read, fault entries in use, conversions this cycle)."""
        d = self.design
        array = CrossbarMacro(d, n) if self.array == "macro" else CrossbarArray(d)
        sched = AdcScheduler(d)
        shadd, saf, mask = ShiftAdd(d), SafCorrector(d, self.params.fault_entries), ColumnMask(d)
        m.submodules[f"xbar{n}_array"] = array
        m.submodules[f"xbar{n}_sched"] = sched
        m.submodules[f"xbar{n}_shift_add"] = shadd
        m.submodules[f"xbar{n}_saf"] = saf
        m.submodules[f"xbar{n}_mask"] = mask
        self._array(m, c, n, array)
        m.d.comb += [sched.active.eq(mask.active), sched.step.eq(c.step)]
        self._adcs(m, c, n, array, sched, shadd)
        self._correction(m, c, n, shadd, saf, mask)
        # input register: x_u = x + 2^(b_x-1) for signed inputs, which flips the sign bit
        p = self.params
        with m.If(c.accept):
            for r in range(p.rows):
                xr = Value.cast(self.x.payload[n][r])[:p.input_bits]
                m.d.sync += c.x_u[n][r].eq(xr ^ (1 << (p.input_bits - 1)) if p.signed else xr)
        return sched.n_conv, saf.count, Mux(c.converting, sched.valid, 0)

    def _array(self, m: Module, c: _Control, n: int, array) -> None:
        """The array's programming port and counters; its rows: the digit of read t, most
        significant first. The array samples its column sums into the sample-and-hold when
        the FSM says, and the new digits (a new x at the input beat, the next read at a
        sample) start their settle."""
        p, prog = self.params, self.prog.payload
        m.d.comb += [
            array.prog.row.eq(prog.row),
            array.prog.col.eq(prog.col),
            array.prog.level.eq(prog.level),
            array.prog_we.eq(c.prog_go & (prog.xbar == n)),
            self.writes[n].eq(array.writes),
            self.changes[n].eq(array.changes),
        ]
        pad = p.read_cycles * p.dac_bits - p.input_bits
        for r in range(p.rows):
            xr = c.x_u[n][r] if pad == 0 else Cat(c.x_u[n][r], Const(0, pad))
            m.d.comb += array.digits[r].eq(xr.word_select(c.t, p.dac_bits))
        m.d.comb += [array.apply.eq(c.accept | c.sample), array.sample.eq(c.sample)]

    def _adcs(self, m: Module, c: _Control, n: int, array, sched, shadd) -> None:
        """The ADC multiplexer, the ADCs and the shift-add of crossbar n (with its colsum
        registers)."""
        p, d, cfg = self.params, self.design, self.cfg.payload
        for a in range(p.adcs):
            adc = Adc(d, self.adc_bits[n])
            m.submodules[f"xbar{n}_adc{a}"] = adc
            m.d.comb += [
                array.col[a].eq(sched.col[a]),
                adc.sum.eq(array.sums[a]),
                adc.shift.eq(c.shifts[n]),
                shadd.codes[a].eq(adc.code),
            ]
        m.d.comb += [
            shadd.clear.eq(c.accept),
            shadd.en.eq(c.converting),
            shadd.step.eq(c.step),
            shadd.valid.eq(sched.valid),
            shadd.rank.eq(sched.rank),
            shadd.shift.eq(c.shifts[n]),
            shadd.colsum_we.eq(c.cfg_write(self, n, ConfigTarget.COLSUM, cfg.index < p.logical)),
            shadd.colsum_index.eq(cfg.index),
            shadd.colsum_data.eq(cfg.data[:p.colsum_bits].as_signed()),
        ]

    def _correction(self, m: Module, c: _Control, n: int, shadd, saf, mask) -> None:
        """SAF correction (side by side with the conversions) and the column mask of
        crossbar n; its masked result is registered in FINISH."""
        p, cfg = self.params, self.cfg.payload
        m.d.comb += [
            saf.entry_we.eq(c.cfg_write(self, n, ConfigTarget.FAULT_ENTRY, cfg.index < p.fault_entries)),
            saf.entry_index.eq(cfg.index),
            saf.entry.eq(cfg.data[:fault_entry_layout(p).size]),
            saf.count_we.eq(c.cfg_write(self, n, ConfigTarget.FAULT_COUNT)),
            saf.count_data.eq(cfg.data),
            saf.clear.eq(c.accept),
            saf.en.eq(c.state == PeState.COMPUTE),
            saf.step.eq(c.k),
            saf.x_u.eq(c.x_u[n]),
        ]
        m.d.comb += [
            mask.code_we.eq(c.cfg_write(self, n, ConfigTarget.MASK_CODE, cfg.index < p.logical)),
            mask.code_index.eq(cfg.index),
            mask.code_data.eq(cfg.data),
        ]
        for j in range(p.logical):
            m.d.comb += mask.p[j].eq(shadd.p[j] + saf.corr[j])
        with m.If(c.state == PeState.FINISH):
            m.d.sync += c.masked[n].eq(mask.masked)

    # ------------------------------------------------------------------ the tile

    def _config_registers(self, m: Module, c: _Control) -> None:
        """The tile's own config registers: ADC shift and group per crossbar, groups (a
        crossbar index past the end names no crossbar: ignored, not wrapped)."""
        N, cfg = self.params.crossbars, self.cfg.payload
        with m.If(c.cfg_go):
            with m.Switch(cfg.target):
                with m.Case(ConfigTarget.ADC_SHIFT):
                    with m.If(cfg.xbar < N):
                        m.d.sync += c.shifts[cfg.xbar].eq(cfg.data)
                with m.Case(ConfigTarget.GROUP):
                    with m.If(cfg.xbar < N):
                        m.d.sync += c.group[cfg.xbar].eq(cfg.data)
                with m.Case(ConfigTarget.GROUPS):
                    m.d.sync += c.groups.eq(cfg.data)

    def _read_sequencer(self, m: Module, c: _Control, per: list[tuple]) -> None:
        """When the applied read is sampled and when the held one converts, and when COMPUTE
        is done (``c.sample``, ``c.converting``, ``c.settled``, ``c.reads_next``,
        ``c.busy_next``, ``c.done``); the ADC conversion counter."""
        p = self.params
        N = p.crossbars
        # the slowest crossbar sets the pace: crossbars convert in parallel
        n_conv = Signal(range(p.conv_max + 1), name="n_conv")
        m.d.comb += n_conv.eq(_max_all([n_conv_n for n_conv_n, _, _ in per]))
        m.d.comb += c.faults.eq(_max_all([count for _, count, _ in per]))
        compute = c.state == PeState.COMPUTE
        m.d.comb += c.t.eq(Mux(c.reads == 0, 0, c.reads - 1))
        # at the end of this cycle: the applied read has settled (S cycles since its
        # digits), the held read's conversions are done; then the applied read is sampled
        free = Signal(name="free")
        m.d.comb += [
            c.settled.eq(c.age + 1 >= p.settle),
            free.eq(~c.busy | (c.step + 1 >= n_conv)),
            c.sample.eq(compute & (c.reads != 0) & c.settled & free),
            c.converting.eq(compute & c.busy),
        ]
        m.d.comb += [
            c.reads_next.eq(c.reads - c.sample),
            c.busy_next.eq(Mux(c.sample, n_conv != 0, c.busy & (c.step + 1 < n_conv))),
        ]
        conv_done = (c.reads_next == 0) & ~c.busy_next  # every read sampled and converted
        corr_done = c.k + 1 >= c.faults                   # every fault entry applied
        c.done = conv_done & corr_done

        events = Signal(range(N * p.adcs + 1), name="events")
        m.d.comb += events.eq(sum(sum(ev[a] for a in range(p.adcs)) for _, _, ev in per))
        m.d.sync += self.conversions.eq(self.conversions + events)

    def _output(self, m: Module, c: _Control) -> None:
        """Output beat g: the sum of the masked results of the crossbars of group g."""
        N, L, out = self.params.crossbars, self.params.logical, self.p.payload
        c.last = (c.g + 1 >= c.groups) | (c.g == N - 1)
        for j in range(L):
            m.d.comb += out.p[j].eq(sum(Mux(c.group[n] == c.g, c.masked[n][j], 0) for n in range(N)))
        m.d.comb += [out.group.eq(c.g), out.last.eq(c.last), self.p.valid.eq(c.state == PeState.OUTPUT)]

    def _fsm(self, m: Module, c: _Control) -> None:
        """IDLE --x--> COMPUTE --> FINISH --> OUTPUT (one beat per group) --> IDLE."""
        T = self.params.read_cycles
        with m.Switch(c.state):
            with m.Case(PeState.IDLE):
                with m.If(c.accept):  # read T-1's digits are applied from the next cycle
                    m.d.sync += [c.reads.eq(T), c.age.eq(0), c.busy.eq(0), c.step.eq(0), c.k.eq(0)]
                    m.d.sync += c.state.eq(PeState.COMPUTE)  # K >= T * S >= 1
            with m.Case(PeState.COMPUTE):
                m.d.sync += [c.reads.eq(c.reads_next), c.busy.eq(c.busy_next),
                             c.step.eq(Mux(c.busy_next & ~c.sample, c.step + 1, 0))]
                with m.If(c.sample):
                    m.d.sync += c.age.eq(0)
                with m.Elif(~c.settled):
                    m.d.sync += c.age.eq(c.age + 1)
                with m.If(c.k < c.faults):
                    m.d.sync += c.k.eq(c.k + 1)
                with m.If(c.done):
                    m.d.sync += c.state.eq(PeState.FINISH)
            with m.Case(PeState.FINISH):
                m.d.sync += [c.g.eq(0), c.state.eq(PeState.OUTPUT)]
            with m.Case(PeState.OUTPUT):
                with m.If(self.p.ready):
                    m.d.sync += c.g.eq(c.g + 1)
                    with m.If(c.last):
                        m.d.sync += c.state.eq(PeState.IDLE)


def _max_all(values):
    out = values[0]
    for v in values[1:]:
        out = Mux(v > out, v, out)
    return out
