"""The schema of design blocks: field metadata (kind, range) and the validation of a
mapping read from YAML into a frozen dataclass block, one line per mistake naming the
field, the value and what is allowed."""

from __future__ import annotations

import math
from dataclasses import MISSING, fields, is_dataclass

from .errors import XbarError, field_error

MAX_NAME = 200  # characters of a name (design name): a label, not a document


def int_field(lo: int, hi: int):
    return {"kind": "int", "lo": lo, "hi": hi}


def float_field(lo: float, hi: float = math.inf, lo_open: bool = True):
    return {"kind": "float", "lo": lo, "hi": hi, "lo_open": lo_open}


def choice_field(*options):
    return {"kind": "choice", "options": options}


def check_value(path: str, value, meta: dict):
    kind = meta.get("kind")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise field_error(path, value, f"an integer in [{meta['lo']}, {meta['hi']}]")
        if not meta["lo"] <= value <= meta["hi"]:
            raise field_error(path, value, f"an integer in [{meta['lo']}, {meta['hi']}]")
        return value
    if kind == "float":
        desc = f"a finite number > {meta['lo']}" if meta["lo_open"] else f"a finite number >= {meta['lo']}"
        if math.isfinite(meta["hi"]):
            desc = f"a finite number in {'(' if meta['lo_open'] else '['}{meta['lo']}, {meta['hi']}]"
        if isinstance(value, str):
            # PyYAML (YAML 1.1) reads 1.0e7 without a sign in the exponent as a string.
            try:
                value = float(value)
            except ValueError:
                raise field_error(path, value, desc) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise field_error(path, value, desc)
        value = float(value)
        ok = math.isfinite(value) and (value > meta["lo"] if meta["lo_open"] else value >= meta["lo"])
        if not ok or value > meta["hi"]:
            raise field_error(path, value, desc)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise field_error(path, value, "true or false")
        return value
    if kind == "path":
        if value is not None and (not isinstance(value, str) or not value):
            raise field_error(path, value, "a file path or null")
        return value
    if kind == "str":  # names: shown in every report and message, part of generated file names
        if (not isinstance(value, str) or not value or len(value) > MAX_NAME
                or any(not ch.isprintable() for ch in value)):
            raise field_error(path, value, f"a non-empty printable string of at most {MAX_NAME} characters")
        return value
    if kind == "choice":
        if value not in meta["options"]:
            raise field_error(path, value, "one of " + ", ".join(map(str, meta["options"])))
        return value
    if kind == "shift":
        if value in ("auto", "calibrated"):
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 62:
            raise field_error(path, value, "'auto', 'calibrated' or an integer in [0, 62]")
        return value
    if kind == "auto_int":
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not meta["lo"] <= value <= meta["hi"]:
            raise field_error(path, value, f"'auto' or an integer in [{meta['lo']}, {meta['hi']}]")
        return value
    if kind == "technology":
        if value in meta["options"] or (isinstance(value, str) and value.endswith((".yaml", ".yml"))):
            return value
        raise field_error(path, value, "one of " + ", ".join(meta["options"]) + ", or a path to a .yaml technology table")
    if kind == "numbers":
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
            for k, v in value.items()
        ):
            raise field_error(path, value, "a mapping of table entries (section.entry) to numbers >= 0")
        return dict(value)
    if kind == "intlist":
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and meta["lo"] <= v <= meta["hi"] for v in value
        ):
            raise field_error(path, value, f"a list of integers in [{meta['lo']}, {meta['hi']}]")
        return tuple(value)
    raise AssertionError(f"unknown schema kind {kind!r}")  # programming error, not user error


def build_block(cls, data, path: str):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise field_error(path or "design", data, "a mapping of keys")
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            allowed = ", ".join(known) if known else "no keys yet (this block is not implemented)"
            raise XbarError(f"{f'{path}.{key}' if path else key}: unknown key; allowed: {allowed}")
    kwargs = {}
    for name, f in known.items():
        sub = f"{path}.{name}" if path else name
        ftype = f.default_factory if f.default_factory is not MISSING else None
        if ftype is not None and is_dataclass(ftype):
            kwargs[name] = build_block(ftype, data.get(name), sub)
        elif name in data:
            kwargs[name] = check_value(sub, data[name], f.metadata)
    return cls(**kwargs)
