"""The one person search: what `q` matches in the users list, the API's users list, a group's members
and the add-members picker.

A person matches when their email, login, first name or last name starts with the query, in any case;
a query of two words also matches a first name starting with the first word together with a last name
starting with the rest ("ada lov" finds Ada Lovelace, and Adam Lovett: an admin types names as they
come, and a first word cut short is still the first name). Each option is a range that one index
serves (emails and logins are stored lower-cased; the names have lower() indexes), so that a caller
may run them one by one and unite the matches (users.queries does for a narrow search).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_

from portal.models import User

MAX_LENGTH = 100  # longer queries are cut: no name, email or login is that long to type


def clean(q: str | None) -> str:
    """The query as searched and shown again: trimmed and cut to MAX_LENGTH."""
    return (q or "").strip()[:MAX_LENGTH]


def prefix(column: Any, start: str) -> ColumnElement[bool]:
    """`column` starts with `start`, as a range an index serves (columns compare by code point: byte
    order on SQLite, "C" collation on PostgreSQL; see portal.db.searchable)."""
    last = ord(start[-1])
    if last >= 0x10FFFF:  # no code point after it to end the range
        return column.startswith(start, autoescape=True)  # type: ignore[no-any-return]
    return and_(column >= start, column < start[:-1] + chr(last + 1))


def person_options(q: str) -> tuple[ColumnElement[bool], ...]:
    """The ways a person can match q, each a range one index serves; none for an empty query."""
    return _options(clean(q).lower())


@lru_cache(maxsize=256)  # SQL expressions are immutable: a page's statements reuse one set (and so do requests)
def _options(term: str) -> tuple[ColumnElement[bool], ...]:
    if not term:
        return ()
    first, last = func.lower(User.first_name), func.lower(User.last_name)
    options = [prefix(User.email, term), prefix(User.login, term), prefix(first, term), prefix(last, term)]
    given, _, family = term.partition(" ")
    family = family.strip()
    if family:
        options.append(and_(prefix(first, given), prefix(last, family)))
    return tuple(options)


def person_matches(q: str) -> ColumnElement[bool]:
    """A user matching q (see the module's docstring), as one condition; nobody for an empty query."""
    options = person_options(q)
    return or_(*options) if options else false()
