"""User-facing errors: one line that names the field, the value and what is allowed."""

from __future__ import annotations


class XbarError(ValueError):
    """A mistake in user input (design file, CLI argument, Program, data folder).

    The CLI prints ``error: <message>`` and exits with status 2, without a traceback.
    """


def field_error(field: str, value, allowed: str) -> XbarError:
    """Build the standard one-line message: ``field: got VALUE; allowed: ALLOWED``."""
    return XbarError(f"{field}: got {value!r}; allowed: {allowed}")
