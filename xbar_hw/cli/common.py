"""What several commands share: the output and reporting options, JSON output, the data
options and the non-ideal options."""

from __future__ import annotations

import argparse
import json

from .values import OHMS, SEED, auto_or_integer, integer, number, output_file, output_folder


def print_json(doc) -> None:
    """``doc`` on stdout: indented, keys sorted (paths and other objects as strings)."""
    print(json.dumps(doc, indent=2, sort_keys=True, default=str))


def add_output(p: argparse.ArgumentParser, kind: str = "file", required: bool = True, default=None,
               help: str | None = None) -> None:
    """``-o/--output``: a ``kind`` ("file" or "folder") checked as writable before any work."""
    p.add_argument("-o", "--output", type=output_file if kind == "file" else output_folder, required=required,
                   default=default, help=help or f"output {kind}")


def add_reporting(p: argparse.ArgumentParser, quiet: bool = False) -> None:
    """``--json`` (the result as JSON on stdout) and, for commands that print progress, ``--quiet``."""
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    if quiet:
        p.add_argument("--quiet", action="store_true", help="no progress lines")


def add_data(p: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--data`` and how its data set is split and read."""
    p.add_argument("--data", default=default,
                   help="mnist5k, digits, a task of `xbar-hw adapt --list-tasks`, or a folder in ImageFolder layout")
    p.add_argument("--image-size", type=integer(1, 1024), default=28, help="side of folder images after resizing (pixels)")
    p.add_argument("--channels", type=int, default=1, choices=(1, 3), help="channels of folder images")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the data split and of training")


def add_nonideal(p: argparse.ArgumentParser) -> None:
    """The options that override the design's nonideal block (see :func:`nonideal_overrides`)."""
    g = p.add_argument_group("non-ideal effects (override the design's nonideal block)")
    g.add_argument("--chips", type=integer(1, 10000), default=None, help="evaluate on N chip instances (mean +- std)")
    g.add_argument("--chip-seed", type=SEED, default=None, help="seed of the chip instances and read noise")
    g.add_argument("--sa0", type=number(0.0, 1.0), default=None, help="stuck-at-0 rate in [0, 1]")
    g.add_argument("--sa1", type=number(0.0, 1.0), default=None, help="stuck-at-1 rate in [0, 1]")
    g.add_argument("--sa0-state", choices=("on", "off"), default=None, help="SA0 pins G_on (PytorX) or G_off")
    g.add_argument("--fault-map", default=None, help="safetensors fault map (codes 0/1/2 per cell)")
    g.add_argument("--no-saf-correction", action="store_true", help="turn the digital SAF correction off")
    g.add_argument("--fault-entries", type=auto_or_integer(1, 1 << 24), default=None,
                   help="depth of each crossbar's fault table (corrector.entries): auto (mean + 6 sigma of the "
                        "faulty weights at the SAF rates) or N; faults past it go uncorrected")
    g.add_argument("--ir-drop", action="store_true", help="solve IR drop exactly")
    g.add_argument("--r-wire", type=OHMS, default=None, help="wire resistance per segment, ohms (implies --ir-drop)")
    g.add_argument("--thermal", action="store_true")
    g.add_argument("--shot", action="store_true")
    g.add_argument("--rtn", action="store_true")
    g.add_argument("--noise", action="store_true", help="thermal, shot and RTN")
    g.add_argument("--read-frequency", type=number(1e3, 1e11, unit="Hz"), default=None, help="read frequency, Hz (noise bandwidth)")
    g.add_argument("--variation", type=number(0.0, 100.0), default=None, help="programming variation, sigma in level steps")


def nonideal_overrides(args: argparse.Namespace) -> dict:
    """The non-ideal options as keyword arguments of :func:`xbar_hw.flows.nonideal.with_nonideal`."""
    return {"sa0": args.sa0, "sa1": args.sa1, "sa0_state": args.sa0_state, "fault_map": args.fault_map,
            "saf_correction": not args.no_saf_correction, "fault_entries": args.fault_entries, "ir_drop": args.ir_drop, "r_wire": args.r_wire,
            "thermal": args.thermal, "shot": args.shot, "rtn": args.rtn, "noise": args.noise,
            "variation": args.variation, "chip_seed": args.chip_seed, "read_frequency": args.read_frequency}
