"""The one person search: what `q` matches in the users list, the API's users list, a group's members
and the add-members picker.

A person matches when their email, login, first name or last name starts with the query, in any case;
a query of two words also matches a first name starting with the first word together with a last name
starting with the rest ("ada lov" finds Ada Lovelace, and Adam Lovett: an admin types names as they
come, and a first word cut short is still the first name). Each option is a range that one index
serves (emails and logins are stored lower-cased; the names have lower() indexes), so that a caller
may run them one by one and unite the matches (users.queries does for a narrow search).

The options are built once for each shape of query (one word or two, which ranges are open-ended) with
the ranges' bounds as bound parameters (person_search): a caller that keeps its statements per shape
binds a new query's bounds without building anything (issue 20).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, bindparam, false, func, or_

from portal.models import User

MAX_LENGTH = 100  # longer queries are cut: no name, email or login is that long to type


def clean(q: str | None) -> str:
    """The query as searched and shown again: trimmed and cut to MAX_LENGTH."""
    return (q or "").strip()[:MAX_LENGTH]


def _after(start: str) -> str | None:
    """The first string past every string that starts with `start`, comparing by code point (byte order on
    SQLite, "C" collation on PostgreSQL; see portal.db.searchable); None when there is none (`start` is only
    U+10FFFF: every string from it on starts with it)."""
    kept = start.rstrip("\U0010ffff")  # a last code point with none after it: the one before it goes up
    return kept[:-1] + chr(ord(kept[-1]) + 1) if kept else None


class Shape(NamedTuple):
    """What a query's options are built for: whether it has two words (a fifth option), and which of its ranges
    (the whole term, the first word, the rest) have no upper end (see _after)."""

    two_words: bool
    open_ended: tuple[bool, bool, bool]


class PersonSearch(NamedTuple):
    """A query's options, built once for its shape, and the bounds to bind them with (`q_lo`, `q_hi`, …)."""

    shape: Shape
    options: tuple[ColumnElement[bool], ...]
    params: dict[str, str]


_RANGES = ("q", "given", "family")  # the bound parameters' prefixes: the whole term, the first word, the rest


def person_search(q: str) -> PersonSearch | None:
    """q's options as a constant per shape and the bounds to bind them with; None for an empty query."""
    term = clean(q).lower()
    if not term:
        return None
    given, _, family = term.partition(" ")
    family = family.strip()
    starts = (term, given, family) if family else (term,)
    params: dict[str, str] = {}
    open_ended = [False, False, False]
    for i, (name, start) in enumerate(zip(_RANGES, starts, strict=False)):
        params[f"{name}_lo"] = start
        after = _after(start)
        if after is None:
            open_ended[i] = True
        else:
            params[f"{name}_hi"] = after
    shape = Shape(bool(family), (open_ended[0], open_ended[1], open_ended[2]))
    return PersonSearch(shape, shaped_options(shape), params)


def _prefix(column: Any, name: str, open_ended: bool, values: dict[str, str] | None) -> ColumnElement[bool]:
    """`column` starts with the start bound as `name`_lo: a range an index serves, up to `name`_hi (values: the
    bounds given in the expression; None: bound per call)."""

    def bound(key: str) -> Any:
        return bindparam(key) if values is None else bindparam(key, values[key])

    lower = column >= bound(f"{name}_lo")
    return lower if open_ended else and_(lower, column < bound(f"{name}_hi"))


def _build_options(shape: Shape, values: dict[str, str] | None = None) -> tuple[ColumnElement[bool], ...]:
    whole, given, family = shape.open_ended
    first, last = func.lower(User.first_name), func.lower(User.last_name)
    options = [_prefix(c, "q", whole, values) for c in (User.email, User.login, first, last)]
    if shape.two_words:
        options.append(and_(_prefix(first, "given", given, values), _prefix(last, "family", family, values)))
    return tuple(options)


@lru_cache(maxsize=16)  # one set per shape: SQL expressions are immutable, statements reuse them
def shaped_options(shape: Shape) -> tuple[ColumnElement[bool], ...]:
    """The options of a query of this shape, its bounds bound per call (person_search's params)."""
    return _build_options(shape)


def person_options(q: str) -> tuple[ColumnElement[bool], ...]:
    """The ways a person can match q, each a range one index serves, the bounds in them; none for an empty
    query. (Statements kept per shape take person_search's options and bind its params instead.)"""
    return _options(clean(q).lower())


@lru_cache(maxsize=256)  # SQL expressions are immutable: a page's statements reuse one set (and so do requests)
def _options(term: str) -> tuple[ColumnElement[bool], ...]:
    search = person_search(term)
    return _build_options(search.shape, search.params) if search else ()


def person_matches(q: str) -> ColumnElement[bool]:
    """A user matching q (see the module's docstring), as one condition; nobody for an empty query."""
    options = person_options(q)
    return or_(*options) if options else false()
