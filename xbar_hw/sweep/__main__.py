"""``python -m xbar_hw.sweep sweep SWEEP.yaml -o DIR ...``: the sweep command on its own
(the re-executed driver inside its network namespace runs this). User errors print one
line, ``error: ...``, and exit with status 2."""

from __future__ import annotations

import argparse
import signal
import sys

from ..core.errors import XbarError
from .command import add_parser


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt."""


def on_sigterm(signum, frame) -> None:
    raise Terminated


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m xbar_hw.sweep", description="design-space sweeps on Ray")
    add_parser(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return args.func(args)
    except XbarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finish the sweep with --resume", file=sys.stderr)
        return 130
    except Terminated:
        print("error: terminated; finish the sweep with --resume", file=sys.stderr)
        return 143


if __name__ == "__main__":
    sys.exit(main())
