"""``xbar-hw sweep SWEEP.yaml -o DIR [--address ADDR] [--workers N] [--resume]``: the
argparse parser and its handler. The CLI adds it with :func:`add_parser` and calls
:func:`run`; ``python -m xbar_hw.sweep`` does the same on its own.

Without ``--address`` the handler re-executes the command in a private network namespace
(:mod:`.netns`) and the local Ray cluster starts there; with it, the sweep joins the user's
cluster as it is. The sweep file is validated first, in the calling process, so bad input
costs no namespace and no Ray.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from ..core.errors import XbarError
from . import netns
from .engine import Options, check_reachable, run_sweep
from .report import write_report
from .spec import load_sweep


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``sweep`` command to an argparse subparsers object."""
    p = subparsers.add_parser(
        "sweep", help="design-space sweep on Ray (a local cluster by default): table of results and Pareto report",
        description="Run a sweep file's points (designs x chips) as Ray tasks; rows go to DIR/results.jsonl as they "
                    "finish, the Pareto report to DIR/report/. Without --address a local Ray cluster starts in a "
                    "private network namespace (loopback only).")
    p.add_argument("sweep", help="the sweep file (YAML: base, axes, sampling, chips, workload)")
    p.add_argument("-o", "--output", required=True, help="folder of the table, the trained model and the report")
    p.add_argument("--address", default=None,
                   help="a running Ray cluster (HOST:PORT of its head, ray://HOST:PORT, or auto); default: a local cluster")
    p.add_argument("--workers", type=int, default=None, help="worker processes of the local cluster (default: all CPUs)")
    p.add_argument("--resume", action="store_true", help="finish a sweep in DIR: skip the rows already in its table")
    p.add_argument("--report-only", action="store_true", help="only (re)write DIR/report from DIR's table; no Ray")
    p.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to wait for --address to answer")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def argv_of(args) -> list[str]:
    """The command line of ``python -m xbar_hw.sweep`` that repeats ``args``."""
    argv = ["sweep", str(Path(args.sweep).resolve()), "-o", str(Path(args.output).resolve())]
    if args.workers is not None:
        argv += ["--workers", str(args.workers)]
    argv += [f"--{flag}" for flag in ("resume", "json", "quiet") if getattr(args, flag)]
    return argv


class SigtermAsInterrupt:
    """While Ray runs, SIGTERM raises KeyboardInterrupt, the one exception Ray's waits let
    through cleanly (any other raised in its signal check comes out as a SystemError), and
    notes that it came; :func:`run` hands it on to the caller's own handler once Ray is
    shut down."""

    def __init__(self) -> None:
        self.came = False

    def __call__(self, signum, frame) -> None:
        self.came = True
        raise KeyboardInterrupt


def run(args) -> int:
    """The sweep command. SIGTERM unwinds like Ctrl-C (Ray shut down, its folder removed),
    then is delivered again to the handler that was there before (the ``xbar-hw``
    launcher's, or ``python -m xbar_hw.sweep``'s), which ends the command in one line."""
    handler = SigtermAsInterrupt()
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        return run_sweep_command(args)
    except KeyboardInterrupt:
        if not handler.came:
            raise
        signal.signal(signal.SIGTERM, previous)
        os.kill(os.getpid(), signal.SIGTERM)
        raise  # only where the previous handler let the signal pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_sweep_command(args) -> int:
    sweep = load_sweep(args.sweep)
    out = Path(args.output)
    if args.workers is not None and not 1 <= args.workers <= 1024:
        raise XbarError(f"--workers: got {args.workers}; allowed: an integer in [1, 1024]")
    if not 0.1 <= args.connect_timeout <= 600:
        raise XbarError(f"--connect-timeout: got {args.connect_timeout}; allowed: seconds in [0.1, 600]")
    if out.exists() and not out.is_dir():
        raise XbarError(f"-o/--output: got {str(out)!r}; allowed: a folder path (not an existing file)")
    if args.report_only:
        path = write_report(sweep, out)
        print(f"report -> {path}/report.md")
        return 0
    if args.address is not None:
        check_reachable(args.address, args.connect_timeout)
        if args.workers is not None:
            print("note: --workers sets the local cluster's size; with --address the cluster's CPUs decide",
                  file=sys.stderr)
    elif not netns.inside():
        return netns.run_inside(argv_of(args))
    else:
        netns.enter()
    opts = Options(out, args.address, args.workers, args.resume, args.quiet, args.connect_timeout)
    summary = run_sweep(sweep, opts)
    summary["report"] = str(write_report(sweep, out))
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(f"sweep {sweep.name}: {summary['points']} points x {sweep.chips} chip(s); {summary['computed']} computed, "
              f"{summary['skipped']} already in the table, {summary['failed']} failed -> {summary['table']}; "
              f"report {summary['report']}/report.md")
    return 0
