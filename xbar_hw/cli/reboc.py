"""``xbar-hw reboc``: a block-circulant Program under the plain and the ReBoc mapping: a
summary line, the whole comparison with ``--json``, written to ``-o FILE`` (JSON)."""

from __future__ import annotations

import argparse
import json

from ..core.io import write_text
from ..flows.reboc import mapping_comparison
from .common import add_output, add_reporting, print_json
from .values import integer


def cmd_reboc(args: argparse.Namespace) -> int:
    doc = mapping_comparison(args.program, args.design, data=args.data, images=args.images,
                             pipeline=not args.no_pipeline)
    if args.output is not None:
        write_text(args.output, json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
    if args.json:
        print_json(doc)
    else:
        p, r = doc["plain"], doc["reboc"]
        print(f"plain / ReBoc on {doc['design']} ({doc['images']} images): crossbars {p['crossbars']} / "
              f"{r['crossbars']}, speedup {doc['speedup']:.3f}, energy ratio {doc['energy_ratio']:.3f}, "
              f"input-buffer ratio {doc['input_buffer_ratio']:.2f}"
              + (f" -> {args.output}" if args.output is not None else ""))
    return 0


def add_reboc(sub) -> None:
    p = sub.add_parser("reboc", help="a block-circulant Program under plain and ReBoc mapping: crossbars, reads, "
                                     "buffer, cycles, energy, area")
    p.add_argument("--program", required=True, help="a Program of a model trained with --circulant B")
    p.add_argument("--design", default=None, help="a design that maps like the Program (its cost side and mapping block)")
    p.add_argument("--data", default=None, help="workload (default: the data the Program was mapped on)")
    p.add_argument("--images", type=integer(1, 100000), default=16, help="workload images")
    p.add_argument("--no-pipeline", action="store_true", help="ReBoc's b/D read sequences one MVM after another")
    add_output(p, required=False, help="write the comparison to this JSON file")
    add_reporting(p)
    p.set_defaults(func=cmd_reboc)
