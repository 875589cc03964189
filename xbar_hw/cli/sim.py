"""``xbar-hw rtl`` (the PE tile's Verilog, port map and README for a design) and
``xbar-hw cosim`` (the Verilog co-simulated with cocotb against the golden model: one PE,
or with ``--network`` every PE of every layer of a Program, :mod:`xbar_hw.sim.network`).

Each handler returns the exit status: ``rtl --lint`` 1 on a lint warning, ``cosim`` 1 when
any output beat, cycle count, counter or protocol check fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.design import load_design
from ..core.errors import field_error
from ..core.program import Program
from ..flows.hardware import generate_rtl
from ..rtl.synth import DEFAULT_LIBERTY
from ..sim.cosim import cosim
from ..sim.network import cosim_network
from .common import add_reporting, print_json
from .values import SEED, integer, number, output_folder


def print_rtl(doc: dict, args: argparse.Namespace) -> None:
    """``xbar-hw rtl``'s text output."""
    print(f"wrote {doc['top']} ({doc['design']}) to {args.output}: "
          + ", ".join(Path(p).name for p in doc["files"].values()))
    print(f"  cycles per MVM (nothing gated, no faults): {doc['cycles_per_mvm']}")
    print(f"  fault table: {doc['fault_table_entries']} entries per crossbar (corrector.entries)")
    if args.stats:
        s = doc["stats"]
        print(f"  {s['total']['cells']} cells, {s['total']['ff_bits']} flip-flop bits, {s['total']['mem_bits']} "
              "memory bits (behavioural arrays excluded)")
        for kind, c in sorted(s["components"].items()):
            tag = " (behavioural)" if c["behavioural"] else ""
            print(f"    {kind:10s} x{c['instances']:<3d} {c['cells']:7d} cells {c['ff_bits']:7d} ff bits "
                  f"{c['mem_bits']:8d} mem bits{tag}")
    if args.synth:
        print_synth(doc["synth"])
    if args.lint:
        w = doc["lint"]["warnings"]
        print(f"  verilator --lint-only -Wall: {'clean' if not w else f'{len(w)} warnings'} "
              f"(waived: {', '.join(doc['lint']['waived'])}; reasons in xbar_hw/sim/runner.py)")
        for line in w[:20]:
            print(f"    {line}")


def print_synth(s: dict) -> None:
    """``xbar-hw rtl --synth``'s text output: areas per component, shares, timing."""
    t = s["timing"]
    print(f"  synthesis ({s['liberty']}): {s['total_area_um2']:,.0f} um2, {s['total_cells']} cells; periphery "
          f"{s['periphery_area_um2']:,.0f} um2 (mask unit {100 * s['mask_share']:.2f}%, "
          f"SAF corrector {100 * s['saf_share']:.2f}%)")
    for kind, c in s["components"].items():
        share = "" if c["share_of_periphery"] is None else f" {100 * c['share_of_periphery']:5.1f}%"
        print(f"    {kind:10s} x{c['instances']:<3d} {c['area_um2']:12,.0f} um2 {c['cells']:7d} cells{share}")
    print(f"  timing (OpenSTA): critical path {t['critical_path_ns']:.3f} ns, largest clock "
          f"{t['max_clock_hz'] / 1e6:.1f} MHz; tile.clock_hz {t['clock_hz'] / 1e6:g} MHz "
          f"{'met' if t['meets_clock'] else 'NOT met'} (slack {t['worst_slack_ns']:.3f} ns); path through "
          f"{' -> '.join(t['through'])}")


def cmd_rtl(args: argparse.Namespace) -> int:
    if args.liberty is not None and not args.synth:
        raise field_error("--liberty", args.liberty, "a Liberty file, with --synth only")
    design = load_design(args.design)
    doc = generate_rtl(design, args.output, with_stats=args.stats, with_lint=args.lint, with_synth=args.synth,
                       liberty=args.liberty)
    if args.json:
        print_json(doc)
    else:
        print_rtl(doc, args)
    return 1 if args.lint and doc["lint"]["warnings"] else 0


