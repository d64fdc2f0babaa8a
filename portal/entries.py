"""Boxes of text that hold several entries (addresses, logins, ids, domains): the one way to split them."""

from __future__ import annotations

import re

# What separates entries: commas, semicolons, spaces and new lines, any number of them.
SEPARATORS = re.compile(r"[\s,;]+")


def split_entries(*texts: str | None) -> list[str]:
    """The entries of the texts, each once (the first time it comes), in the order given; empty ones are none.

    Several texts are read as one list (a picker's ticked boxes and a typed box, say). Case is kept: callers
    that compare without regard to case lower-case the text first."""
    entries = (entry for text in texts for entry in SEPARATORS.split(text or ""))
    return list(dict.fromkeys(entry for entry in entries if entry))
