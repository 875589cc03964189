"""Co-simulation of the generated PE tile against the torch golden model: :func:`cosim`
loads one PE's worth of crossbars into the tile and streams MVMs through it.

The steps, each in its own module:

- what the tile holds (:mod:`.loads`): the first PE of one layer of a Program as a task
  sees it, with the layer's profiled stuck-at faults and real activation vectors
  (:mod:`.inputs`), or a seeded random load that exercises every corner of the datapath;
- the golden output of each beat (:mod:`.golden_pe`);
- the ``prog`` and ``cfg`` beats and the testbench's script (:mod:`.script`), run in the
  simulator (:mod:`.runner`, :mod:`.xbar_pe_tb`) on the tile's Verilog and the crossbar
  macro's model (the generated one or a user's); the cells are written through ``prog``
  (the front door, counted by the write counters) or, with ``backdoor``, loaded by the
  macro model from hex files (no cell writes: large loads in no time);
- the comparison: every beat, cycles per MVM against
  :func:`xbar_hw.core.cycles.cycles_per_mvm`, the event counters, the reset, the monitors,
  and what the load covers (:mod:`.compare`).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path

from ..core.check import need_at_least
from ..core.cycles import cycles_per_mvm
from ..core.design import Design
from ..core.errors import field_error
from ..core.io import fresh_folder
from ..rtl.macro import cell_image
from ..rtl.params import rtl_params
from .compare import check_against_layer, compare, coverage
from .golden_pe import golden_beats
from .loads import TileLoad, as_design, check_program, program_load, random_load
from .runner import build_rtl, run_testbench, simulator_paths
from .script import build_script, cfg_beats, prog_beats


def default_build_dir(design: Design) -> Path:
    """A build folder per design under the system's temp folder."""
    key = hashlib.sha256(json.dumps(design.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "xbar_hw_cosim" / f"{design.name}-{key}"


def check_macro_model(macro_model) -> None:
    """One line unless ``macro_model`` is None or a file (a user's Verilog model of the macro)."""
    if macro_model is not None and not Path(macro_model).is_file():
        raise field_error("macro_model", str(macro_model), "a Verilog file of the crossbar macro's model")


def _check_arguments(design: Design, program, seed, task, layer, vectors, sim, backpressure, density,
                     macro_model) -> None:
    """One-line XbarErrors for every argument of :func:`cosim`, before anything runs."""
    rtl_params(design)  # a design the RTL cannot build
    check_macro_model(macro_model)
    need_at_least(seed, "seed", 0)
    need_at_least(vectors, "vectors", 1)
    if isinstance(backpressure, bool) or not isinstance(backpressure, (int, float)) or not 0 <= backpressure < 1:
        raise field_error("backpressure", backpressure, "a number in [0, 1)")
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 < density <= 1:
        raise field_error("density", density, "a number in (0, 1]")
    if program is None:
        if task is not None:
            raise field_error("task", task, "none with a random Program")
        if layer is not None:
            raise field_error("layer", layer, "none with a random Program")
    else:
        if density != 1:
            raise field_error("density", density, "1 with a Program (it applies to random loads)")
        check_program(design, program, task, layer)
    simulator_paths(sim)  # a missing simulator: names the install command


def stimulus_for(load: TileLoad, exp_cycles: int, reset_mid: bool, backpressure: float, seed: int,
              event_driven: bool, backdoor: bool = False) -> tuple[dict, list, list]:
    """The testbench's stimulus (script, cycle budget, driver settings), prog and cfg beats
    (no prog beats with ``backdoor``)."""
    prog, cfg = ([] if backdoor else prog_beats(load)), cfg_beats(load)
    script = build_script(load, prog, cfg, exp_cycles, reset_mid)
    stall_factor = 1 + (20 * backpressure / (1 - backpressure) if backpressure else 0)
    max_cycles = 2 * (len(prog) + 2 * len(cfg) + (load.vectors + 2) * int(exp_cycles * stall_factor + 4)) + 10_000
    stimulus = {"script": script, "max_cycles": max_cycles,
                "tb": {"backpressure": float(backpressure), "seed": int(seed), "event_driven": bool(event_driven)}}
    return stimulus, prog, cfg


def _timings(results: dict, rtl_seconds: float, vectors: int, t_start: float) -> dict:
    stream = next((op["seconds"] for op in reversed(results.get("ops", [])) if op["op"] == "mvm"), None)
    return {
        "rtl_seconds": round(rtl_seconds, 3),
        "sim_build_seconds": round(results["build"]["seconds"], 3),
        "sim_build_cached": results["build"]["cached"],
        "sim_seconds": round(results["sim_seconds"], 3),
        "stream_seconds": None if stream is None else round(stream, 4),
        "vectors_per_second": None if not stream else round(vectors / stream, 1),
        "total_seconds": round(time.perf_counter() - t_start, 3),
    }


def cosim(design, program=None, seed: int = 0, task: str | None = None, layer: str | None = None, vectors: int = 16,
          sim: str = "icarus", build_dir=None, *, backpressure: float = 0.0, reset_mid: bool = False,
          density: float = 1.0, event_driven: bool = True, backdoor: bool = False, macro_model=None) -> dict:
    """Co-simulate the PE tile of ``design`` against the golden model (module docstring).

    ``program``: None (a seeded random load) or a Program for ``design``; ``task`` and
    ``layer`` pick what of it the tile holds; ``vectors`` MVMs are streamed back to back;
    ``sim``: "icarus" or "verilator"; ``build_dir``: where the Verilog, the simulator build
    and the run files go (default: a folder per design under the system's temp folder);
    ``backpressure``: chance per cycle that the output sink holds ready low; ``reset_mid``:
    first reset the tile in the middle of an MVM (nothing may come out, the cells must stay);
    ``density``: the fraction of non-zero weights of a random load (fewer cell writes);
    ``backdoor``: the macro model loads the cells from hex files instead of ``prog`` writes;
    ``macro_model``: a Verilog file of the crossbar macro (module docstring of
    :mod:`xbar_hw.rtl.macro`) to simulate instead of the generated model.

    Returns {"vectors", "mismatches", "cycles_per_mvm", "cycles_expected", "cycles_match",
    "sim_seconds", "vectors_per_second", "ok", ...}; "ok" is false on any mismatching beat,
    cycle count, counter or protocol error.
    """
    t_start = time.perf_counter()
    design = as_design(design)
    _check_arguments(design, program, seed, task, layer, vectors, sim, backpressure, density, macro_model)
    if program is None:
        load, ctx = random_load(design, seed, vectors, density), None
    else:
        load, ctx = program_load(design, program, task, layer, vectors, seed)
    expected = golden_beats(load)
    layer_check = check_against_layer(load, expected, ctx) if ctx is not None else None
    exp_cycles = cycles_per_mvm(design, gated=load.gated(), n_faults=[len(f) for f in load.faults], groups=load.groups)
    stimulus, prog, cfg = stimulus_for(load, exp_cycles, reset_mid, backpressure, seed, event_driven, backdoor)
    images = [cell_image(lv.tolist(), design) for lv in load.stored] if backdoor else None

    build_dir = Path(build_dir) if build_dir is not None else default_build_dir(design)
    t_rtl = time.perf_counter()
    with fresh_folder(build_dir):
        rtl = build_rtl(design, build_dir, adc_bits=load.adc_bits)
        if macro_model is not None:
            rtl["macro"] = Path(macro_model).resolve()
        rtl_seconds = time.perf_counter() - t_rtl
        results = run_testbench(rtl, build_dir, sim, stimulus, seed, images)
    results["ports"] = str(rtl["ports"])
    report = compare(load, expected, results, exp_cycles, prog, cfg, reset_mid, backpressure)

    ok = (report["mismatches"] == 0 and report["cycles_match"] and report["counters"]["ok"]
          and not report["protocol_errors"] and report.get("monitors", {}).get("ok", True)
          and report.get("reset", {}).get("ok", True) and (layer_check is None or layer_check["ok"]))
    covered = coverage(load)
    return {
        "design": design.name, "sim": sim, "source": load.source, "seed": int(seed), "vectors": vectors,
        "beats": vectors * load.groups,
        **report,
        "groups": load.groups, "gated": load.gated(), "fault_entries": [len(f) for f in load.faults],
        "fault_table_entries": design.fault_table_entries, "fault_overflow": load.overflow,
        "shifts": load.shifts, "adc_bits": load.adc_bits, "golden_vs_layer": layer_check, "coverage": covered,
        "backpressure": backpressure, "reset_mid": reset_mid, "density": density if program is None else None,
        "prog_beats": len(prog), "cfg_beats": len(cfg), "backdoor": bool(backdoor),
        "macro_model": None if macro_model is None else str(macro_model),
        **_timings(results, rtl_seconds, vectors, t_start),
        "build_dir": str(build_dir),
        "ok": bool(ok),
    }
