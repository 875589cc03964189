"""``xbar-hw energy`` (a design's power, cycles and area; a Program's energy per inference)
and ``xbar-hw report`` (energy, writes and lifetime of each adaptation method)."""

from __future__ import annotations

import argparse

from ..core.design import load_design
from ..flows.costs import cost_report, energy_summary, report_summary
from .common import add_output, add_reporting, print_json
from .values import integer


def cmd_energy(args: argparse.Namespace) -> int:
    """A design's peak power, ADC share, cycles and area; with a Program, its energy per
    inference on a workload."""
    design = load_design(args.design)
    doc = energy_summary(design, args.program, task=args.task, data=args.data, images=args.images)
    if args.json:
        print_json(doc)
        return 0
    print(f"design {design.name} ({doc['technology']}): PE {doc['pe_power_mw']:.2f} mW, tile {doc['tile_power_mw']:.1f} mW "
          f"(ADC {100 * doc['adc_share']:.1f}%), {doc['cycles_per_mvm']} cycles per MVM, tile area {doc['area_mm2']:.3f} mm2")
    if args.program:
        print(f"program {args.program}: {doc['energy_per_inference_pj'] / 1e3:.2f} nJ per inference on "
              f"{doc['program']['images']} images, {doc['program']['cycles_per_inference']:.0f} cycles")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    doc = cost_report(args.program, args.output, tasks=args.tasks, data=args.data, images=args.images,
                      design_file=args.design)
    if args.json:
        print_json(report_summary(doc, args.output))
    else:
        print(f"report on {len(args.tasks or doc['tasks'])} task(s) -> {args.output}/report.md, report.json, energy_breakdown.png, "
              "energy_vs_inferences.png, lifetime.png")
    return 0


def add_energy(sub) -> None:
    p = sub.add_parser("energy", help="peak power, ADC share, cycles and area of a design; energy per inference of a Program")
    p.add_argument("design")
    p.add_argument("--program", help="a Program mapped with this design")
    p.add_argument("--task", default=None, help="the Program's task to run (default: its base task)")
    p.add_argument("--data", default=None, help="workload: a task or data set (default: the one the Program was mapped on)")
    p.add_argument("--images", type=integer(1, 100000), default=16, help="workload images")
    add_reporting(p)
    p.set_defaults(func=cmd_energy)


def add_report(sub) -> None:
    p = sub.add_parser("report", help="energy, writes and lifetime of each adaptation method: Markdown, JSON, PNG")
    p.add_argument("--program", nargs="+", required=True, help="Programs of one backbone holding task entries")
    p.add_argument("--tasks", nargs="+", default=None, help="task keys to include (default: all)")
    p.add_argument("--data", default=None)
    p.add_argument("--images", type=integer(1, 100000), default=16, help="workload images per task")
    p.add_argument("--design", default=None,
                   help="design file whose cost-side entries (clock, technology) replace the Programs' own; "
                        "it must map the same way")
    add_output(p, "folder")
    add_reporting(p)
    p.set_defaults(func=cmd_report)
