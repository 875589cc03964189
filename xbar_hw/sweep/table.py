"""The results table: JSON lines, one row per point and chip, appended as results come in.

Each row is written with one ``write`` of a whole line, then flushed and fsync'ed, so a
driver killed at any moment leaves every finished row on disk and at most one torn last
line. Opening the table to resume drops a torn last line (truncating the file to the last
whole row) before anything is appended; rows are never rewritten.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from pathlib import Path

from ..core.errors import XbarError

TABLE = "results.jsonl"


def clean(value):
    """JSON-safe copy: non-finite floats become None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def read_rows(path: str | Path) -> tuple[list[dict], int]:
    """The whole rows of a table and the byte length they take; a torn last line (no
    newline at its end, or not JSON) is left out. A damaged row before the last is an error."""
    p = Path(path)
    if not p.is_file():
        return [], 0
    data = p.read_bytes()
    rows, good = [], 0
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if last:  # text after the final newline: a torn write (or nothing)
            break
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or "key" not in row:
                raise ValueError("not a row")
        except ValueError:
            if i == len(lines) - 2 and not lines[-1]:
                break  # the last line is whole but unreadable: treat it as torn too
            raise XbarError(f"table: line {i + 1} of {p} is not a result row; allowed: a table written by xbar-hw sweep") from None
        rows.append(row)
        good += len(line) + 1
    return rows, good


class Table:
    """An open table (``out/results.jsonl``) held by one driver (an exclusive lock on
    ``out/.lock``)."""

    def __init__(self, folder: str | Path, resume: bool):
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.lock = open(self.folder / ".lock", "a")
        except OSError as exc:
            raise XbarError(f"-o: cannot write to {str(folder)!r} ({exc.strerror}); allowed: a writable folder") from None
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.lock.close()
            raise XbarError(f"-o: {folder} is in use by another sweep driver; allowed: one driver per folder") from None
        self.path = self.folder / TABLE
        self.rows, size = read_rows(self.path)
        if self.rows and not resume:
            self.close()
            raise XbarError(f"-o: {self.path} already holds {len(self.rows)} rows; allowed: --resume to finish that "
                            "sweep, or another folder")
        with open(self.path, "ab") as f:
            #: bytes of a torn last line, dropped before anything is appended
            self.dropped = f.tell() - size
            if self.dropped:
                f.truncate(size)
                os.fsync(f.fileno())
        self.file = open(self.path, "ab")

    @property
    def keys(self) -> set[str]:
        return {r["key"] for r in self.rows}

    def append(self, row: dict) -> None:
        line = (json.dumps(clean(row), sort_keys=True) + "\n").encode()
        self.file.write(line)
        self.file.flush()
        os.fsync(self.file.fileno())
        self.rows.append(row)

    def close(self) -> None:
        if getattr(self, "file", None) is not None:
            self.file.close()
            self.file = None
        if not self.lock.closed:
            fcntl.flock(self.lock, fcntl.LOCK_UN)
            self.lock.close()
