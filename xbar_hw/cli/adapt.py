"""``xbar-hw backbone``, ``adapt`` and ``diff``: the shared backbone, a task's entry added
to a Program, and the cells a task switch writes."""

from __future__ import annotations

import argparse

from ..adapt import list_tasks
from ..core.design import load_design
from ..core.errors import XbarError
from ..core.program import Program
from ..flows.adapting import adapt_config, adapt_task, backbone_summary, build_backbone, cell_diff
from .common import add_output, add_reporting, print_json
from .values import EPOCHS, SAMPLES, SEED, integer, number, output_file


def cmd_backbone(args: argparse.Namespace) -> int:
    design = load_design(args.design)
    program = build_backbone(design, args.output, epochs=args.epochs, seed=args.seed, progress=not args.quiet)
    doc = {**backbone_summary(program), "output": str(args.output)}
    if args.json:
        print_json(doc)
    else:
        print(f"backbone task_cnn on {program.meta['base_task']}: float accuracy {doc['float_acc']:.4f}; "
              f"{doc['crossbars']} crossbars in {doc['pes']} PEs ({doc['backbone_pes']} shared) -> {args.output}")
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    if args.list_tasks:
        for name in list_tasks():
            print(name)
        return 0
    for opt in ("program", "task", "method", "output"):
        if getattr(args, opt) is None:
            raise XbarError(f"adapt: --{opt} is missing; allowed: --program P --task T --method M -o P2 (or --list-tasks)")
    method, cfg = adapt_config(args.method, budget=args.budget, epochs=args.epochs, seed=args.seed,
                               eval_limit=args.eval_limit, progress=not args.quiet)
    design = load_design(args.design) if args.design else None
    program = Program.load(args.program, design)
    name, doc = adapt_task(program, args.task, method, cfg, args.output, split_seed=args.split_seed, budget=args.budget)
    if args.json:
        print_json(doc)
    else:
        print(f"{args.method} on {name}: accuracy {doc['accuracy']:.4f} through the crossbars; "
              f"{doc['cells_written']} cells written per switch in {len(doc['pes_reprogrammed'])} PEs; "
              f"{doc['mask_bits']} mask bits -> {args.output}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """Cells whose level differs: between two Programs, or between two tasks of one."""
    doc = cell_diff(args.program_a, args.program_b, task_a=args.task_a, task_b=args.task_b, cells=args.cells)
    if args.json:
        print_json(doc)
    else:
        print(f"{doc['cells_written']} cells differ in {len(doc['pes_reprogrammed'])} PEs")
        for pe, n in doc["per_pe"].items():
            print(f"  PE {pe:4d}: {n} cells")
    return 0


def add_backbone(sub) -> None:
    p = sub.add_parser("backbone", help="train task_cnn on the base task (MNIST 0-4) and map it: the shared backbone")
    p.add_argument("--design", default="designs/default.yaml")
    p.add_argument("--epochs", type=EPOCHS, default=8)
    p.add_argument("--seed", type=SEED, default=0)
    add_output(p)
    add_reporting(p, quiet=True)
    p.set_defaults(func=cmd_backbone)


def add_adapt(sub) -> None:
    p = sub.add_parser("adapt", help="adapt a programmed backbone to a new task; adds the task's entry to the Program")
    p.add_argument("--list-tasks", action="store_true", help="print the built-in tasks, one a line")
    p.add_argument("--program", help="the backbone Program (from `xbar-hw backbone` or `xbar-hw map`)")
    p.add_argument("--design", help="refuse a Program mapped for another design")
    p.add_argument("--task", help="a built-in task (see --list-tasks) or a folder in ImageFolder layout")
    p.add_argument("--method", help="finetune, classifier, piggyback, xbm, xma or xma2")
    p.add_argument("--budget", type=number(0.0, 1.0), default=None,
                   help="xma2: fraction of the backbone's PEs it may reprogram (default 0.1)")
    p.add_argument("--epochs", type=integer(0, 10000), default=5, help="0: no training (the method's initial state)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the head, the masks and the shuffling")
    p.add_argument("--split-seed", type=SEED, default=0, help="seed of the task's train/test split")
    p.add_argument("--eval-limit", type=SAMPLES, default=None, help="evaluate N test samples (a fixed random subset)")
    add_output(p, required=False)
    add_reporting(p, quiet=True)
    p.set_defaults(func=cmd_adapt)


def add_diff(sub) -> None:
    p = sub.add_parser("diff", help="the cells whose level differs between two Programs or two tasks")
    p.add_argument("program_a")
    p.add_argument("program_b", nargs="?")
    p.add_argument("--task-a", default=None, help="task active in the first Program (default: its base task)")
    p.add_argument("--task-b", default=None, help="task active in the second (or the same) Program")
    p.add_argument("--cells", type=output_file, default=None, help="write every differing cell to this CSV file")
    add_reporting(p)
    p.set_defaults(func=cmd_diff)
