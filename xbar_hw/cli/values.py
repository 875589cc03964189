"""Command-line values with their allowed ranges, checked by argparse before any work
starts, and a parser whose every usage error is one line ``error: --flag: got VALUE;
allowed: ...`` with status 2."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from ..core.errors import short

SEED_MAX = 2**31 - 1


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def _get_values(self, action, arg_strings):
        # Python 3.11's argparse drops a lone '--' given as an option's value (--epochs=--)
        # and passes an empty list on, unchecked: refuse it like any other bad value
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            self.error(f"{'/'.join(action.option_strings)}: got '--'; allowed: a value")
        return super()._get_values(action, arg_strings)

    def error(self, message: str):
        message = message.replace("argument ", "", 1) if message.startswith("argument ") else message
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _bad(value, allowed: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"got {short(value)}; allowed: {allowed}")


def integer(lo: int, hi: int):
    """An argparse type: an integer in [lo, hi]."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise _bad(text, f"an integer in [{lo}, {hi}]") from None
        if not lo <= value <= hi:
            raise _bad(value, f"an integer in [{lo}, {hi}]")
        return value

    parse.__name__ = "integer"
    return parse


def auto_or_integer(lo: int, hi: int):
    """An argparse type: ``auto`` or an integer in [lo, hi]."""
    allowed = f"'auto' or an integer in [{lo}, {hi}]"

    def parse(text: str) -> int | str:
        if text == "auto":
            return text
        try:
            value = int(text, 10)
        except ValueError:
            raise _bad(text, allowed) from None
        if not lo <= value <= hi:
            raise _bad(value, allowed)
        return value

    parse.__name__ = "auto_or_integer"
    return parse


def number(lo: float, hi: float, lo_open: bool = False, unit: str = ""):
    """An argparse type: a finite number in [lo, hi] (or (lo, hi] with ``lo_open``)."""
    allowed = f"a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}]" + (f" {unit}" if unit else "")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _bad(text, allowed) from None
        if not math.isfinite(value) or value > hi or (value <= lo if lo_open else value < lo):
            raise _bad(text, allowed)
        return value

    parse.__name__ = "number"
    return parse


SEED = integer(0, SEED_MAX)
EPOCHS = integer(1, 10000)
SAMPLES = integer(1, 10**7)  # test or calibration samples
OHMS = number(0.0, 1e9, unit="ohms")


def writable(folder: Path) -> bool:
    """Whether ``folder``, or the nearest existing folder above it, lets us write into it
    (and create what is missing)."""
    p = folder.absolute()
    while not p.exists():
        p = p.parent
    return p.is_dir() and os.access(p, os.W_OK | os.X_OK)


def output_file(text: str) -> Path:
    """An argparse type: a file to write (not a folder; its folder creatable and writable)."""
    path = Path(text)
    if not text or path.is_dir():
        raise _bad(text, "a file path (not a folder)")
    if not writable(path.parent):
        raise _bad(text, "a path in a writable folder")
    return path


def output_folder(text: str) -> Path:
    """An argparse type: a folder to write (not an existing file; creatable and writable)."""
    path = Path(text)
    if not text or (path.exists() and not path.is_dir()):
        raise _bad(text, "a folder path (not an existing file)")
    if not writable(path):
        raise _bad(text, "a path in a writable folder")
    return path


def input_file(text: str) -> Path:
    """An argparse type: an existing file."""
    path = Path(text)
    if not path.is_file():
        raise _bad(text, "an existing file")
    return path
