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

A caller that checks every row instead, walking another index (users.queries for a broad search), asks for the
walk's options: on SQLite each name is first tested against byte-order ranges, which turn away most names without
the lower() call that was most of the walk's time (issue 20). SQLite's lower() folds ASCII letters only, so a name
it makes start with the query begins with the query's first character or that letter's capital, each of the rest
the query's own or its capital (_byte_ranges). PostgreSQL's lower() folds other letters too (the Kelvin sign,
U+212A, becomes "k" and sorts after "z"), so no such range holds every match there: its walk keeps the plain options.
The index ranges keep them on either database: they call no lower() (the lower() indexes hold its value), and an
extra range could only tempt SQLite's planner away from those indexes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Boolean, ColumnElement, and_, bindparam, false, func, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import Grouping
from sqlalchemy.sql.visitors import InternalTraversal

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


_CAPITALS = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


def _capitals(start: str) -> str:
    """start with its ASCII letters in upper case: the least string SQLite's lower() turns into it."""
    return start.translate(_CAPITALS)


class Shape(NamedTuple):
    """What a query's options are built for: whether it has two words (a fifth option), and which of its ranges
    (the whole term, the first word, the rest) have no upper end (see _after)."""

    two_words: bool
    open_ended: tuple[bool, bool, bool]


class PersonSearch(NamedTuple):
    """A query's options, built once for its shape, and the bounds to bind them with (`q_lo`, `q_hi`, …, and the
    walk's byte ranges: `q_caps`, `q_caps_hi`, `q_small`, …)."""

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
        params[f"{name}_caps"] = _capitals(start)  # the walk's byte ranges (_byte_ranges)
        params[f"{name}_small"] = start[0] + _capitals(start[1:])
        after = _after(start)
        if after is None:  # start is U+10FFFF only: no letter, one range with no end
            open_ended[i] = True
        else:
            params[f"{name}_hi"] = after
            params[f"{name}_caps_hi"] = _after(_capitals(start[0]) + start[1:]) or after  # None only as above
    shape = Shape(bool(family), (open_ended[0], open_ended[1], open_ended[2]))
    return PersonSearch(shape, shaped_options(shape), params)


def _bound(key: str, values: dict[str, str] | None) -> Any:
    """A bound: given in the expression (values), or bound per call (None)."""
    return bindparam(key) if values is None else bindparam(key, values[key])


def _prefix(column: Any, name: str, open_ended: bool, values: dict[str, str] | None) -> ColumnElement[bool]:
    """`column` starts with the start bound as `name`_lo: a range an index serves, up to `name`_hi (values: the
    bounds given in the expression; None: bound per call)."""
    lower = column >= _bound(f"{name}_lo", values)
    return lower if open_ended else and_(lower, column < _bound(f"{name}_hi", values))


def _byte_ranges(column: Any, name: str, open_ended: bool, values: dict[str, str] | None) -> ColumnElement[bool]:
    """Byte-order ranges holding every value that SQLite's lower() makes start with the start bound as `name`_lo:
    each character of such a value is the start's, or the capital of an ASCII letter of it, and no capital sorts
    after its letter. So the value is at least the start with those letters capitalised (`name`_caps) and before
    the end of the start's own range (`name`_hi); and, its first character the capital or the character itself,
    it is before the first string past the start with only that capital (`name`_caps_hi) or at least the start
    with all but its first character capitalised (`name`_small). The outer range first: one comparison turns
    away most values below it."""
    if open_ended:  # U+10FFFF only: no letter to capitalise, no end
        return column >= _bound(f"{name}_caps", values)  # type: ignore[no-any-return]
    first_character = or_(column < _bound(f"{name}_caps_hi", values), column >= _bound(f"{name}_small", values))
    return and_(column >= _bound(f"{name}_caps", values), column < _bound(f"{name}_hi", values), first_character)


class _SQLiteFirst(ColumnElement[bool]):
    """`condition`, and on SQLite `first` before it: a cheaper test that every row meeting the condition passes."""

    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy's own attribute: what the statement cache's key holds)
        ("first", InternalTraversal.dp_clauseelement),
        ("condition", InternalTraversal.dp_clauseelement),
    ]
    type = Boolean()

    def __init__(self, first: ColumnElement[bool], condition: ColumnElement[bool]) -> None:
        self.first = first
        self.condition = condition

    def self_group(self, against: Any = None) -> ColumnElement[Any]:
        # Either way it compiles as terms joined by AND: no parentheses needed within AND or OR.
        return self if against in (None, operators.and_, operators.or_) else Grouping(self)


@compiles(_SQLiteFirst)
def _condition_only(element: _SQLiteFirst, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.condition, **kw))


@compiles(_SQLiteFirst, "sqlite")
def _first_then_condition(element: _SQLiteFirst, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(and_(element.first, element.condition), **kw))


def _build_options(
    shape: Shape, values: dict[str, str] | None = None, walk: bool = False
) -> tuple[ColumnElement[bool], ...]:
    whole, given, family = shape.open_ended

    def name_starts(column: Any, name: str, open_ended: bool) -> ColumnElement[bool]:
        lowered = _prefix(func.lower(column), name, open_ended, values)
        return _SQLiteFirst(_byte_ranges(column, name, open_ended, values), lowered) if walk else lowered

    options = [_prefix(c, "q", whole, values) for c in (User.email, User.login)]
    options += [name_starts(c, "q", whole) for c in (User.first_name, User.last_name)]
    if shape.two_words:
        options.append(
            and_(name_starts(User.first_name, "given", given), name_starts(User.last_name, "family", family))
        )
    return tuple(options)


@lru_cache(maxsize=32)  # one set per shape: SQL expressions are immutable, statements reuse them
def shaped_options(shape: Shape, walk: bool = False) -> tuple[ColumnElement[bool], ...]:
    """The options of a query of this shape, its bounds bound per call (person_search's params), each a range one
    index serves; walk: for a walk of another index, checking every row (see the module's docstring)."""
    return _build_options(shape, walk=walk)


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
