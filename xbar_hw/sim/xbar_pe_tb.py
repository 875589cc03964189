"""cocotb testbench of the PE tile (``xbar_pe_<design>``, :mod:`xbar_hw.rtl.pe`).

:class:`PeTileTb` wraps the generated Verilog top: a :class:`StreamSource` for each of
the ``prog``, ``cfg`` and ``x`` sink ports, a :class:`StreamSink` for the ``p`` source port
(ready always high, or low at random: back-pressure), a :class:`StreamMonitor` on each
input port (what really transferred, and when), the clock and the synchronous reset (which
the streams watch: they stop while it is asserted). Its coroutines run one script of
operations:

  {"op": "prog", "beats": [[xbar, row, col, level], ...]}       cell writes
  {"op": "cfg", "beats": [[target, xbar, index, data], ...]}    config writes
  {"op": "mvm", "vectors": [[[x] * R] * N, ...]}                 MVMs, back to back
  {"op": "reset", "vector": [[x] * R] * N, "after": k, "quiet": q}
        send one vector, pulse reset k cycles after it transferred (mid-computation),
        then watch q cycles: no output beat may come
  {"op": "reset_during_prog", "beats": [...], "after": k}
        queue cell writes, pulse reset k cycles later (the prog source drops the beats
        not yet sent), then wait for the source to be idle
  {"op": "counters"}                                            read writes/changes/conversions
  {"op": "idle", "cycles": n}

The cocotb test :func:`run_script` reads ``stimulus.json`` from the folder named by
``XBAR_COSIM_RUN`` and writes ``results.json`` there: for every op its transfers with their
clock-edge numbers, output beats, stalls and checks. The host (:mod:`xbar_hw.sim.cosim`)
builds the script, compares the beats to the golden model and counts cycles. Nothing
here imports torch: the simulator starts fast.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, SimTimeoutError, with_timeout

try:  # as a submodule of xbar_hw.sim, or top level inside the simulator
    from .xbar_layout import port_layouts
    from .xbar_streams import (
        Clocking,
        StreamBus,
        StreamMonitor,
        StreamSink,
        StreamSource,
    )
except ImportError:  # pragma: no cover - the simulator's import path
    from xbar_layout import port_layouts
    from xbar_streams import (
        Clocking,
        StreamBus,
        StreamMonitor,
        StreamSink,
        StreamSource,
    )

PERIOD_NS = 10


class PeTileTb:
    """The PE tile's testbench: drivers, monitors, clock and reset (see the module docstring).

    ``ports``: the port map document (``<top>.ports.json``); ``backpressure``: the chance
    that the p sink holds ready low in a cycle that offers a beat; ``seed`` seeds it.
    Every input is driven here, before :meth:`start` starts the clock.
    """

    def __init__(self, dut, ports: dict, *, backpressure: float = 0.0, seed: int = 0, event_driven: bool = True,
                 monitors: bool = True):
        self.dut = dut
        self.lay = port_layouts(ports)
        self.clk, self.rst = dut.clk, dut.rst
        self.clk.value = 0
        self.rst.value = 1
        self.clocking = Clocking(dut.clk, PERIOD_NS * 1000)  # steps of 1 ps (timescale 1ns/1ps)
        c = self.clocking
        common = {"reset": dut.rst, "event_driven": event_driven}
        self.prog = StreamSource(StreamBus(dut, "prog"), c, self.lay["prog__payload"], **common)
        self.cfg = StreamSource(StreamBus(dut, "cfg"), c, self.lay["cfg__payload"], **common)
        self.x = StreamSource(StreamBus(dut, "x"), c, self.lay["x__payload"], **common)
        ready = None
        if backpressure > 0:
            rng = random.Random(seed)

            def ready() -> bool:
                return rng.random() >= backpressure

        self.p = StreamSink(StreamBus(dut, "p"), c, self.lay["p__payload"], ready=ready, **common)
        self.monitors = {name: StreamMonitor(getattr(self, name).bus, c, **common)
                         for name in ("prog", "cfg", "x")} if monitors else {}
        self.errors: list[str] = []

    async def start(self, reset_cycles: int = 2) -> None:
        """Start the clock (low first), the drivers and monitors; hold reset for
        ``reset_cycles`` rising edges."""
        clock = Clock(self.clk, PERIOD_NS, unit="ns", impl="gpi")
        clock.start(start_high=False)
        self.clocking.started()
        for part in (self.prog, self.cfg, self.x, self.p, *self.monitors.values()):
            part.start()
        await self.clocking.cycles(reset_cycles)
        self.rst.value = 0
        await FallingEdge(self.clk)

    async def reset(self, cycles: int = 1) -> int:
        """Pulse the synchronous reset over ``cycles`` rising edges (from a falling edge);
        returns the number of the first of them."""
        await FallingEdge(self.clk)
        edge = self.clocking.next_edge()
        self.rst.value = 1
        await self.clocking.cycles(cycles)
        self.rst.value = 0
        return edge

    async def counters(self) -> dict:
        await FallingEdge(self.clk)
        await ReadOnly()
        d = self.dut
        return {"writes": self.lay["writes"].unpack(d.writes.value.to_unsigned()),
                "changes": self.lay["changes"].unpack(d.changes.value.to_unsigned()),
                "conversions": d.conversions.value.to_unsigned(),
                "edge": self.clocking.next_edge()}

    # ------------------------------------------------------------------ operations
    async def write_beats(self, source: StreamSource, beats) -> dict:
        n0 = len(source.edges)
        for b in beats:
            source.send_nowait(b)
        await source.wait()
        edges = source.edges[n0:]
        return {"beats": len(edges), "first_edge": edges[0] if edges else None,
                "last_edge": edges[-1] if edges else None}

    async def mvm(self, vectors) -> dict:
        """Stream ``vectors`` back to back; collect each MVM's output beats (up to ``last``)."""
        n0, s0 = len(self.x.edges), len(self.p.stalls)
        for v in vectors:
            self.x.send_nowait(v)
        beats = []
        for _ in range(len(vectors)):
            while True:
                edge, beat = await self.p.recv()
                beats.append([edge, beat["group"], beat["last"], beat["p"]])
                if beat["last"]:
                    break
        await self.x.wait()
        return {"x_edges": self.x.edges[n0:], "beats": beats, "stalls": self.p.stalls[s0:]}

    async def reset_during_mvm(self, vector, after: int, quiet: int) -> dict:
        """One vector, then a reset ``after`` cycles past its transfer, then ``quiet``
        cycles in which nothing may come out ("leaked": the beats the p sink held at the
        reset, which drops them, and those it received after it)."""
        flushed0 = len(self.p.flushed)
        self.x.send_nowait(vector)
        await self.x.wait()  # returns at the falling edge after the transfer
        x_edge = self.x.edges[-1]
        if after > 1:
            await self.clocking.cycles(after - 1)
        await ReadOnly()
        busy_before = bool(self.dut.busy.value)
        reset_edge = await self.reset(1)
        await ReadOnly()
        after_reset = {"busy": bool(self.dut.busy.value), "x_ready": bool(self.dut.x__ready.value),
                       "p_valid": bool(self.dut.p__valid.value)}
        await self.clocking.cycles(quiet)
        leaked = [[edge, beat["group"], beat["last"], beat["p"]] for edge, beat in self.p.flushed[flushed0:]]
        while not self.p.empty():
            edge, beat = self.p.recv_nowait()
            leaked.append([edge, beat["group"], beat["last"], beat["p"]])
        return {"x_edge": x_edge, "reset_edge": reset_edge, "busy_before": busy_before, "after_reset": after_reset,
                "leaked": leaked}

    async def reset_during_prog(self, beats, after: int) -> dict:
        """Queue ``beats`` on prog, pulse reset ``after`` cycles later: what was sent
        before, what the source dropped, whether it is idle."""
        n0, f0 = len(self.prog.edges), len(self.prog.flushed)
        for b in beats:
            self.prog.send_nowait(b)
        await self.clocking.cycles(after)
        reset_edge = await self.reset(1)
        await self.prog.wait()
        sent = [e for e in self.prog.edges[n0:] if e < reset_edge]
        return {"sent": len(sent), "sent_during_reset": len(self.prog.edges) - n0 - len(sent),
                "flushed": len(self.prog.flushed) - f0, "idle": self.prog.idle(), "reset_edge": reset_edge}

    async def run(self, script: list[dict]) -> list[dict]:
        out = []
        for op in script:
            t = time.perf_counter()
            kind = op["op"]
            if kind == "prog":
                res = await self.write_beats(self.prog, op["beats"])
            elif kind == "cfg":
                res = await self.write_beats(self.cfg, op["beats"])
            elif kind == "mvm":
                res = await self.mvm(op["vectors"])
            elif kind == "reset":
                res = await self.reset_during_mvm(op["vector"], int(op["after"]), int(op["quiet"]))
            elif kind == "reset_during_prog":
                res = await self.reset_during_prog(op["beats"], int(op["after"]))
            elif kind == "counters":
                res = await self.counters()
            elif kind == "idle":
                await self.clocking.cycles(int(op["cycles"]))
                res = {}
            else:
                raise ValueError(f"unknown op {kind!r}")
            res["op"] = kind
            res["seconds"] = time.perf_counter() - t
            out.append(res)
        return out


