"""``xbar-hw train``, ``map`` and ``evaluate``: a float model, its Program, their accuracy."""

from __future__ import annotations

import argparse
import sys

from ..core.design import load_design
from ..core.errors import XbarError
from ..core.program import Program
from ..flows.evaluate import evaluate_with_chips
from ..flows.models import CALIBRATION, map_model, train_model
from ..flows.nonideal import with_nonideal
from ..flows.workloads import data_made_on
from ..workload.models import load_model
from .common import add_data, add_nonideal, add_output, add_reporting, nonideal_overrides, print_json
from .values import EPOCHS, SAMPLES, integer, number


def cmd_train(args: argparse.Namespace) -> int:
    doc = train_model(args.data, args.output, arch=args.arch, width=args.width, epochs=args.epochs, lr=args.lr,
                      seed=args.seed, image_size=args.image_size, channels=args.channels, progress=not args.quiet,
                      circulant=args.circulant)
    if args.json:
        print_json(doc)
    else:
        print(f"trained {args.arch} on {args.data}: test accuracy {doc['float_acc']:.4f} -> {args.output}")
    return 0


def map_file(model, doc: dict, design, args: argparse.Namespace):
    """The model file's network mapped onto ``design``, calibrated on ``--data`` (else the
    data it was trained on); a model pruned by ``xbar-hw prune`` gets each crossbar's own
    lossless ADC bits. Returns (program, data)."""
    data, name = data_made_on(doc["meta"], args.data, seed=args.seed, image_size=args.image_size,
                              channels=args.channels)
    program = map_model(model, doc["arch"], doc["kwargs"], design, data, data_name=name, seed=args.seed,
                        calibration=args.calibration, source=str(args.model),
                        adc_bits="lossless" if "prune" in doc["meta"] else "design")
    return program, data


def cmd_map(args: argparse.Namespace) -> int:
    design = load_design(args.design)
    model, doc = load_model(args.model)
    program, _ = map_file(model, doc, design, args)
    program.save(args.output)
    s = program.summary()
    if args.json:
        print_json({**s, "output": str(args.output)})
    else:
        print(f"mapped {len(program.layers)} layers onto {s['crossbars']} crossbars in {s['pes']} PEs -> {args.output}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    if not args.program and not (args.model and args.design):
        raise XbarError("evaluate: got neither --program nor --model with --design; "
                        "allowed: --program P [--model M] or --model M --design D")
    model = doc = None
    if args.model:
        model, doc = load_model(args.model)
    design = load_design(args.design) if args.design else None
    if args.program:
        program = Program.load(args.program, design)
        data, _ = data_made_on(program.meta, args.data, seed=args.seed, image_size=args.image_size,
                               channels=args.channels)
    else:
        program, data = map_file(model, doc, design, args)
    # the chips are those of --design when given (its device and nonideal blocks; it maps like the Program)
    base = program.on_design(design).design if design is not None else program.design
    chip_design = with_nonideal(base, **nonideal_overrides(args))  # validated before the long work
    result = evaluate_with_chips(program, data, model, chip_design=chip_design, chips=args.chips,
                                 progress=not args.quiet and not args.json, limit=args.limit)
    if args.json:
        print_json(result)
        warn_overflow(result)
        return 0
    fa = "n/a" if result["float_acc"] is None else f"{result['float_acc']:.4f}"
    print(f"{data.name} on {program.design.name}: float {fa}  quantized {result['quant_acc']:.4f}  "
          f"mapped {result['mapped_acc']:.4f}  ({result['crossbars']} crossbars, {result['pes']} PEs)")
    if "chips" in result:
        print(f"on {result['chips']} chip(s): {result['chip_acc_mean']:.4f} +- {result['chip_acc_std']:.4f}")
        warn_overflow(result)
    return 0


def warn_overflow(result: dict) -> None:
    """One warning line on stderr when some chip's fault tables overflow: how many faulty
    weights went uncorrected, in how many crossbars of which layers."""
    over = [(name, xbs) for chip in result.get("fault_overflow", []) for name, xbs in chip.items()]
    if not over:
        return
    weights = sum(sum(xbs.values()) for _, xbs in over)
    layers = sorted({name for name, _ in over})
    print(f"warning: fault table overflow ({result['fault_table_entries']} entries per crossbar): {weights} faulty "
          f"weights uncorrected in {sum(len(x) for _, x in over)} crossbars over {result['chips']} chip(s) "
          f"(layers {', '.join(layers)}); --json lists them", file=sys.stderr)


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train a float model (safetensors + JSON header)")
    add_data(p, "mnist5k")
    p.add_argument("--arch", default="mnist_cnn", choices=("mnist_cnn", "task_cnn", "resnet20"))
    p.add_argument("--width", type=integer(1, 1024), default=16, help="channels of mnist_cnn's first conv")
    p.add_argument("--epochs", type=EPOCHS, default=5)
    p.add_argument("--lr", type=number(0.0, 10.0, lo_open=True), default=1e-3)
    p.add_argument("--circulant", type=integer(1, 4096), default=None, metavar="B",
                   help="block-circulant layers of B x B blocks (4, 8 or 16) wherever B divides a layer")
    add_output(p)
    add_reporting(p, quiet=True)
    p.set_defaults(func=cmd_train)


def add_map(sub) -> None:
    p = sub.add_parser("map", help="quantize and map a model onto a design: a Program")
    p.add_argument("--model", required=True)
    p.add_argument("--design", required=True)
    add_data(p)
    p.add_argument("--calibration", type=SAMPLES, default=CALIBRATION, help="training samples used to calibrate scales")
    add_output(p)
    add_reporting(p)
    p.set_defaults(func=cmd_map)


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="float, quantized and mapped accuracy")
    p.add_argument("--program")
    p.add_argument("--model")
    p.add_argument("--design")
    add_data(p)
    p.add_argument("--calibration", type=SAMPLES, default=CALIBRATION)
    p.add_argument("--limit", type=SAMPLES, default=None, help="evaluate N test samples (a fixed random subset)")
    add_reporting(p, quiet=True)
    add_nonideal(p)
    p.set_defaults(func=cmd_evaluate)
