"""Valid/ready stream drivers and monitors for cocotb 2, in the style of cocotbext-axi:
a :class:`StreamSource` sends beats from a queue into a sink port of the DUT, a
:class:`StreamSink` takes beats from a source port into a queue (with optional random
back-pressure), a :class:`StreamMonitor` watches a port without driving it. All three
derive from :class:`StreamBase`: the bus, the clocking, the queue, the coroutine that runs
the stream, and the reset (cocotbext-axi's StreamBase).

Reset: given the DUT's reset signal, a stream stops while it is asserted, as a stream
interface on the same reset would: a source drops valid and the beats it has not sent, a
sink drops ready and the beats it holds, a monitor records nothing meanwhile; what was
dropped is kept in ``flushed``. When the reset is released, each resumes at that clock edge's sample
point (beats queued since then are sent).

Timing discipline (the same on Icarus, an event-driven simulator, and Verilator, a
cycle-based one, where signals read right after a clock edge differ): every write to the
DUT happens at a falling clock edge; every handshake is sampled in the ReadOnly phase of
that same time step, when the DUT's combinational outputs have settled on those writes.
A beat whose valid and ready are both high there transfers at the next rising edge.
Rising edges are numbered from the clock's start (:class:`Clocking`), so every transfer
and stall carries the index of its clock edge: the host counts cycles from them.

While nothing can happen (a queue is empty, the DUT holds ready or valid low) a driver
sleeps on an event or on the rising edge of the DUT's signal instead of waking every
cycle: that is where the co-simulation's speed comes from.

No torch here: this module is imported inside the simulator.
"""

from __future__ import annotations

import cocotb
from cocotb.queue import Queue
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, FallingEdge, First, ReadOnly, ReadWrite, RisingEdge

try:  # as a submodule of xbar_hw.sim (host), or top level (inside the simulator)
    from .xbar_layout import Layout
except ImportError:  # pragma: no cover - the simulator's import path
    from xbar_layout import Layout


