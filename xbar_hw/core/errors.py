"""User-facing errors: one line that names the field, the value and what is allowed."""

from __future__ import annotations

import reprlib

#: a value in a message is cut to this many characters; its repr is bounded before that
#: (depth, items, string length), so a huge or self-referencing value costs nothing
VALUE_CHARS = 240
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset = 2, 4, 6, 6, 6
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 230, 40, 40


class XbarError(ValueError):
    """A mistake in user input (design file, CLI argument, Program, data folder).

    The CLI prints ``error: <message>`` and exits with status 2, without a traceback.
    """


def short(value) -> str:
    """A bounded repr of ``value`` for a one-line message (at most VALUE_CHARS characters)."""
    text = _REPR.repr(value).replace("\n", " ")
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 3] + "..."


def field_error(field: str, value, allowed: str) -> XbarError:
    """Build the standard one-line message: ``field: got VALUE; allowed: ALLOWED``."""
    return XbarError(f"{field}: got {short(value)}; allowed: {allowed}")