@cocotb.test()
async def run_script(dut):
    """Run the script of ``$XBAR_COSIM_RUN/stimulus.json``; write ``results.json``."""
    run_dir = Path(os.environ["XBAR_COSIM_RUN"])
    stim = json.loads((run_dir / "stimulus.json").read_text())
    ports = json.loads(Path(stim["ports"]).read_text())
    tb = PeTileTb(dut, ports, **stim.get("tb", {}))
    t0 = time.perf_counter()
    doc = {"ops": [], "errors": []}
    try:
        await tb.start()
        doc["ops"] = await with_timeout(tb.run(stim["script"]), int(stim["max_cycles"]) * PERIOD_NS, "ns")
    except SimTimeoutError:
        doc["errors"].append(f"timeout: the script did not finish within {stim['max_cycles']} cycles")
    doc["errors"] += tb.p.errors + tb.errors
    doc["monitors"] = {name: m.beats for name, m in tb.monitors.items()}
    doc["streams"] = {name: {"resets": st.resets, "flushed": len(st.flushed)}
                      for name, st in {"prog": tb.prog, "cfg": tb.cfg, "x": tb.x, "p": tb.p,
                                       **{f"{k}_monitor": m for k, m in tb.monitors.items()}}.items()}
    doc["seconds"] = time.perf_counter() - t0
    doc["edges"] = tb.clocking.next_edge()
    (run_dir / "results.json").write_text(json.dumps(doc))
