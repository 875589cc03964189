"""``xbar-hw design check|show FILE``: validate a design file, or print it with its derived
quantities."""

from __future__ import annotations

import argparse

from ..flows.designs import check_design
from .common import add_reporting, print_json


def cmd_design(args: argparse.Namespace) -> int:
    design = check_design(args.file)
    if args.action == "check":
        print(f"ok: {args.file} is a valid design ({design.name})")
        return 0
    doc = {"design": design.to_dict(), "derived": design.derived()}
    if args.json:
        print_json(doc)
    else:
        print(f"design {design.name} ({args.file})")
        for k, v in design.derived().items():
            print(f"  {k:28s} {v}")
    return 0


def add_design(sub) -> None:
    p = sub.add_parser("design", help="check or show a design file")
    p.add_argument("action", choices=("check", "show"))
    p.add_argument("file")
    add_reporting(p)
    p.set_defaults(func=cmd_design)
