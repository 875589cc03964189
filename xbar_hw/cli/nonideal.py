"""``xbar-hw irdrop`` (the exact IR drop of one random crossbar, a SPICE netlist) and
``xbar-hw nia`` (Noise Injection Adaption against IR drop)."""

from __future__ import annotations

import argparse

from ..core.design import load_design
from ..core.errors import XbarError
from ..flows.ir_drop import random_crossbar_drop
from ..flows.models import CALIBRATION
from ..flows.nia import run_nia
from ..flows.nonideal import with_nonideal
from ..flows.workloads import data_made_on
from ..workload.models import load_model
from .common import add_data, add_nonideal, add_output, add_reporting, nonideal_overrides, print_json
from .values import EPOCHS, OHMS, SAMPLES, SEED, integer, output_file


def cmd_irdrop(args: argparse.Namespace) -> int:
    """One crossbar of random levels (seeded): exact IR-drop solve, optional SPICE netlist."""
    design = load_design(args.design)
    doc = random_crossbar_drop(design, rows=args.rows, cols=args.cols, seed=args.seed, r_wire=args.r_wire,
                               r_row=args.r_row, r_col=args.r_col, r_source=args.r_source, r_sense=args.r_sense,
                               netlist=args.netlist)
    if args.json:
        print_json(doc)
        return 0
    print(f"{args.rows}x{args.cols} crossbar, wires {doc['r_row']:g}/{doc['r_col']:g} Ohm, source {doc['r_source']:g} Ohm,"
          f" sense {doc['r_sense']:g} Ohm: column currents {100 * doc['current_drop_mean']:.1f}% below ideal on average"
          f" ({100 * doc['current_drop_max']:.1f}% at most); G_eff solved in {doc['solve_seconds']:.3f} s"
          + (f"; netlist -> {args.netlist}" if args.netlist else ""))
    return 0


def cmd_nia(args: argparse.Namespace) -> int:
    """Noise Injection Adaption: IR-drop statistics, one fine-tuning, chips before/after."""
    design = with_nonideal(load_design(args.design), **nonideal_overrides(args))
    if args.epochs < 1:
        raise XbarError(f"--epochs: got {args.epochs}; allowed: an integer >= 1")
    model, doc = load_model(args.model)
    data, name = data_made_on(doc["meta"], args.data, seed=args.seed, image_size=args.image_size,
                              channels=args.channels)
    result = run_nia(model, doc, design, data, args.output, data_name=name, source=str(args.model), seed=args.seed,
                     calibration=args.calibration, epochs=args.epochs, chips=args.chips or 1, limit=args.limit,
                     progress=not args.quiet and not args.json)
    if args.json:
        print_json(result)
    else:
        print(f"IR drop on {result['chips']} chip(s): before NIA {result['before']:.4f}, "
              f"after NIA {result['after']:.4f} -> {args.output}")
    return 0


def add_irdrop(sub) -> None:
    p = sub.add_parser("irdrop", help="exact IR drop of one random crossbar; write it as a SPICE netlist")
    p.add_argument("--design", default="designs/default.yaml", help="conductances, read voltage, wire defaults")
    p.add_argument("--rows", type=integer(1, 1024), default=128)
    p.add_argument("--cols", type=integer(1, 1024), default=128)
    p.add_argument("--r-wire", type=OHMS, default=None, help="row and column wire resistance per segment, ohms")
    p.add_argument("--r-row", type=OHMS, default=None)
    p.add_argument("--r-col", type=OHMS, default=None)
    p.add_argument("--r-source", type=OHMS, default=None, help="row driver resistance, ohms")
    p.add_argument("--r-sense", type=OHMS, default=None, help="column sense resistance, ohms")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the random cell levels")
    p.add_argument("--netlist", type=output_file, default=None, help="write the crossbar as a SPICE netlist (ngspice -b)")
    add_reporting(p)
    p.set_defaults(func=cmd_irdrop)


def add_nia(sub) -> None:
    p = sub.add_parser("nia", help="Noise Injection Adaption against IR drop: train once, evaluate on chips")
    p.add_argument("--model", required=True)
    p.add_argument("--design", required=True)
    add_data(p)
    p.add_argument("--calibration", type=SAMPLES, default=CALIBRATION)
    p.add_argument("--epochs", type=EPOCHS, default=2)
    p.add_argument("--limit", type=SAMPLES, default=None)
    add_output(p)
    add_reporting(p, quiet=True)
    add_nonideal(p)
    p.set_defaults(func=cmd_nia)
