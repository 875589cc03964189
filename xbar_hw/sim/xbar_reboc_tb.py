"""cocotb testbench of ReBoc's input register (``xbar_rotator_<design>_b<block>``,
:class:`xbar_hw.rtl.reboc.SliceRotator`).

The register has no streams: three inputs (``load``, ``rotate``, the ``x`` words) and its
``rows`` output, all registered. The script (``stimulus.json`` in the folder named by
``XBAR_COSIM_RUN``) is one step per clock cycle:

  {"vectors": [[x] * R, ...], "steps": [[load, rotate, vector, rst], ...]}

A step drives ``load``, ``rotate`` and ``rst`` (and ``x`` with vectors[vector] when vector
>= 0; otherwise ``x`` keeps its words) at a falling clock edge and reads ``rows`` at the next
falling edge, after the rising edge that took them. ``results.json`` gets ``reset_rows``
(after the initial reset) and ``samples``: for every step [rising edge number, rows].
The host (:mod:`xbar_hw.sim.reboc`) builds the script and compares the rows with the
golden model's input order. Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

try:  # as a submodule of xbar_hw.sim, or top level inside the simulator
    from .xbar_layout import port_layouts
    from .xbar_streams import Clocking
except ImportError:  # pragma: no cover - the simulator's import path
    from xbar_layout import port_layouts
    from xbar_streams import Clocking

PERIOD_NS = 10
RESET_CYCLES = 2


@cocotb.test()
async def run_rotator(dut):
    """Run the steps of ``$XBAR_COSIM_RUN/stimulus.json``; write ``results.json``."""
    run_dir = Path(os.environ["XBAR_COSIM_RUN"])
    stim = json.loads((run_dir / "stimulus.json").read_text())
    lay = port_layouts(json.loads(Path(stim["ports"]).read_text()))
    packed = [lay["x"].pack(v) for v in stim["vectors"]]
    t0 = time.perf_counter()
    clocking = Clocking(dut.clk, PERIOD_NS * 1000)  # steps of 1 ps (timescale 1ns/1ps)
    dut.clk.value = 0
    dut.rst.value = 1
    dut.load.value = 0
    dut.rotate.value = 0
    dut.x.value = 0
    Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start(start_high=False)
    clocking.started()
    await clocking.cycles(RESET_CYCLES)
    dut.rst.value = 0
    # rows is a register: at a falling edge it holds what the last rising edge wrote
    reset_rows = lay["rows"].unpack(dut.rows.value.to_unsigned())
    samples = []
    for load, rotate, vector, rst in stim["steps"]:
        if vector >= 0:
            dut.x.value = packed[vector]
        dut.load.value = int(load)
        dut.rotate.value = int(rotate)
        dut.rst.value = int(rst)
        edge = clocking.next_edge()
        await FallingEdge(dut.clk)
        samples.append([edge, lay["rows"].unpack(dut.rows.value.to_unsigned())])
    dut.rst.value = 0
    doc = {"reset_rows": reset_rows, "samples": samples, "seconds": time.perf_counter() - t0,
           "edges": clocking.next_edge()}
    (run_dir / "results.json").write_text(json.dumps(doc))
