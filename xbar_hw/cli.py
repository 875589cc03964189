"""The ``xbar-hw`` command line. User errors print one line and exit with status 2."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import XbarError


def _print_json(doc) -> None:
    print(json.dumps(doc, indent=2, sort_keys=True))


# ---------------------------------------------------------------------------- design
def cmd_design(args) -> int:
    from .design import load_design

    design = load_design(args.file)
    if args.action == "check":
        print(f"ok: {args.file} is a valid design ({design.name})")
        return 0
    doc = {"design": design.to_dict(), "derived": design.derived()}
    if args.json:
        _print_json(doc)
    else:
        print(f"design {design.name} ({args.file})")
        for k, v in design.derived().items():
            print(f"  {k:28s} {v}")
    return 0


# ---------------------------------------------------------------------------- train
def _data(args):
    from .data import load_dataset

    return load_dataset(args.data, seed=args.seed, image_size=args.image_size, channels=args.channels)


def cmd_train(args) -> int:
    from .models import build_model, save_model
    from .train import accuracy, train

    data = _data(args)
    kwargs = {"in_channels": data.in_channels, "num_classes": data.num_classes}
    if args.arch == "mnist_cnn":
        kwargs.update(in_size=data.in_size, width=args.width)
    model = build_model(args.arch, seed=args.seed, **kwargs)
    t0 = time.time()
    train(model, data, epochs=args.epochs, seed=args.seed, lr=args.lr, progress=not args.quiet)
    acc = accuracy(model.cpu(), data.x_test, data.y_test)
    meta = {"data": args.data, "seed": args.seed, "epochs": args.epochs, "test_acc": acc,
            "image_size": args.image_size, "channels": args.channels}
    save_model(model.cpu(), args.arch, kwargs, args.output, meta)
    doc = {"float_acc": acc, "output": str(args.output), "seconds": round(time.time() - t0, 2)}
    _print_json(doc) if args.json else print(f"trained {args.arch} on {args.data}: test accuracy {acc:.4f} -> {args.output}")
    return 0


# ---------------------------------------------------------------------------- map
def _map_model(model, doc, design, args):
    """Map a model file's network onto ``design``, calibrated on its training data
    (``--data``, else the data it was trained on). Returns (program, data)."""
    from .xbar.convert import convert_to_program

    args.data = args.data or doc["meta"].get("data", "mnist5k")
    data = _data(args)
    program = convert_to_program(
        model, design, data.x_train[: args.calibration],
        {"arch": doc["arch"], "kwargs": doc["kwargs"]},
        {"data": args.data, "seed": args.seed, "model": str(args.model)},
    )
    return program, data


def cmd_map(args) -> int:
    from .design import load_design
    from .models import load_model

    design = load_design(args.design)
    model, doc = load_model(args.model)
    program, _ = _map_model(model, doc, design, args)
    program.save(args.output)
    s = program.summary()
    _print_json({**s, "output": str(args.output)}) if args.json else print(
        f"mapped {len(program.layers)} layers onto {s['crossbars']} crossbars in {s['pes']} PEs -> {args.output}"
    )
    return 0


# ---------------------------------------------------------------------------- evaluate
def evaluate(program, data, model=None, progress=True, limit=None) -> dict:
    from .train import accuracy
    from .xbar.layers import set_path

    x, y = data.x_test[:limit], data.y_test[:limit]
    t0 = time.time()
    mapped = program.build()
    doc = {"design": program.design.name, "data": data.name, "n_test": len(x), **program.summary()}
    doc["float_acc"] = accuracy(model, x, y, progress=progress, desc="float") if model is not None else None
    doc["quant_acc"] = accuracy(set_path(mapped, "folded"), x, y, progress=progress, desc="quantized")
    t1 = time.time()
    doc["mapped_acc"] = accuracy(set_path(mapped, "auto"), x, y, progress=progress, desc="mapped")
    doc["mapped_seconds"] = round(time.time() - t1, 3)
    doc["lossless"] = program.design.lossless
    doc["seconds"] = round(time.time() - t0, 3)
    return doc


def cmd_evaluate(args) -> int:
    from .design import load_design
    from .models import load_model
    from .program import Program

    if not args.program and not (args.model and args.design):
        raise XbarError("evaluate: got neither --program nor --model with --design; allowed: --program P [--model M] or --model M --design D")
    model = doc = None
    if args.model:
        model, doc = load_model(args.model)
    design = load_design(args.design) if args.design else None
    if args.program:
        program = Program.load(args.program, design)
        args.data = args.data or program.meta.get("data", "mnist5k")
        data = _data(args)
    else:
        program, data = _map_model(model, doc, design, args)
    result = evaluate(program, data, model, progress=not args.quiet and not args.json, limit=args.limit)
    if args.json:
        _print_json(result)
    else:
        fa = "n/a" if result["float_acc"] is None else f"{result['float_acc']:.4f}"
        print(f"{data.name} on {program.design.name}: float {fa}  quantized {result['quant_acc']:.4f}  "
              f"mapped {result['mapped_acc']:.4f}  ({result['crossbars']} crossbars, {result['pes']} PEs)")
    return 0


# ---------------------------------------------------------------------------- demo
def cmd_demo(args) -> int:
    """The end-to-end run on one design: train, map, evaluate; results in DIR."""
    from .design import load_design
    from .io import write_text
    from .models import build_model, save_model
    from .program import Program
    from .train import accuracy, train
    from .xbar.convert import convert_to_program

    out = Path(args.output)
    design = load_design(args.design)
    args.data = "mnist5k"
    data = _data(args)
    print(f"[1/3] train mnist_cnn on MNIST-5k ({len(data.x_train)} train / {len(data.x_test)} test, {args.epochs} epochs)")
    kwargs = {"in_channels": 1, "num_classes": 10, "in_size": 28, "width": 16}
    model = train(build_model("mnist_cnn", seed=args.seed, **kwargs), data, epochs=args.epochs, seed=args.seed, progress=not args.quiet).cpu()
    save_model(model, "mnist_cnn", kwargs, out / "model.safetensors",
               {"data": "mnist5k", "seed": args.seed, "epochs": args.epochs, "test_acc": accuracy(model, data.x_test, data.y_test)})
    print(f"[2/3] map onto design {design.name}")
    program = convert_to_program(model, design, data.x_train[:512], {"arch": "mnist_cnn", "kwargs": kwargs},
                                 {"data": "mnist5k", "seed": args.seed})
    program.save(out / "program.safetensors")
    print(f"[3/3] evaluate float, quantized and mapped inference")
    result = evaluate(Program.load(out / "program.safetensors", design), data, model, progress=not args.quiet)
    write_text(out / "evaluate.json", json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"float {result['float_acc']:.4f}  quantized {result['quant_acc']:.4f}  mapped {result['mapped_acc']:.4f}"
          f"  on {result['crossbars']} crossbars in {result['pes']} PEs")
    print(f"results in {out}/: model.safetensors, program.safetensors, evaluate.json")
    return 0


# ---------------------------------------------------------------------------- parser
def _add_data(p, default=None):
    p.add_argument("--data", default=default, help="mnist5k, digits, or a folder in ImageFolder layout")
    p.add_argument("--image-size", type=int, default=28, help="side of folder images after resizing (pixels)")
    p.add_argument("--channels", type=int, default=1, choices=(1, 3), help="channels of folder images")
    p.add_argument("--seed", type=int, default=0, help="seed of the data split and of training")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="xbar-hw", description="ReRAM crossbar accelerator toolchain")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("design", help="check or show a design file")
    p.add_argument("action", choices=("check", "show"))
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_design)

    p = sub.add_parser("train", help="train a float model (safetensors + JSON header)")
    _add_data(p, "mnist5k")
    p.add_argument("--arch", default="mnist_cnn", choices=("mnist_cnn", "resnet20"))
    p.add_argument("--width", type=int, default=16, help="channels of mnist_cnn's first conv")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("map", help="quantize and map a model onto a design: a Program")
    p.add_argument("--model", required=True)
    p.add_argument("--design", required=True)
    _add_data(p)
    p.add_argument("--calibration", type=int, default=512, help="training samples used to calibrate scales")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_map)

    p = sub.add_parser("evaluate", help="float, quantized and mapped accuracy")
    p.add_argument("--program")
    p.add_argument("--model")
    p.add_argument("--design")
    _add_data(p)
    p.add_argument("--calibration", type=int, default=512)
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N test samples")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="the end-to-end run on a design: train, map, evaluate")
    p.add_argument("--design", default="designs/default.yaml")
    p.add_argument("-o", "--output", default="out/demo")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo, image_size=28, channels=1)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except XbarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
