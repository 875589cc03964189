"""Valid/ready stream drivers and monitors for cocotb 2, in the style of cocotbext-axi:
a :class:`StreamSource` sends beats from a queue into a sink port of the DUT, a
:class:`StreamSink` takes beats from a source port into a queue (with optional random
back-pressure), a :class:`StreamMonitor` watches a port without driving it.

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

from collections import deque

import cocotb
from cocotb.queue import Queue
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, FallingEdge, First, ReadOnly, RisingEdge

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


class StreamSource:
    """Sends beats into a sink port of the DUT (cocotbext-axi's AxiStreamSource).

    ``send_nowait(beat)`` / ``await send(beat)`` queue a beat (a dict, list or int packed
    with ``layout``); ``await wait()`` returns once every queued beat has transferred;
    ``edges`` lists the rising edge of every transfer. ``event_driven=False`` polls ready
    every cycle (slower; the reference behaviour).
    """

    def __init__(self, bus: StreamBus, clocking: Clocking, layout: Layout | None = None, *, event_driven: bool = True):
        self.bus, self.clocking, self.layout = bus, clocking, layout
        self.event_driven = event_driven
        self.queue: deque = deque()
        self.edges: list[int] = []
        self._wake = Event()
        self._idle = Event()
        self._idle.set()
        self._task = None
        bus.valid.value = 0  # driven before the clock starts
        bus.payload.value = 0

    def start(self) -> None:
        if self._task is None:
            self._task = cocotb.start_soon(self._run())

    def send_nowait(self, beat) -> None:
        self.queue.append(beat)
        self._idle.clear()
        self._wake.set()

    async def send(self, beat) -> None:
        self.send_nowait(beat)

    def count(self) -> int:
        return len(self.queue)

    def empty(self) -> bool:
        return not self.queue

    def idle(self) -> bool:
        return self._idle.is_set()

    async def wait(self) -> None:
        """Until every queued beat has transferred (and valid is low again)."""
        await self._idle.wait()

    def clear(self) -> None:
        """Drop the beats not yet sent (valid goes low at the next falling edge)."""
        self.queue.clear()

    async def _run(self) -> None:
        bus, clk = self.bus, self.clocking.clock
        pack = self.layout.pack if self.layout is not None else int
        high = False
        while True:
            await FallingEdge(clk)
            if not self.queue:
                if high:
                    bus.valid.value = 0
                    high = False
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            bus.payload.value = pack(self.queue[0])
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
            self.queue.popleft()
            self.edges.append(self.clocking.next_edge())


class StreamSink:
    """Takes beats from a source port of the DUT into a queue (cocotbext-axi's
    AxiStreamSink): ``await recv()`` returns ``(edge, beat)``, the beat unpacked with
    ``layout``.

    ``ready``: None keeps ready high; a callable () -> bool draws ready for each cycle in
    which the DUT offers a beat (random back-pressure). ``stalls`` lists the rising edges
    at which a beat was offered and not taken; ``errors`` the protocol violations seen (a
    payload that changed, or valid that dropped, while stalled).
    """

    def __init__(self, bus: StreamBus, clocking: Clocking, layout: Layout | None = None, *, ready=None,
                 event_driven: bool = True):
        self.bus, self.clocking, self.layout = bus, clocking, layout
        self.ready_fn = ready
        self.event_driven = event_driven
        self.queue: Queue = Queue()
        self.stalls: list[int] = []
        self.errors: list[str] = []
        self.transfers = 0
        self._task = None
        bus.ready.value = 1 if ready is None else 0  # driven before the clock starts

    def start(self) -> None:
        if self._task is None:
            self._task = cocotb.start_soon(self._run())

    async def recv(self):
        return await self.queue.get()

    def recv_nowait(self):
        return self.queue.get_nowait()

    def count(self) -> int:
        return self.queue.qsize()

    def empty(self) -> bool:
        return self.queue.empty()

    async def _run(self) -> None:
        bus, clk = self.bus, self.clocking.clock
        unpack = self.layout.unpack if self.layout is not None else (lambda raw: raw)
        always = self.ready_fn is None
        ready = True
        held = None  # the payload of a stalled beat: it must hold
        await FallingEdge(clk)
        while True:
            if not always:
                ready = bool(self.ready_fn())
                bus.ready.value = int(ready)
            await ReadOnly()
            if bus.valid.value:
                v = bus.payload.value
                edge = self.clocking.next_edge()
                if v.is_resolvable:
                    raw = v.to_unsigned()
                else:  # X or Z bits: an error, and the beat with them read as 0 (it will not match)
                    self.errors.append(f"{bus.name}: payload {v} has bits that are not 0/1, before edge {edge}")
                    raw = int("".join(c if c in "01" else "0" for c in str(v)), 2)
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


class StreamMonitor:
    """Records the beats that transfer on a port that others drive (it writes nothing):
    ``beats`` holds (edge, raw payload) per transfer. Event-driven like the drivers: it
    wakes on valid rising, then on ready rising while a beat waits."""

    def __init__(self, bus: StreamBus, clocking: Clocking):
        self.bus, self.clocking = bus, clocking
        self.beats: list[tuple[int, int]] = []
        self._task = None

    def start(self) -> None:
        if self._task is None:
            self._task = cocotb.start_soon(self._run())

    async def _run(self) -> None:
        bus, clk = self.bus, self.clocking.clock
        await FallingEdge(clk)
        while True:
            await ReadOnly()
            valid, ready = bus.valid.value, bus.ready.value
            if valid and ready:
                self.beats.append((self.clocking.next_edge(), bus.payload.value.to_unsigned()))
                await FallingEdge(clk)
            elif not valid:
                await RisingEdge(bus.valid)
                await self.clocking.to_sample_point()
            else:
                await First(RisingEdge(bus.ready), FallingEdge(bus.valid))
                await self.clocking.to_sample_point()
