"""The ``xbar-hw`` command line: argparse parsers and thin handlers over :mod:`xbar_hw.flows`.

One module per group of commands, each with its ``add_*`` parser functions and ``cmd_*``
handlers; :func:`build_parser` registers them all. A handler returns the exit status; a user
error raises :class:`xbar_hw.XbarError`, which :func:`main` prints as one line
``error: ...`` with status 2.
"""

from __future__ import annotations

import argparse
import signal
import sys

from ..core.errors import XbarError
from ..launch import Terminated, interrupted, on_sigterm
from ..sweep.command import add_parser as add_sweep
from .adapt import add_adapt, add_backbone, add_diff
from .costs import add_energy, add_report
from .demo import add_demo
from .design import add_design
from .models import add_evaluate, add_map, add_train
from .nonideal import add_irdrop, add_nia
from .prune import add_prune
from .reboc import add_reboc
from .sim import add_cosim, add_rtl
from .values import Parser

#: the commands in the order ``xbar-hw --help`` lists them
COMMANDS = (add_design, add_train, add_prune, add_map, add_evaluate, add_irdrop, add_nia, add_backbone, add_adapt, add_diff,
            add_energy, add_report, add_reboc, add_rtl, add_cosim, add_sweep, add_demo)


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="xbar-hw", description="ReRAM crossbar accelerator toolchain")
    sub = ap.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return ap


def main(argv=None) -> int:
    """Run one command; user errors end with one line and status 2, Ctrl-C and SIGTERM with
    the line ``interrupted`` and status 130 / 143 (nothing half-written is left behind)."""
    previous = signal.signal(signal.SIGTERM, on_sigterm)  # in-process callers get the same handling
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # a usage error (one line, status 2) or --help (status 0)
            return int(exc.code or 0)
        return args.func(args)
    except XbarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return interrupted(130)
    except Terminated:
        return interrupted(143)
    finally:
        signal.signal(signal.SIGTERM, previous)
