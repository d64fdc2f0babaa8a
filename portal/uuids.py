"""Ids typed by people and programs: the one reading of text as a UUID.

Any spelling `uuid.UUID` reads counts (with or without dashes, braces or a `urn:uuid:` prefix); anything
else is "not an id", which callers turn into their own answer (a 404, a form error, a filter that matches
nothing) — never a 500.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable


def parse_uuid(value: object) -> uuid.UUID | None:
    """The value as a UUID, or None when it is not one (not text, or text that is no UUID)."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def to_uuid(value: object) -> uuid.UUID:
    """The value as a UUID; a ValueError when it is not one (what a WTForms `coerce` raises)."""
    parsed = parse_uuid(value)
    if parsed is None:
        raise ValueError(f"not an id: {str(value)[:40]!r}")
    return parsed


def parse_uuids(values: Iterable[object]) -> list[uuid.UUID]:
    """The well-formed ids among the values, in order (a malformed one names nothing, so is left out)."""
    return [parsed for parsed in map(parse_uuid, values) if parsed is not None]


def is_uuid_text(value: object) -> bool:
    """Whether the value is a UUID written the usual way (36 characters, with dashes), as stored in JSON."""
    return isinstance(value, str) and len(value) == 36 and parse_uuid(value) is not None
