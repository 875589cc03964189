"""``python -m xbar_hw.sweep sweep SWEEP.yaml -o DIR ...``: the sweep command on its own
(the re-executed driver inside its network namespace runs this). User errors print one
line, ``error: ...``, and exit with status 2."""

from __future__ import annotations

import argparse
import sys

from ..core.errors import XbarError
from ..launch import Terminated
from .command import add_parser


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m xbar_hw.sweep", description="design-space sweeps on Ray")
    add_parser(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
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
