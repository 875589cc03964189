"""``xbar-hw prune``: TinyADC, ADC-aware structured pruning (issue 13): a model whose
mapped crossbars are exact with fewer ADC bits."""

from __future__ import annotations

import argparse

from ..core.design import load_design
from ..flows.prune import prune_file
from .common import add_data, add_output, add_reporting, print_json
from .values import EPOCHS, integer, number


def cmd_prune(args: argparse.Namespace) -> int:
    design = load_design(args.design)
    doc = prune_file(args.model, design, args.adc_bits, args.output, data=args.data, per_layer=args.per_layer,
                     epochs=args.epochs, lr=args.lr, seed=args.seed, image_size=args.image_size,
                     channels=args.channels)
    if args.json:
        print_json(doc)
    else:
        bits = ", ".join(f"{n} {b}" for n, b in doc["lossless_bits"].items())
        print(f"pruned for {args.adc_bits}-bit ADCs on {design.name}: test accuracy {doc['test_acc']:.4f}, "
              f"sparsity {doc['sparsity']['total']:.3f}, lossless ADC bits per layer: {bits} -> {args.output}")
    return 0


def add_prune(sub) -> None:
    p = sub.add_parser("prune", help="TinyADC: prune a model so that each crossbar is exact with fewer ADC bits")
    p.add_argument("--model", required=True, help="a trained model file (xbar-hw train)")
    p.add_argument("--design", required=True, help="the design whose crossbar layout the budgets follow")
    p.add_argument("--adc-bits", type=integer(1, 62), required=True,
                   help="ADC bits every crossbar must be exact with (shift 0)")
    p.add_argument("--per-layer", choices=("auto",), default=None,
                   help="auto: a layer that would lose over half its weight mass keeps more bits")
    add_data(p)
    p.add_argument("--epochs", type=EPOCHS, default=2, help="retraining epochs")
    p.add_argument("--lr", type=number(0.0, 10.0, lo_open=True), default=5e-4, help="retraining learning rate (Adam)")
    add_output(p, help="the pruned model file")
    add_reporting(p)
    p.set_defaults(func=cmd_prune)
