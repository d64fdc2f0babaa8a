"""CSV cells that a spreadsheet opens as text, never as a formula (CSV injection)."""

from __future__ import annotations

from typing import Any

_FORMULA_START = frozenset("=+-@\t\r")


def cell(value: Any) -> str:
    """The value as a CSV cell; text that starts like a formula gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text and text[0] in _FORMULA_START else text