def print_cosim(r: dict) -> None:
    """``xbar-hw cosim``'s text output."""
    src = r["source"]
    what = f"random load (seed {r['seed']})" if src["kind"] == "random" else \
        f"layer {src['layer']}" + (f", task {src['task']}" if src["task"] else "") + f" on {src['data']} inputs"
    print(f"cosim {r['design']} on {r['sim']}: {what}")
    print(f"  {r['vectors']} vectors, {r['beats']} output beats, {r['mismatches']} mismatches")
    print(f"  cycles per MVM {r['cycles_per_mvm']} measured, {r['cycles_expected']} from the cycle model "
          f"({'match' if r['cycles_match'] else 'MISMATCH'})")
    print(f"  counters {'ok' if r['counters']['ok'] else 'MISMATCH'}; {len(r['protocol_errors'])} protocol errors")
    if r["fault_overflow"]:
        over = r["fault_overflow"]
        print(f"warning: fault table overflow ({r['fault_table_entries']} entries per crossbar): "
              f"{sum(over.values())} faulty weights uncorrected at tile positions "
              + ", ".join(f"{n} ({k})" for n, k in sorted(over.items())), file=sys.stderr)
    print(f"  {r['vectors_per_second']} vectors/s streaming; simulator {r['sim_seconds']} s, total {r['total_seconds']} s")
    for e in r.get("mismatch_columns", [])[:3]:
        print(f"  {e['message']}")
    for e in r["mismatch_examples"][:3]:
        print(f"  vector {e['vector']} group {e['group']}: expected {e['expected']}, got {e['got']}")
    for e in r["protocol_errors"][:3]:
        print(f"  {e}")
    print("ok" if r["ok"] else "FAILED")


def print_network(r: dict) -> None:
    """``xbar-hw cosim --network``'s text output."""
    task = f", task {r['task']}" if r["task"] else ""
    print(f"cosim {r['design']} on {r['sim']}: the network's layers {r['from_layer']} to {r['to_layer']}{task}, "
          f"{r['images']} {r['data']} image(s)")
    for layer in r["layers"]:
        cycles = sorted({p["cycles_per_mvm"] for p in layer["pes"]} - {None})
        print(f"  {layer['layer']:10s} {len(layer['pes']):3d} PE(s) {layer['mvms']:6d} MVMs "
              f"{layer['mismatches']:5d} mismatches; cycles per MVM {cycles} "
              f"({'match' if all(p['cycles_match'] for p in layer['pes']) else 'MISMATCH'}); {layer['seconds']:.1f} s")
        for p in layer["pes"]:
            for msg in p["mismatch_columns"][:3] + p["protocol_errors"][:3]:
                print(f"    {msg}")
    if r["fault_overflow"]:
        print(f"warning: fault table overflow ({r['fault_table_entries']} entries per crossbar): "
              f"{r['fault_overflow']} faulty weights uncorrected, in the RTL and the golden model alike", file=sys.stderr)
    print(f"  logits {'equal the golden model bit for bit' if r['logits_match'] else 'DIFFER from the golden model'} "
          f"(predictions {r['predictions']}); {r['pes']} PEs, {r['mvms']} MVMs, {r['mismatches']} mismatches, "
          f"{r['seconds']:.1f} s")
    print("ok" if r["ok"] else "FAILED")


def cmd_network(args: argparse.Namespace, design) -> int:
    """``cosim --network``: every PE of every layer of a Program."""
    if args.program == "random":
        raise field_error("program", "random", "a Program file with --network")
    for flag, value in (("layer", args.layer), ("vectors", args.vectors)):
        if value is not None:
            raise field_error(flag, value, "none with --network (--from-layer picks the first layer, --images the MVMs)")
    program = Program.load(args.program, design)
    r = cosim_network(design, program, task=args.task, images=args.images or 1, sim=args.sim, build_dir=args.build_dir,
                      seed=args.seed, from_layer=args.from_layer, to_layer=args.to_layer,
                      macro_model=args.macro_model)
    if args.json:
        print_json(r)
    else:
        print_network(r)
    return 0 if r["ok"] else 1


