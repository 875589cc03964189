"""Reading a YAML file a user hands the tool (designs, technology tables, sweep files):
bounded before parsing (size, bracket nesting) and after (depth, nodes with aliases
expanded), ``yaml.safe_load`` only, every failure one line naming the file."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import XbarError, field_error

MAX_BYTES = 1 << 17  # 128 KiB: a design or a table is a few kB (the largest shipped, 11 kB); PyYAML
                     # parses about 0.3 MB/s, so this bounds any file's parse to well under a second
MAX_DEPTH = 32       # nesting of mappings and lists
MAX_NODES = 100_000  # values, counting every expansion of an alias


def flow_depth(text: str) -> int:
    """The deepest nesting of flow brackets ([ and {) outside quotes: a cheap bound checked
    before the (recursive) parser sees the text."""
    depth = most = 0
    quote = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
            most = max(most, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
        elif ch == "\n":
            quote = None
    return most


def check_size(value, where: str) -> None:
    """Raise unless ``value`` nests at most MAX_DEPTH deep with at most MAX_NODES values,
    aliases counted each time they are used (a YAML 'billion laughs' stops at the budget)."""
    budget = MAX_NODES
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise XbarError(f"{where}: more than {MAX_NODES} values (aliases expanded); allowed: a small YAML file")
        if isinstance(v, (dict, list)):
            if depth > MAX_DEPTH:
                raise XbarError(f"{where}: nested deeper than {MAX_DEPTH} levels; allowed: at most {MAX_DEPTH}")
            items = list(v.keys()) + list(v.values()) if isinstance(v, dict) else v
            stack.extend((c, depth + 1) for c in items)


def load_yaml(path: str | Path, what: str):
    """The value of YAML file ``path`` (a ``what``: design, technology table, sweep ...)."""
    p = Path(path)
    if not p.is_file():
        raise field_error(what, str(path), f"a path to an existing YAML {what} file")
    if p.stat().st_size > MAX_BYTES:
        raise XbarError(f"{what}: {p} has {p.stat().st_size} bytes; allowed: at most {MAX_BYTES}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise XbarError(f"{what}: {p} is not a UTF-8 text file; allowed: a YAML {what} file") from None
    except OSError as exc:
        raise XbarError(f"{what}: {p} cannot be read ({exc.strerror}); allowed: a readable YAML file") from None
    if "\x00" in text:
        raise XbarError(f"{what}: {p} is a binary file; allowed: a YAML {what} file")
    if flow_depth(text) > MAX_DEPTH:
        raise XbarError(f"{what}: {p} nests brackets deeper than {MAX_DEPTH} levels; allowed: at most {MAX_DEPTH}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0][:120]
        raise XbarError(f"{what}: {p} is not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise XbarError(f"{what}: {p} nests too deep for the YAML parser; allowed: at most {MAX_DEPTH} levels") from None
    check_size(data, f"{what} {p}")
    return data
