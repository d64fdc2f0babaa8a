"""Where to send a person after signing in: only ever a path on this site (SECURITY H1)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def safe_next(target: str | None) -> str | None:
    """The target if it is a same-site relative path, else None.

    It must start with one "/" followed by neither "/" nor "\\", hold no control characters
    (browsers drop tabs and newlines, so "/\\t/evil" would become "//evil"), and carry no
    scheme or host, even once percent-decoded.
    """
    if not target:
        return None
    for candidate in (target, unquote(target)):
        if not candidate.startswith("/") or candidate[1:2] in ("/", "\\"):
            return None
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in candidate) or "\\" in candidate:
            return None
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return None
    return target