def cmd_cosim(args: argparse.Namespace) -> int:
    design = load_design(args.design)
    if args.network:
        return cmd_network(args, design)
    for flag, value in (("images", args.images), ("from_layer", args.from_layer), ("to_layer", args.to_layer)):
        if value is not None:
            raise field_error(flag, value, "none without --network")
    if args.vectors is None:
        raise field_error("vectors", None, "an integer in [1, 1000000] (MVMs to stream; --network takes --images)")
    # a Program of another design is refused
    program = None if args.program == "random" else Program.load(args.program, design)
    r = cosim(design, program, seed=args.seed, task=args.task, layer=args.layer, vectors=args.vectors, sim=args.sim,
              build_dir=args.build_dir, backpressure=args.backpressure, reset_mid=args.reset_mid,
              density=args.density, backdoor=args.backdoor, macro_model=args.macro_model)
    if args.json:
        print_json(r)
    else:
        print_cosim(r)
    return 0 if r["ok"] else 1


def add_rtl(sub) -> None:
    p = sub.add_parser("rtl", help="generate the PE tile's Verilog, port map and README for a design")
    p.add_argument("design", help="design file (YAML)")
    p.add_argument("-o", "--output", type=output_folder, required=True, help="output folder")
    p.add_argument("--stats", action="store_true", help="cell and flip-flop counts per component (builtin Yosys)")
    p.add_argument("--lint", action="store_true",
                   help="verilator --lint-only -Wall on the Verilog (waivers for Yosys's output style); exit 1 on a warning")
    p.add_argument("--synth", action="store_true",
                   help="gate-level synthesis of the periphery (Yosys + ABC, arrays black boxes) and timing (OpenSTA); "
                        "report in OUTPUT/synthesis.md and .json")
    p.add_argument("--liberty", default=None, help=f"Liberty file for --synth (default: {DEFAULT_LIBERTY})")
    add_reporting(p)
    p.set_defaults(func=cmd_rtl)


def add_cosim(sub) -> None:
    p = sub.add_parser("cosim", help="co-simulate the PE tile's Verilog (cocotb) against the golden model")
    p.add_argument("--design", required=True, help="design file (YAML)")
    p.add_argument("--program", required=True, help="a Program file for the design, or 'random'")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the random load, the input sample and back-pressure")
    p.add_argument("--task", default=None, help="the Program's task whose view the PE holds (default: the base task)")
    p.add_argument("--layer", default=None, help="the layer whose first PE is loaded (default: the first layer)")
    p.add_argument("--vectors", type=integer(1, 1000000), default=None, help="MVMs to stream (one PE)")
    p.add_argument("--network", action="store_true",
                   help="every PE of every layer, layer after layer on the co-simulated outputs; logits bit for bit")
    p.add_argument("--images", type=integer(1, 100000), default=None,
                   help="--network: test images run through the network (default 1)")
    p.add_argument("--from-layer", default=None,
                   help="--network: co-simulate from this layer on (the layers before run on the golden model)")
    p.add_argument("--to-layer", default=None,
                   help="--network: co-simulate up to this layer (the layers after run on the golden model)")
    p.add_argument("--sim", default="icarus", help="icarus (default) or verilator")
    p.add_argument("--build-dir", type=output_folder, default=None,
                   help="Verilog, simulator build and run files (default: a temp folder per design)")
    p.add_argument("--backpressure", type=number(0.0, 0.99), default=0.0,
                   help="chance per cycle that the output's ready is low (default 0)")
    p.add_argument("--reset-mid", action="store_true", help="first reset the tile in the middle of an MVM")
    p.add_argument("--density", type=number(0.0, 1.0), default=1.0,
                   help="random loads: fraction of non-zero weights (fewer cell writes on large designs; default 1)")
    p.add_argument("--backdoor", action="store_true",
                   help="the crossbar macro's model loads the cells from hex files (no prog writes: fast for large PEs)")
    p.add_argument("--macro-model", default=None,
                   help="a Verilog file of the crossbar macro to simulate instead of the generated model")
    add_reporting(p)
    p.set_defaults(func=cmd_cosim)


def add_parsers(sub) -> None:
    """Register ``rtl`` and ``cosim`` on a parser's subparsers."""
    add_rtl(sub)
    add_cosim(sub)