class Clocking:
    """The clock and the numbering of its rising edges: edge k rises at
    t0 + (period - period_high) + k * period, t0 being the time the clock started low."""

    def __init__(self, clock, period_steps: int, period_high_steps: int | None = None):
        self.clock = clock
        self.period = int(period_steps)
        self.high = self.period // 2 if period_high_steps is None else int(period_high_steps)
        self.t0 = 0

    def started(self) -> None:
        self.t0 = get_sim_time("step")

    def next_edge(self) -> int:
        """Index of the next rising edge (called in the low phase of the clock)."""
        first = self.t0 + self.period - self.high
        return -(-(get_sim_time("step") - first) // self.period)

    async def to_sample_point(self) -> None:
        """After an edge of a DUT signal: move to the next falling clock edge, unless the
        clock is already low (the signal changed at a falling edge, on a write)."""
        if self.clock.value == 1:
            await FallingEdge(self.clock)

    async def cycles(self, n: int) -> None:
        for _ in range(n):
            await FallingEdge(self.clock)


class StreamBus:
    """The ``valid``, ``ready`` and ``payload`` handles of one stream port of the DUT
    (Amaranth's names: ``<port>__valid`` and so on)."""

    def __init__(self, dut, prefix: str):
        self.name = prefix
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")


class StreamBase:
    """What a stream source, sink and monitor share (cocotbext-axi's StreamBase): the
    ``bus``, the ``clocking``, the payload ``layout``, the ``queue`` of beats, the
    coroutine that runs the stream (:meth:`_run`, started by :meth:`start`) and the
    reset.

    ``reset``: the DUT's reset signal (None: no reset), active at ``reset_active_level``.
    While it is asserted the stream's coroutine is stopped and :meth:`_on_reset` drops
    the stream's state (the beats dropped go to ``flushed``); when it is released the
    coroutine starts again from the sample point of that clock edge. ``resets`` counts
    the resets seen. ``event_driven=False`` polls every cycle instead of waiting on the
    DUT's signals (slower; the reference behaviour).
    """

    def __init__(self, bus: StreamBus, clocking: Clocking, layout: Layout | None = None, *, reset=None,
                 reset_active_level: bool = True, event_driven: bool = True):
        self.bus, self.clocking, self.layout = bus, clocking, layout
        self.reset, self.reset_active_level = reset, bool(reset_active_level)
        self.event_driven = event_driven
        self.queue: Queue = Queue()
        self.flushed: list = []
        self.resets = 0
        self._task = None
        self._reset_task = None
        self._started = False

    # ------------------------------------------------------------------ queue
    def count(self) -> int:
        return self.queue.qsize()

    def empty(self) -> bool:
        return self.count() == 0

    def clear(self) -> list:
        """Drop the queued beats; returns them."""
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out

    # ------------------------------------------------------------------ running and reset
    def start(self) -> None:
        """Start the stream (once the reset, if any, is released)."""
        if self._started:
            return
        self._started = True
        if self.reset is None:
            self._resume()
        else:
            self._reset_task = cocotb.start_soon(self._watch_reset())

    def in_reset(self) -> bool:
        if self.reset is None:
            return False
        v = self.reset.value
        return v.is_resolvable and bool(int(v)) == self.reset_active_level

    def _resume(self) -> None:
        if self._task is None:
            self._task = cocotb.start_soon(self._run_from_sample_point())

    async def _run_from_sample_point(self) -> None:
        await self.clocking.to_sample_point()
        await self._run()

    def _handle_reset(self, active: bool) -> None:
        if active:
            if self._task is not None:
                self._task.cancel()
                self._task = None
            self.resets += 1
            self._on_reset()
        else:
            self._resume()

    async def _watch_reset(self) -> None:
        await ReadWrite()  # the testbench's writes of this time step (reset asserted at start) applied
        active = self.in_reset()
        self._handle_reset(active)
        while True:
            await self.reset.value_change
            if self.in_reset() != active:
                active = not active
                self._handle_reset(active)

    def _on_reset(self) -> None:
        """Drop the stream's state at a reset (subclasses drive their outputs idle too)."""
        self.flushed += self.clear()

    async def _run(self) -> None:
        """The stream, from a sample point (a falling clock edge) on."""
        raise NotImplementedError


class StreamSource(StreamBase):
    """Sends beats into a sink port of the DUT (cocotbext-axi's AxiStreamSource).

    ``send_nowait(beat)`` / ``await send(beat)`` queue a beat (a dict, list or int packed
    with ``layout``); ``await wait()`` returns once every queued beat has transferred (or
    was dropped by a reset); ``edges`` lists the rising edge of every transfer. At a reset
    valid goes low and the beat offered and the queued ones are dropped.
    """

    def __init__(self, bus: StreamBus, clocking: Clocking, layout: Layout | None = None, **kwargs):
        super().__init__(bus, clocking, layout, **kwargs)
        self.edges: list[int] = []
        self.current = None  # the beat offered (valid high), until it transfers
        self._idle = Event()
        self._idle.set()
        bus.valid.value = 0  # driven before the clock starts
        bus.payload.value = 0

    def send_nowait(self, beat) -> None:
        self.queue.put_nowait(beat)
        self._idle.clear()

    async def send(self, beat) -> None:
        self.send_nowait(beat)

    def count(self) -> int:
        return self.queue.qsize() + (self.current is not None)

    def idle(self) -> bool:
        return self._idle.is_set()

    async def wait(self) -> None:
        """Until every queued beat has transferred (and valid is low again)."""
        await self._idle.wait()

    def _on_reset(self) -> None:
        if self.current is not None:
            self.flushed.append(self.current)
            self.current = None
        super()._on_reset()
        self.bus.valid.value = 0
        self._idle.set()

    async def _run(self) -> None:
        bus, clk = self.bus, self.clocking.clock
        pack = self.layout.pack if self.layout is not None else int
        high = False
        while True:
            if self.queue.empty():
                if high:
                    bus.valid.value = 0
                    high = False
                self._idle.set()
                self.current = await self.queue.get()
                await FallingEdge(clk)
            else:
                self.current = self.queue.get_nowait()
            bus.payload.value = pack(self.current)
            if not high:
                bus.valid.value = 1
                high = True
            await ReadOnly()
            while not bus.ready.value:
                if self.event_driven:
                    await RisingEdge(bus.ready)
                    await self.clocking.to_sample_point()
                else:
                    await FallingEdge(clk)
                await ReadOnly()
            self.current = None
            self.edges.append(self.clocking.next_edge())
            await FallingEdge(clk)


class StreamSink(StreamBase):
    """Takes beats from a source port of the DUT into a queue (cocotbext-axi's
    AxiStreamSink): ``await recv()`` returns ``(edge, beat)``, the beat unpacked with
    ``layout``.

    ``ready``: None keeps ready high; a callable () -> bool draws ready for each cycle in
    which the DUT offers a beat (random back-pressure). ``stalls`` lists the rising edges
    at which a beat was offered and not taken; ``errors`` the protocol violations seen (a
    payload that changed, or valid that dropped, while stalled). At a reset ready goes low
    and the received beats not yet taken by :meth:`recv` are dropped; a stalled beat is
    forgotten (its valid may drop).
    """

    def __init__(self, bus: StreamBus, clocking: Clocking, layout: Layout | None = None, *, ready=None, **kwargs):
        super().__init__(bus, clocking, layout, **kwargs)
        self.ready_fn = ready
        self.stalls: list[int] = []
        self.errors: list[str] = []
        self.transfers = 0
        bus.ready.value = 0  # driven before the clock starts; high once the stream runs

    async def recv(self):
        return await self.queue.get()

    def recv_nowait(self):
        return self.queue.get_nowait()

    def _on_reset(self) -> None:
        super()._on_reset()
        self.bus.ready.value = 0

    def _read_payload(self, edge: int) -> int:
        """The payload as an integer; X or Z bits are an error, read as 0 (the beat will
        not match)."""
        v = self.bus.payload.value
        if v.is_resolvable:
            return v.to_unsigned()
        self.errors.append(f"{self.bus.name}: payload {v} has bits that are not 0/1, before edge {edge}")
        return int("".join(c if c in "01" else "0" for c in str(v)), 2)

    async def _run(self) -> None:
        bus, clk = self.bus, self.clocking.clock
        unpack = self.layout.unpack if self.layout is not None else (lambda raw: raw)
        always = self.ready_fn is None
        ready = True
        if always:
            bus.ready.value = 1
        held = None  # the payload of a stalled beat: it must hold
        while True:
            if not always:
                ready = bool(self.ready_fn())
                bus.ready.value = int(ready)
            await ReadOnly()
            if bus.valid.value:
                edge = self.clocking.next_edge()
                raw = self._read_payload(edge)
                if held is not None and raw != held:
                    self.errors.append(f"{bus.name}: payload changed while stalled, before edge {edge}")
                if ready:
                    self.transfers += 1
                    self.queue.put_nowait((edge, unpack(raw)))
                    held = None
                else:
                    self.stalls.append(edge)
                    held = raw
                await FallingEdge(clk)
                continue
            if held is not None:
                self.errors.append(f"{bus.name}: valid dropped while stalled, before edge {self.clocking.next_edge()}")
                held = None
            if self.event_driven:
                await RisingEdge(bus.valid)
                await self.clocking.to_sample_point()
            else:
                await FallingEdge(clk)


class StreamMonitor(StreamBase):
    """Records the beats that transfer on a port that others drive (it writes nothing):
    ``beats`` holds (edge, raw payload) per transfer, and the queue the same for
    :meth:`recv`. Event-driven like the drivers: it wakes on valid rising, then on ready
    rising while a beat waits. It records nothing while the reset is asserted (nothing
    transfers then) and keeps what it recorded before."""

    def __init__(self, bus: StreamBus, clocking: Clocking, layout: Layout | None = None, **kwargs):
        super().__init__(bus, clocking, layout, **kwargs)
        self.beats: list[tuple[int, int]] = []

    async def recv(self):
        return await self.queue.get()

    def _on_reset(self) -> None:
        """Nothing to drop: a transfer is recorded when it happens, and what was recorded
        did happen."""

    async def _run(self) -> None:
        bus, clk = self.bus, self.clocking.clock
        while True:
            await ReadOnly()
            valid, ready = bus.valid.value, bus.ready.value
            if valid and ready:
                beat = (self.clocking.next_edge(), bus.payload.value.to_unsigned())
                self.beats.append(beat)
                self.queue.put_nowait(beat)
                await FallingEdge(clk)
            elif not valid:
                await RisingEdge(bus.valid)
                await self.clocking.to_sample_point()
            else:
                await First(RisingEdge(bus.ready), FallingEdge(bus.valid))
                await self.clocking.to_sample_point()
