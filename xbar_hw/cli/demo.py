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


DEMO_STEPS = """The end-to-end run on a design, in eight steps; every result in the output folder:
  1. train a small CNN on MNIST-5k                        (model.safetensors)
  2. map it onto the design                               (program.safetensors)
  3. float, quantized and mapped accuracy                 (evaluate.json)
  4. TinyADC: prune it for ADCs 2 bits smaller, lossless; accuracy, ADC power, area
                                                          (pruned.safetensors, tinyadc.json)
  5. chips with stuck-at faults (corrected or not) and read noise  (evaluate.json)
  6. a task_cnn backbone on MNIST 0-4, adapted to Split MNIST 5-9 by XMA and XMA²
                                                          (backbone/tasks.safetensors, adapt.json)
  7. the PE tile's Verilog, co-simulated: the XMA task's whole head  (cosim/)
  8. the cost report of both task entries                 (report/)"""


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the end-to-end run on a design, in eight steps (see demo --help)",
                       description=DEMO_STEPS, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--design", default="designs/default.yaml")
    p.add_argument("-o", "--output", type=output_folder, default="out/demo")
    p.add_argument("--epochs", type=EPOCHS, default=5)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)
