"""``xbar-hw reboc``: a block-circulant Program under the plain and the ReBoc mapping (JSON)."""

from __future__ import annotations

import argparse

from ..flows.reboc import mapping_comparison
from .common import print_json
from .values import integer


def cmd_reboc(args: argparse.Namespace) -> int:
    print_json(mapping_comparison(args.program, args.design, data=args.data, images=args.images,
                                  pipeline=not args.no_pipeline))
    return 0


def add_reboc(sub) -> None:
    p = sub.add_parser("reboc", help="a block-circulant Program under plain and ReBoc mapping: crossbars, reads, "
                                     "buffer, cycles, energy, area (JSON)")
    p.add_argument("--program", required=True, help="a Program of a model trained with --circulant B")
    p.add_argument("--design", default=None, help="a design that maps like the Program (its cost side and mapping block)")
    p.add_argument("--data", default=None, help="workload (default: the data the Program was mapped on)")
    p.add_argument("--images", type=integer(1, 100000), default=16, help="workload images")
    p.add_argument("--no-pipeline", action="store_true", help="ReBoc's b/D read sequences one MVM after another")
    p.set_defaults(func=cmd_reboc)
