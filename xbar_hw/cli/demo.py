"""``xbar-hw demo``: the end-to-end run on a design (:func:`xbar_hw.flows.demo.run_demo`)."""

from __future__ import annotations

import argparse

from ..flows.demo import run_demo
from .values import EPOCHS, SEED, output_folder


def cmd_demo(args: argparse.Namespace) -> int:
    """The end-to-end run on one design: train, map, evaluate, adapt, co-simulate, report;
    results in DIR. Status 1 when the co-simulation disagreed."""
    ok = run_demo(args.design, args.output, epochs=args.epochs, seed=args.seed, progress=not args.quiet)
    return 0 if ok else 1


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the end-to-end run on a design: train, map, evaluate, adapt")
    p.add_argument("--design", default="designs/default.yaml")
    p.add_argument("-o", "--output", type=output_folder, default="out/demo")
    p.add_argument("--epochs", type=EPOCHS, default=5)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)
