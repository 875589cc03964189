"""Checks of what a file hands the tool (the JSON header and the tensors of a Program or a
model file): each failure is one line naming the entry, the value (bounded) and what is
allowed, so a damaged or hand-edited file never reaches the code as a traceback."""

from __future__ import annotations

import math

import torch

from .errors import XbarError, field_error


def need_dict(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise field_error(where, value, "a JSON object")
    return value


def need_key(doc: dict, key: str, where: str):
    if key not in doc:
        raise XbarError(f"{where}: lacks entry {key!r}; allowed: a file written by xbar-hw")
    return doc[key]


def need_int(value, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise field_error(where, value, f"an integer in [{lo}, {hi}]")
    return value


def need_at_least(value, where: str, lo: int) -> int:
    """An integer >= ``lo`` (a count, a seed), else one line."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise field_error(where, value, f"an integer >= {lo}")
    return value


def need_float(value, where: str, lo: float = -math.inf, hi: float = math.inf, lo_open: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        raise field_error(where, value, f"a finite number in {'(' if lo_open else '['}{lo}, {hi}]")
    return float(value)


def need_str(value, where: str, options: tuple | None = None) -> str:
    if not isinstance(value, str) or not value or (options is not None and value not in options):
        raise field_error(where, value, "one of " + ", ".join(options) if options else "a non-empty string")
    return value


def need_list(value, where: str, most: int = 1 << 16) -> list:
    if not isinstance(value, list) or len(value) > most:
        raise field_error(where, value, f"a JSON list of at most {most} entries")
    return value


def need_bool(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise field_error(where, value, "true or false")
    return value


def need_tensor(tensors: dict, key: str, where: str, dtype: torch.dtype, shape: tuple,
                lo: float | None = None, hi: float | None = None) -> torch.Tensor:
    """The tensor ``key`` with exactly ``dtype`` and ``shape`` (None: any size on that axis),
    every value finite and within [lo, hi] where given."""
    if key not in tensors:
        raise XbarError(f"{where}: lacks tensor {key!r}; allowed: a file written by xbar-hw")
    t = tensors[key]
    want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
    if t.dtype != dtype or t.dim() != len(shape) or any(s is not None and s != n for s, n in zip(shape, t.shape)):
        raise XbarError(f"{where}: tensor {key!r} is {str(t.dtype).replace('torch.', '')} {list(t.shape)}; "
                        f"allowed: {str(dtype).replace('torch.', '')} {want}")
    if t.numel() and t.dtype.is_floating_point and not bool(torch.isfinite(t).all()):
        raise XbarError(f"{where}: tensor {key!r} holds NaN or infinite values; allowed: finite numbers")
    if t.numel() and lo is not None and hi is not None:
        low, high = t.min().item(), t.max().item()
        if low < lo or high > hi:
            raise XbarError(f"{where}: tensor {key!r} holds values in [{low}, {high}]; allowed: [{lo}, {hi}]")
    return t
