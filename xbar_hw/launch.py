"""The ``xbar-hw`` console script: catches Ctrl-C and SIGTERM from the first instant, also
while the heavy packages (torch, Amaranth, cocotb) import, so that an interrupt always ends
with the one line ``interrupted`` (status 130 / 143) and never with a traceback."""

from __future__ import annotations

import importlib
import signal
import sys
import warnings


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that every
    temporary file and folder is removed on the way out."""


def on_sigterm(signum, frame) -> None:
    raise Terminated


def interrupted(status: int) -> int:
    """Say ``interrupted`` and return ``status``; warnings that half-built objects would print
    as the interpreter exits (Amaranth's unused elaboratables) are silenced."""
    warnings.simplefilter("ignore")
    print("interrupted", file=sys.stderr)
    return status


def main(argv=None) -> int:
    """Import the command line and run it; interrupts end with one line.

    While the packages import, an interrupt is only noted (a KeyboardInterrupt raised inside
    a third-party module's import can leave it half-initialized, which then fails in odd
    ways); once they are in, the command runs with Ctrl-C and SIGTERM raising as usual."""
    noted: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, frame: noted.append(signum))
    try:
        # imported here, not at the top: an interrupt while it imports must be caught too
        cli = importlib.import_module("xbar_hw.cli")
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, on_sigterm)
    try:
        if noted:
            raise KeyboardInterrupt if noted[0] == signal.SIGINT else Terminated
        status = cli.main(argv)
    except KeyboardInterrupt:
        status = interrupted(130)
    except Terminated:
        status = interrupted(143)
    # the command is over (its results written or removed): a signal from now on would meet
    # the default handlers the interpreter restores as it shuts down and end the process
    # with the signal's status, as if the finished command had been interrupted
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return status


if __name__ == "__main__":
    sys.exit(main())
