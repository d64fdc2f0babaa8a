"""Read side of users: the owner, the filtered and paged list, one user, the CSV rows."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    tuple_,
    type_coerce,
    union,
    union_all,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import Integer, TypeDecorator, Uuid

from portal import db
from portal.db import utcnow
from portal.errors import NotFound
from portal.models import (
    AccountUserCount,
    Group,
    GroupMember,
    Role,
    RoleAssignment,
    User,
    UserStatus,
)
from portal.models.role import in_force
from portal.models.user import full_name_of
from portal.pagination import COUNT_CAP, END, Page, decode_cursor, encode_cursor, utc_datetime
from portal.roles import policy
from portal.search import Shape, clean, person_search, shaped_options
from portal.templating import until_day
from portal.uuids import parse_uuid


@dataclass(frozen=True)
class Sort:
    """A sort order of the list: its columns (the last one unique) and its direction.

    tail: which rows come after all the others, in either direction: "null" (the first column is NULL:
    never signed in) or "empty" (the first column is '': an invitee who has not given a name yet)."""

    label: str
    columns: tuple[InstrumentedAttribute[Any], ...]
    converters: tuple[Callable[[str], Any], ...]
    descending: bool
    tail: str | None = None

    def in_tail(self) -> ColumnElement[bool]:
        """The rows that come last."""
        column = self.columns[0]
        return column.is_(None) if self.tail == "null" else column == ""

    def before_tail(self) -> ColumnElement[bool]:
        """The other rows, as a range an index serves."""
        column = self.columns[0]
        return column.is_not(None) if self.tail == "null" else column > ""

    def key_in_tail(self, key: Sequence[Any]) -> bool:
        """Whether a cursor's key is one of the tail's rows."""
        return key[0] is None if self.tail == "null" else key[0] == ""


SORTS: dict[str, Sort] = {
    "name": Sort("Name", (User.first_name, User.last_name, User.id), (str, str, uuid.UUID), False, tail="empty"),
    "email": Sort("Email", (User.email,), (str,), False),
    "created": Sort("Created", (User.created_at, User.id), (utc_datetime, uuid.UUID), True),
    "last_sign_in": Sort("Last sign-in", (User.last_login_at, User.id), (utc_datetime, uuid.UUID), True, tail="null"),
}
DIRECTIONS = ("asc", "desc")
MFA_STATES = ("on", "off")
STATUSES = [s.value for s in UserStatus]


@dataclass(frozen=True)
class UserFilter:
    """What the list is narrowed to; parsed from the query string, invalid values ignored."""

    q: str = ""
    status: str = ""
    role_id: uuid.UUID | None = None
    dormant_days: int | None = None
    sort: str = "name"
    direction: str = ""  # "asc" or "desc"; empty: the sort's own direction
    mfa: str = ""  # "on" or "off"
    expiring_days: int | None = None  # a role grant or group membership ends within this many days

    @classmethod
    def from_args(cls, args: Any) -> UserFilter:
        status = args.get("status", "")
        sort = args.get("sort", "name")
        direction = args.get("dir", "")
        mfa = args.get("mfa", "")
        role_id = parse_uuid(args.get("role", ""))
        try:
            dormant = int(args.get("dormant", "")) if args.get("dormant") else None
        except ValueError:
            dormant = None
        try:
            expiring = int(args.get("expiring", "")) if args.get("expiring") else None
        except ValueError:
            expiring = None
        return cls(
            expiring_days=expiring if expiring and 0 < expiring <= 3650 else None,
            q=clean(args.get("q")),
            status=status if status in STATUSES else "",
            role_id=role_id,
            dormant_days=dormant if dormant and 0 < dormant <= 3650 else None,
            sort=sort if sort in SORTS else "name",
            direction=direction if direction in DIRECTIONS else "",
            mfa=mfa if mfa in MFA_STATES else "",
        )

    @property
    def narrows_beyond_status(self) -> bool:
        return bool(self.q or self.role_id or self.dormant_days or self.mfa or self.expiring_days)

    @property
    def narrows(self) -> bool:
        """Whether any filter is set (the list then says "No users match")."""
        return bool(self.status or self.narrows_beyond_status)

    @property
    def order(self) -> Sort:
        """The sort, turned round when the direction asked for is not its own."""
        sort = SORTS[self.sort]
        if self.direction and (self.direction == "desc") != sort.descending:
            return replace(sort, descending=not sort.descending)
        return sort

    @property
    def is_descending(self) -> bool:
        return self.order.descending


class _Shape(NamedTuple):
    """What a filter's statements are built for, and kept by: its search's shape (portal.search.Shape; None
    without one), whether it narrows by status, its MFA state. The account, the search's bounds and the status
    are bound per call (_filtered's params)."""

    search: Shape | None = None
    by_status: bool = False
    mfa: str = ""


def _account() -> Any:
    return bindparam("account_id")  # the account: bound per call, in every statement kept here


def _search(options: tuple[ColumnElement[bool], ...]) -> Any:
    """The matches as a subquery to join: one indexed range scan per option, united (a single WHERE
    with OR, or an IN over the union, makes SQLite walk the whole account in sort order instead)."""
    ranges = [select(User.id).where(User.account_id == _account(), option) for option in options]
    return union(*ranges).subquery("matches")


# A search either joins its matches, counts and sorts them (cost grows with the matches, twice) or
# walks the sort's own index and keeps the rows that match (cost grows with the rows walked for a
# page: take × users ÷ matches). They cost about the same at √(take × users ÷ 2) matches (measured at
# 1M users on SQLite: 2,200 email and login matches cost 8 ms joined, 42 ms walked; 2,500 last names
# 41 ms joined, 29 ms walked; 22,000 matches 92 ms joined, 7 ms walked); a search is "broad" past that.
# Those figures predate migration 7f3a9c2e5b1d, since which the name order's index holds what a search
# reads: the walk reads no table row for the entries it passes over, so walking is cheaper than measured
# there and the break-even lower; the steps are kept until measured again on a quiet machine.
BROAD_STEPS = (500, 1_000, 2_000, 5_000, 10_000)


def broad_threshold(account_id: Any, rows_wanted: int, steps: tuple[int, ...]) -> ColumnElement[int]:
    """The step (of BROAD_STEPS) nearest √(users × (rows_wanted + 1) ÷ 2), in SQL from the trigger-kept counts
    (so that it costs no statement of its own): users × (rows_wanted + 1) ÷ 2 ≥ k² is users ≥ ⌈2k² ÷
    (rows_wanted + 1)⌉, k the first whole number nearer the higher of two steps (a tie goes to the lower).
    account_id: the account's id, or a bound parameter standing for it."""
    users = _account_size_of(account_id).scalar_subquery()
    whens = []
    for low, high in reversed(list(zip(steps, steps[1:], strict=False))):
        k = (low + high) // 2 + 1
        whens.append((users >= -(-2 * k * k // (rows_wanted + 1)), high))
    return case(*whens, else_=steps[0]) if whens else literal(steps[0])


def _past(option: ColumnElement[bool], threshold: ColumnElement[int]) -> ColumnElement[bool]:
    """Whether the option matches more than threshold users: whether it has a match past the first threshold,
    reading at most threshold + 1 index entries (skipped by OFFSET, not counted: a third cheaper on SQLite)."""
    return exists(select(literal(1)).where(User.account_id == _account(), option).offset(threshold).limit(1))


BROAD = -1  # what _plan reads back for a broad search


def _plan(account_id: uuid.UUID, f: UserFilter, rows_wanted: int, count: bool) -> tuple[int, int]:
    """The search's threshold (broad_threshold), and BROAD when any one search option matches more users than
    that; else, when count is set, the filter's matches counted up to COUNT_CAP + 1 (else 0). One statement:
    the options are probed in turn and the first that passes the threshold ends it (CASE stops there; the
    count is never run then)."""
    base = _filtered(account_id, f)
    if base.kept:
        statement = _kept_plan(base.shape, rows_wanted, count, BROAD_STEPS)
    else:
        statement = _plan_statement(base.shape, rows_wanted, count, BROAD_STEPS, base.statement)
    row = db.session.execute(statement, base.params).one()
    return int(row[0]), int(row[1] or 0)


# A search's statements take several times the list's Python work to build (four or five index ranges, their
# union, the probes): those that do not depend on the time now are built once for each shape (_Shape: the query's
# bounds, the account and the status bound per call) and kept, like the unfiltered list's (issue 20).
SEARCH_STATEMENTS_KEPT = 256


def _at_now(f: UserFilter) -> bool:
    """Whether the filter's conditions depend on the time now (its statements are then built each time)."""
    return bool(f.dormant_days or f.expiring_days or f.role_id)


def _plan_statement(
    shape: _Shape, rows_wanted: int, count: bool, steps: tuple[int, ...], counted_from: Select[tuple[User]]
) -> Select[Any]:
    """_plan's statement; counted_from: the filter's statement (joined, not walked) whose matches it counts."""
    # Worked out once (a common table expression), read by each probe.
    once = select(broad_threshold(_account(), rows_wanted, steps).label("n")).cte("threshold")
    threshold: ColumnElement[int] = select(once.c.n).scalar_subquery()
    counted: Any = literal(0)
    if count:
        capped = counted_from.with_only_columns(User.id).limit(COUNT_CAP + 1).subquery()
        counted = select(func.count()).select_from(capped).scalar_subquery()
    options = shaped_options(shape.search) if shape.search else ()
    verdict = case(*((_past(option, threshold), BROAD) for option in options), else_=counted)
    return select(threshold, verdict)


@lru_cache(maxsize=SEARCH_STATEMENTS_KEPT)
def _kept_plan(shape: _Shape, rows_wanted: int, count: bool, steps: tuple[int, ...]) -> Select[Any]:
    return _plan_statement(shape, rows_wanted, count, steps, _kept_filtered(shape, False))


class _Base(NamedTuple):
    """What a page is read from: the filter's statement, its parameters (the account, the search's bounds, the
    status), its shape, and whether it is one of the kept ones (its reads then kept too: _kept_reads)."""

    statement: Select[tuple[User]]
    params: dict[str, Any]
    shape: _Shape = _Shape()
    kept: bool = False


def _filtered(account_id: uuid.UUID, f: UserFilter, broad: bool = False) -> _Base:
    """The account's users (owner aside) that the filter matches, unordered; broad: a search as a condition on
    each row (for a walk of the sort's index), else as the union of its index ranges joined. Built once for
    each shape and bound per call, unless the filter depends on the time now."""
    search = person_search(f.q)
    shape = _Shape(search.shape if search else None, bool(f.status), f.mfa)
    params: dict[str, Any] = {"account_id": account_id}
    if search:
        params.update(search.params)
    if f.status:
        params["status"] = f.status
    if _at_now(f):
        return _Base(_build_filtered(shape, broad, f), params, shape)
    return _Base(_kept_filtered(shape, broad), params, shape, kept=True)


def _build_filtered(shape: _Shape, broad: bool = False, f: UserFilter | None = None) -> Select[tuple[User]]:
    """_filtered's statement for the shape; f: the filter's conditions on the time now (role, expiring, dormant)."""
    options = shaped_options(shape.search, walk=broad) if shape.search else ()
    statement = select(User)
    if options and not broad:  # the matches drive the query: a few index ranges, then their rows by primary key
        matches = _search(options)
        statement = statement.join(matches, matches.c.id == User.id)
    statement = statement.where(User.account_id == _account(), User.is_owner.is_(False))
    if options and broad:  # the sort's index drives the query; rows that do not match are skipped (the walk's options)
        statement = statement.where(or_(*options))
    if shape.by_status:
        statement = statement.where(User.status == bindparam("status"))
    if shape.mfa == "on":
        statement = statement.where(User.mfa_enabled.is_(True))
    elif shape.mfa == "off":  # who still has to set it up: an invitee cannot yet
        statement = statement.where(User.mfa_enabled.is_(False), User.status != UserStatus.PENDING.value)
    if f is None:
        return statement
    if f.role_id:  # held now: a grant whose end has passed counts for nothing, swept or not (in_force)
        statement = statement.where(
            User.id.in_(
                select(RoleAssignment.user_id).where(
                    RoleAssignment.role_id == f.role_id, in_force(RoleAssignment.expires_at, utcnow())
                )
            )
        )
    if f.expiring_days:
        now = utcnow()
        until = now + timedelta(days=f.expiring_days)
        statement = statement.where(
            User.id.in_(
                union(
                    select(RoleAssignment.user_id).where(
                        RoleAssignment.expires_at > now, RoleAssignment.expires_at <= until
                    ),
                    select(GroupMember.user_id).where(GroupMember.expires_at > now, GroupMember.expires_at <= until),
                )
            )
        )
    if f.dormant_days:
        cutoff = utcnow() - timedelta(days=f.dormant_days)
        statement = statement.where(
            User.status != UserStatus.PENDING.value,
            or_(User.last_login_at < cutoff, and_(User.last_login_at.is_(None), User.created_at < cutoff)),
        )
    return statement


# The filters that do not depend on the time now (the list unfiltered, by status, a search, MFA): built once for
# each shape and bound per call, so that the reads of their pages are built once too (_kept_reads).
@lru_cache(maxsize=SEARCH_STATEMENTS_KEPT)
def _kept_filtered(shape: _Shape, broad: bool) -> Select[tuple[User]]:
    return _build_filtered(shape, broad)


def _capped_count(base: _Base, at_most: int) -> int:
    """How many rows the base has, counted up to at_most + 1."""
    build = _kept_count if base.kept else _count_statement
    return int(db.session.scalar(build(base.statement), {**base.params, "cap": at_most + 1}) or 0)


def _count_statement(statement: Select[tuple[User]]) -> Select[Any]:
    capped = statement.with_only_columns(User.id).limit(bindparam("cap", type_=Integer())).subquery()
    return select(func.count()).select_from(capped)


_kept_count = lru_cache(maxsize=64)(_count_statement)


def _account_size_of(account_id: uuid.UUID, status: str = "") -> Select[Any]:
    statement = select(func.coalesce(func.sum(AccountUserCount.n), 0)).where(AccountUserCount.account_id == account_id)
    return statement.where(AccountUserCount.status == status) if status else statement


# The same two statements, built once and bound per call: the unfiltered list counts on every load (issue 20).
_SIZE = select(func.coalesce(func.sum(AccountUserCount.n), 0)).where(
    AccountUserCount.account_id == bindparam("account_id")
)
_SIZE_BY_STATUS = _SIZE.where(AccountUserCount.status == bindparam("status"))


def _account_size(account_id: uuid.UUID, status: str = "") -> int:
    """How many users the account has (owner aside), from the trigger-kept counts: no scan."""
    statement, params = (_SIZE_BY_STATUS, {"status": status}) if status else (_SIZE, {})
    return int(db.session.scalar(statement, {"account_id": account_id, **params}) or 0)


def account_total(account_id: uuid.UUID) -> int:
    """Every user of the account, the owner included (the trigger-kept counts leave the owner out): no scan."""
    return _account_size(account_id) + 1


@dataclass(frozen=True)
class Counted:
    """A filter's row count (exact, or a lower bound when capped) and how its search is best run."""

    total: int
    capped: bool = False
    broad: bool = False


def _broad_past(account_id: uuid.UUID, f: UserFilter, rows_wanted: int) -> int | None:
    """The threshold the filter's search is broad past (see BROAD_STEPS); None when it is narrow or
    there is no search."""
    if not f.q:
        return None
    threshold, verdict = _plan(account_id, f, rows_wanted, count=False)
    return threshold if verdict == BROAD else None


def _count(account_id: uuid.UUID, f: UserFilter, rows_wanted: int) -> Counted:
    """The row count: exact and free from the trigger-kept counts, or counted up to COUNT_CAP; a
    broad search alone is not counted past its threshold (counting it would cost what sorting does).
    A search is probed and, when narrow, counted in one statement."""
    if not f.narrows_beyond_status:
        return Counted(_account_size(account_id, f.status))
    n: int | None = None
    if f.q:
        threshold, n = _plan(account_id, f, rows_wanted, count=True)
        if n == BROAD and not (f.status or f.role_id or f.dormant_days or f.expiring_days):
            return Counted(threshold, capped=True, broad=True)
    broad = n == BROAD
    if n is None or broad:
        n = _capped_count(_filtered(account_id, f), COUNT_CAP)
    return Counted(min(n, COUNT_CAP), n > COUNT_CAP, broad=broad)


def _ordered(statement: Select[tuple[User]], sort: Sort, forward: bool, tail: bool = False) -> Select[tuple[User]]:
    """Ordered by the sort, forward or backward; with tail=True the sort's tail goes last in its order
    (only the offset path needs it: the keyset paths keep the tail and the other rows apart)."""
    descending = sort.descending == forward
    clauses: list[Any] = [c.desc() if descending else c.asc() for c in sort.columns]
    if tail and sort.tail:
        last = case((sort.in_tail(), 1), else_=0)
        clauses.insert(0, last.asc() if forward else last.desc())
    return statement.order_by(*clauses)


def _beyond(columns: Sequence[InstrumentedAttribute[Any]], ascending: bool) -> ColumnElement[bool]:
    """The rows after (ascending) or before the cursor's key, its values bound per call (_key_values)."""
    row = tuple_(*columns)
    bound = tuple_(*(bindparam(f"key_{c.key}", type_=c.type) for c in columns))
    return row > bound if ascending else row < bound


def _key_values(sort: Sort, key: Sequence[Any]) -> dict[str, Any]:
    """A cursor's key as the parameters _beyond binds."""
    return {f"key_{c.key}": v for c, v in zip(sort.columns, key, strict=True)}


@dataclass(frozen=True)
class Where:
    """Where a page starts in the list: after or before a cursor's key (keyset), or at the n-th row (`from` alone)."""

    key: tuple[Any, ...] | None = None
    skip: int = 0  # with no key: the index of the first row read


def _head(sort: Sort, condition: ColumnElement[bool] | None, ascending: bool) -> ColumnElement[bool]:
    """The rows before the tail within a key range; the tail's own bound only where the range leaves tail rows in
    (an empty name sorts below every other, NULL compares with nothing): two bounds on the index's first column
    make SQLite walk from the tail's edge instead of seeking the key."""
    if condition is None:
        return sort.before_tail()
    return and_(sort.before_tail(), condition) if sort.tail == "empty" and not ascending else condition


_LIMIT = bindparam("limit", type_=Integer())  # the rows a read returns, bound per call
_SKIP = bindparam("skip", type_=Integer())  # `from`: the index of the first row read, bound per call


def _nth_key(statement: Select[tuple[User]], sort: Sort) -> Any:
    """The sort key of the statement's n-th row (0-based, `skip`), forward: an OFFSET over the sort's index, reading
    only index entries where the index holds the filter's columns (migration 4906e5f20d5c), as a subquery."""
    keys = _ordered(statement, sort, True).with_only_columns(*sort.columns)
    return keys.offset(_SKIP).limit(1).scalar_subquery()


def _from_nth(rows: Select[tuple[User]], sort: Sort) -> ColumnElement[bool]:
    """The rows from the n-th of `rows` (0-based, forward, `skip`) on: a keyset range from that row's key."""
    bound = _nth_key(rows, sort)
    row = tuple_(*sort.columns)
    condition: ColumnElement[bool] = row <= bound if sort.descending else row >= bound
    return condition


class _Reads(NamedTuple):
    """A page's statements, bound per call (the base's own parameters, `limit`, `skip`, the key's values): the
    first read; the one after it, when the first falls short; and that one when `from` is past the first's rows."""

    first: Select[Any]
    then: Select[Any] | None = None
    then_past_first: Select[Any] | None = None


def _reads(
    statement: Select[tuple[User]],
    sort: Sort,
    forward: bool,
    columns: tuple[Any, ...],
    start: str,
    walk: bool,
    sorted_matches: bool,
) -> _Reads:
    """The statements _fetch reads a page with, from its start: "" (the first row), "key" (after or before a
    key), "key_in_tail" (a key in the sort's tail) or "skip" (row `skip`); see _fetch for walk and sorted_matches."""
    keyed, in_tail, skip = start.startswith("key"), start == "key_in_tail", start == "skip"
    descending = sort.descending == forward
    ascending = not descending

    def rows(select_: Select[tuple[User]]) -> Select[Any]:
        if walk:
            keys = select_.with_only_columns(User.id, *(c for c in sort.columns if c is not User.id)).limit(_LIMIT)
            chosen = keys.subquery("chosen")
            order = [chosen.c[c.key].desc() if descending else chosen.c[c.key].asc() for c in sort.columns]
            select_ = select(User).join(chosen, chosen.c.id == User.id).order_by(*order)
        return (select_.with_only_columns(*columns) if columns else select_).limit(_LIMIT)

    if sorted_matches:
        ordered = _ordered(statement, sort, forward, tail=True)
        if skip:
            ordered = ordered.offset(_SKIP)
        return _Reads(rows(_seek(ordered, sort, in_tail, forward) if keyed else ordered))
    if not sort.tail:
        if keyed:
            statement = statement.where(_beyond(sort.columns, ascending))
        elif skip:
            statement = statement.where(_from_nth(statement, sort))
        return _Reads(rows(_ordered(statement, sort, forward)))
    # The other rows and the tail, each a range of the sort's index, read in turn: only the part the key is in
    # and the one after it, and the second only when the first falls short.
    head_rows = statement.where(sort.before_tail())
    bound = _beyond(sort.columns, ascending) if keyed and not in_tail else None
    if skip:
        bound = _from_nth(head_rows, sort)
    head = _ordered(statement.where(_head(sort, bound, ascending)), sort, forward)
    tail = statement.where(sort.in_tail())
    if in_tail:
        tail = tail.where(_beyond(sort.columns[1:], ascending))
    # By the whole key, though its first column is the same all along the tail: the index's own order, which
    # PostgreSQL otherwise does not see (it walked the primary key for an OFFSET into the tail).
    tail = tail.order_by(*(c.desc() if descending else c.asc() for c in sort.columns))
    if not keyed:
        parts = [head, tail] if forward else [tail, head]
    else:
        parts = ([tail] if in_tail else [head, tail]) if forward else ([tail, head] if in_tail else [head])
    if len(parts) == 1:
        return _Reads(rows(parts[0]))
    past: Select[Any] | None = None
    if skip:  # `from` is past the other rows: as far into the tail as it is beyond them
        passed = head_rows.with_only_columns(literal(1)).limit(_SKIP).subquery()
        past = rows(parts[1].offset(_SKIP - select(func.count()).select_from(passed).scalar_subquery()))
    return _Reads(rows(parts[0]), rows(parts[1]), past)


# The unfiltered list's reads (the base's statement a constant, bound per call): built once for each sort, direction,
# columns and kind of start (issue 20: building them, and SQLAlchemy's cache key for them, cost ~5-8 % of the page).
_kept_reads = lru_cache(maxsize=128)(_reads)


def _fetch(
    base: _Base,
    sort: Sort,
    forward: bool,
    limit: int,
    columns: Sequence[Any] = (),
    *,
    where: Where = Where(),
    walk: bool = False,
    sorted_matches: bool = False,
) -> list[Any]:
    """Users in the sort's order (or, given columns, plain rows of those columns: no ORM objects): after (forward)
    or before (backward) where.key, or from row where.skip (forward only).

    walk: a broad search walking the sort's index; the page's keys are chosen from the index alone
    (ix_users_account_id_first_name_list holds every column a search reads: an index-only scan on
    PostgreSQL, no table row read for the entries that do not match on SQLite), then only their rows read.
    sorted_matches: a narrow search, whose matches are sorted whatever the order: the tail in the same
    statement, and `from` a plain OFFSET over them."""
    key = where.key
    skip = key is None and bool(where.skip)
    start = "skip" if skip else "" if key is None else "key_in_tail" if sort.key_in_tail(key) else "key"
    build = _kept_reads if base.kept else _reads
    reads = build(base.statement, sort, forward, tuple(columns), start, walk, sorted_matches)
    params = dict(base.params)
    if key is not None:
        params.update(_key_values(sort, key))
    if skip:
        params["skip"] = where.skip

    def rows(statement: Select[Any], n: int) -> list[Any]:
        bound = {**params, "limit": n}
        if columns:  # through the connection: Core rows, none of the ORM's loading
            return list(db.session.connection().execute(statement, bound).all())
        return list(db.session.scalars(statement, bound))

    found = rows(reads.first, limit)
    if len(found) < limit and reads.then is not None:
        then = reads.then_past_first if skip and not found and reads.then_past_first is not None else reads.then
        found += rows(then, limit - len(found))
    return found


def _seek(statement: Select[tuple[User]], sort: Sort, in_tail: bool, forward: bool) -> Select[tuple[User]]:
    """Rows strictly after (forward) or before (backward) the key (in_tail: the key is in the tail), in the order
    the tail goes last in."""
    ascending = forward != sort.descending
    if not sort.tail:
        return statement.where(_beyond(sort.columns, ascending))
    if in_tail:  # the key is in the tail, which comes after every other row
        in_tail_rows = and_(sort.in_tail(), _beyond(sort.columns[1:], ascending))
        return statement.where(in_tail_rows if forward else or_(in_tail_rows, sort.before_tail()))
    head = and_(sort.before_tail(), _beyond(sort.columns, ascending))
    return statement.where(or_(head, sort.in_tail()) if forward else head)


def _key(user: Any, sort: Sort) -> tuple[Any, ...]:
    return tuple(getattr(user, c.key) for c in sort.columns)


# What the users list shows of each user (and its sorts' keys): read as plain rows, no ORM objects.
LIST_COLUMNS = (
    User.id, User.first_name, User.last_name, User.login, User.email, User.status, User.is_sso, User.mfa_enabled,
    User.last_login_at, User.created_at,
)  # fmt: skip


def list_users(
    account_id: uuid.UUID,
    f: UserFilter,
    start: int,
    take: int,
    after: str | None = None,
    before: str | None = None,
    columns: Sequence[Any] = (),
) -> Page[Any]:
    """One page of the account's users (owner aside): by cursor when the link carries one, else from row `start`
    (the n-th row's key found by an OFFSET over the sort's index, then read by keyset as a cursor's page).
    Users, or given columns (the list page's LIST_COLUMNS), plain rows of them: no ORM objects."""
    sort = f.order
    counted = _count(account_id, f, take)
    total, capped = counted.total, counted.capped
    base = _filtered(account_id, f, counted.broad)
    # A broad search walks the sort's index, reading rows only for the page; a narrow one sorts its matches.
    how = {"walk": counted.broad, "sorted_matches": bool(f.q) and not counted.broad}
    after_key = decode_cursor(after, sort.converters)
    before_key = decode_cursor(before, sort.converters)
    if after_key is None and (before == END or before_key is not None):
        # by the cursor, or the last page: read the list from its end
        limit = take if before_key is not None else (total - start if not capped and total > start else take)
        rows = _fetch(base, sort, False, max(1, min(limit, take)), columns, where=Where(before_key), **how)[::-1]
        return _page(rows, start, take, total, capped, sort, has_more=start + len(rows) < total or capped)
    where = Where(after_key) if after_key is not None else Where(skip=start)
    rows = _fetch(base, sort, True, take + 1, columns, where=where, **how)
    return _page(rows[:take], start, take, total, capped, sort, has_more=len(rows) > take)


def _page(rows: list[Any], start: int, take: int, total: int, capped: bool, sort: Sort, has_more: bool) -> Page[Any]:
    return Page(
        items=rows,
        start=start,
        take=take,
        total=max(total, start + len(rows)),
        total_is_capped=capped,
        next_cursor=encode_cursor(_key(rows[-1], sort)) if rows and has_more else None,
        prev_cursor=encode_cursor(_key(rows[0], sort)) if rows and start > 0 else None,
        more=bool(rows) and has_more,
    )


@dataclass(frozen=True)
class HeldRoleName:
    """A role a user holds (or, while invited, will hold), by name."""

    name: str
    is_default: bool
    invited: bool = False
    expires_at: datetime | None = None

    @property
    def label(self) -> str:
        """The name as the list shows it: "(not default)" or "(invited)" after it where that applies, and
        "(until 12 Jan)" for a time-bound grant."""
        until = f" (until {until_day(self.expires_at)})" if self.expires_at else ""
        return self.name + (" (invited)" if self.invited else "" if self.is_default else " (not default)") + until


@dataclass(frozen=True, slots=True)
class UserRow:
    """A user with what the list shows beside the profile: the roles they hold (data, not words) and their
    group count."""

    user: Any  # a User, or a plain row of LIST_COLUMNS (the list) or EXPORT_COLUMNS (the export)
    roles: tuple[HeldRoleName, ...]
    group_count: int

    @property
    def full_name(self) -> str:
        u = self.user
        return full_name_of(u.first_name, u.last_name, u.email, u.status, u.login)

    @property
    def role_labels(self) -> list[str]:
        """The roles as the list and the export word them: "viewer (not default)"."""
        return [held.label for held in self.roles]


class _RawUuid(TypeDecorator[Any]):
    """A UUID column read as the driver gives it (SQLite: its stored hex; PostgreSQL: a UUID already), not turned
    into a UUID object per row: what with_details matches the page's ids by (_raw_id)."""

    impl = Uuid
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> None:  # noqa: ARG002 (the parent's signature)
        return None


@lru_cache(maxsize=4)
def _raw_id(dialect: Dialect) -> Callable[[uuid.UUID], Any]:
    """A UUID as _RawUuid reads it back: the column's own bind processing (SQLite: its hex), else the UUID."""
    process = Uuid().bind_processor(dialect)
    return process if process is not None else (lambda value: value)


def _details_statement() -> Any:
    """with_details' one statement: the users' roles by name (roles.policy.GRANTS, the grants the ranks are read
    from, without the permissions) and their group counts, united (`n` NULL on the roles' rows). Bound per call
    with {"ids": [...], "now": utcnow()}."""
    raw = _RawUuid()
    grants = policy.GRANTS
    names = select(
        type_coerce(grants.c.user_id, raw).label("user_id"),
        Role.name.label("name"),
        grants.c.is_default,
        grants.c.invited,
        grants.c.expires_at,
        null().label("n"),
    ).join(Role, Role.id == grants.c.role_id)
    counts = (
        select(type_coerce(GroupMember.user_id, raw), null(), null(), null(), null(), func.count())
        .where(GroupMember.user_id.in_(bindparam("ids", type_=Uuid(), expanding=True)))
        .group_by(GroupMember.user_id)
    )
    both = union_all(names, counts)
    return both.order_by(both.selected_columns.name)


_DETAILS = _details_statement()


def with_details(users: Sequence[Any]) -> list[UserRow]:
    """Roles and group counts for a page of users: one statement, whatever the page size. A pending user's roles
    are those of their invitation, marked "(invited)": what they rank by until they accept."""
    if not users:
        return []
    connection = db.session.connection()
    roles: dict[Any, list[HeldRoleName]] = defaultdict(list)
    groups: dict[Any, int] = {}
    rows = connection.execute(_DETAILS, {"ids": [u.id for u in users], "now": utcnow()})
    for user_id, name, is_default, invited, expires_at, n in rows:
        if n is None:
            roles[user_id].append(HeldRoleName(name, bool(is_default), bool(invited), expires_at))
        else:
            groups[user_id] = n
    raw = _raw_id(connection.dialect)
    return [UserRow(u, tuple(roles.get(key, ())), groups.get(key, 0)) for u in users for key in (raw(u.id),)]


def _choices_statement() -> Any:
    account_id = bindparam("account_id", type_=Uuid())
    both = union_all(
        select(literal(True).label("is_role"), Role.id.label("id"), Role.name.label("name")).where(
            Role.account_id == account_id
        ),
        select(literal(False), Group.id, Group.name).where(Group.account_id == account_id),
    ).subquery()
    return select(both).order_by(both.c.name)


_CHOICES = _choices_statement()


class Choice(NamedTuple):
    """A role or group to pick in a select: its id and name."""

    id: uuid.UUID
    name: str


def role_and_group_choices(account_id: uuid.UUID) -> tuple[list[Choice], list[Choice]]:
    """The account's roles and its groups, each by name, for the list's pickers: one statement for both."""
    roles: list[Choice] = []
    groups: list[Choice] = []
    for is_role, id_, name in db.session.connection().execute(_CHOICES, {"account_id": account_id}):
        (roles if is_role else groups).append(Choice(id_, name))
    return roles, groups


_OWNER = select(User).where(User.account_id == bindparam("account_id"), User.is_owner)  # built once: every list


def owner_of(account_id: uuid.UUID) -> User | None:
    """The account's owner (seed 000 returns the owner apart from the other users)."""
    return db.session.scalars(_OWNER, {"account_id": account_id}).first()


_IN_ACCOUNT = select(User).where(User.id == bindparam("user_id"), User.account_id == bindparam("account_id"))


def user_in_account(account_id: uuid.UUID, user_id: uuid.UUID) -> User:
    """The user with this id in this account; NotFound when missing or in another account."""
    user = db.session.scalars(_IN_ACCOUNT, {"user_id": user_id, "account_id": account_id}).first()
    if user is None:
        raise NotFound("No such user in this account.")
    return user


def user_by_reference(account_id: uuid.UUID, reference: str) -> User:
    """The user named by id or by login in this account (seed 001: "either the login or id"); NotFound else."""
    user_id = parse_uuid(reference)
    return user_by_login(account_id, reference) if user_id is None else user_in_account(account_id, user_id)


# The holders of each login or email a batch of work (an import's) read ahead: value -> ids of the users
# holding it as login or email. Only ever more than the truth (a value a batch gave up stays "taken"), never less.
_TAKEN_AHEAD: ContextVar[tuple[uuid.UUID, dict[str, set[uuid.UUID]]] | None] = ContextVar("taken_ahead", default=None)


def taken_problem(
    account_id: uuid.UUID, column: str, value: str, except_user_id: uuid.UUID | None = None
) -> str | None:
    """ "This login/email is already taken in this account." when another user of the account has the value as
    their login or their email: a login may be an email address (issue 16), and signing in by login or email
    must name one person."""
    ahead = _TAKEN_AHEAD.get()
    if ahead is not None and ahead[0] == account_id and value in ahead[1]:
        taken = bool(ahead[1][value] - {except_user_id})
    else:
        statement = select(User.id).where(User.account_id == account_id, or_(User.login == value, User.email == value))
        if except_user_id is not None:
            statement = statement.where(User.id != except_user_id)
        taken = db.session.scalar(statement.limit(1)) is not None
    return f"This {column} is already taken in this account." if taken else None


@contextmanager
def taken_read_ahead(account_id: uuid.UUID, values: Iterable[str]) -> Iterator[dict[str, set[uuid.UUID]]]:
    """Within the block, taken_problem answers for these values from one read (a statement per 5,000 values:
    a batch's, however big the batch) instead of a statement per check; the caller notes each login and email
    it writes (note_taken)."""
    wanted = sorted({v for v in values if v})
    holders: dict[str, set[uuid.UUID]] = {v: set() for v in wanted}
    for i in range(0, len(wanted), 5000):  # twice 5,000 parameters: well within SQLite's and PostgreSQL's limits
        chunk = wanted[i : i + 5000]
        for user_id, login, email in db.session.execute(
            select(User.id, User.login, User.email).where(
                User.account_id == account_id, or_(User.login.in_(chunk), User.email.in_(chunk))
            )
        ):
            for held in (login, email):
                if held in holders:
                    holders[held].add(user_id)
    token = _TAKEN_AHEAD.set((account_id, holders))
    try:
        yield holders
    finally:
        _TAKEN_AHEAD.reset(token)


def note_taken(holders: dict[str, set[uuid.UUID]], user_id: uuid.UUID, *values: str) -> None:
    """Record in a read-ahead that the user now holds these values (a login or email just written)."""
    for value in values:
        if value:
            holders.setdefault(value, set()).add(user_id)


def user_by_login(account_id: uuid.UUID, login: str) -> User:
    """The user with this login in this account (seed 001 addresses users by login or id)."""
    user = db.session.scalars(
        select(User).where(User.account_id == account_id, User.login == login.strip().lower())
    ).first()
    if user is None:
        raise NotFound("No such user in this account.")
    return user


def users_in_account(account_id: uuid.UUID, user_ids: Sequence[uuid.UUID]) -> list[User]:
    """The users among these ids that belong to the account (others are silently not there)."""
    if not user_ids:
        return []
    return list(db.session.scalars(select(User).where(User.account_id == account_id, User.id.in_(user_ids))))


def matching_ids(account_id: uuid.UUID, f: UserFilter, limit: int) -> list[uuid.UUID]:
    """Ids of the users the filter matches ("select all N matching"), at most limit of them."""
    broad = _broad_past(account_id, f, limit) is not None
    base = _filtered(account_id, f, broad)
    statement = _ordered(base.statement, f.order, True, tail=True)
    return list(db.session.scalars(statement.with_only_columns(User.id).limit(limit), base.params))


class ExportColumn(NamedTuple):
    """One column of the users CSV export: its header, what is read of the user (None: the row's details
    give it), and how a row's cell is written (None: the column's value as it is)."""

    header: str
    column: InstrumentedAttribute[Any] | None
    formatter: Callable[[UserRow], object] | None = None


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


# The CSV export, one row per column, for the download and the export job alike (the import reads the
# same headers). Its users are read as plain rows of the columns named here: an ORM object per row costs
# more than writing it.
EXPORT: tuple[ExportColumn, ...] = (
    ExportColumn("id", User.id),
    ExportColumn("login", User.login),
    ExportColumn("email", User.email),
    ExportColumn("first_name", User.first_name),
    ExportColumn("last_name", User.last_name),
    ExportColumn("company_name", User.company_name),
    ExportColumn("address", User.address),
    ExportColumn("postal_code", User.postal_code),
    ExportColumn("city", User.city),
    ExportColumn("state", User.state),
    ExportColumn("country", User.country),
    ExportColumn("phone", User.phone),
    ExportColumn("status", User.status),
    ExportColumn("roles", None, lambda row: ";".join(row.role_labels)),
    ExportColumn("mfa", User.mfa_enabled, lambda row: "on" if row.user.mfa_enabled else "off"),
    ExportColumn("groups", None, lambda row: row.group_count),
    ExportColumn("last_sign_in", User.last_login_at, lambda row: _iso(row.user.last_login_at)),
    ExportColumn("created", User.created_at, lambda row: _iso(row.user.created_at)),
)
EXPORT_HEADER = tuple(c.header for c in EXPORT)
EXPORT_COLUMNS = tuple(c.column for c in EXPORT if c.column is not None)


def _reader(column: ExportColumn) -> Callable[[UserRow], object]:
    if column.formatter is not None:
        return column.formatter
    assert column.column is not None, f"{column.header}: a column without a formatter reads the user"
    read = attrgetter(column.column.key)
    return lambda row: read(row.user)


_CELLS = tuple(_reader(c) for c in EXPORT)  # built once: the export writes a line per user


def export_values(row: UserRow) -> tuple[object, ...]:
    """One user's line of the CSV export (EXPORT's columns)."""
    return tuple([cell(row) for cell in _CELLS])


def iter_users(account_id: uuid.UUID, f: UserFilter, chunk: int = 1000) -> Iterator[UserRow]:
    """Every user the filter matches, in sort order, read a chunk at a time (for the CSV export); each
    row's user is a plain row of EXPORT_COLUMNS."""
    sort = f.order
    base = _filtered(account_id, f, _broad_past(account_id, f, chunk) is not None)
    key: tuple[Any, ...] | None = None
    while True:
        rows = _fetch(base, sort, True, chunk, EXPORT_COLUMNS, where=Where(key))
        if not rows:
            return
        yield from with_details(rows)
        key = _key(rows[-1], sort)
        if len(rows) < chunk:
            return


def export_chunk(
    account_id: uuid.UUID, f: UserFilter, after: str | None, chunk: int
) -> tuple[list[UserRow], str | None]:
    """One chunk of the export in sort order after the cursor (None: from the start), and the cursor after it
    (None when this was the last chunk): how the export job resumes where its last commit stopped."""
    sort = f.order
    base = _filtered(account_id, f, _broad_past(account_id, f, chunk) is not None)
    key = decode_cursor(after, sort.converters) if after else None
    rows = _fetch(base, sort, True, chunk, EXPORT_COLUMNS, where=Where(key))
    following = encode_cursor(_key(rows[-1], sort)) if len(rows) == chunk else None
    return with_details(rows), following


def count_matching(account_id: uuid.UUID, f: UserFilter, at_most: int) -> int:
    """How many users the filter matches, counted up to at_most (+1 tells "more than")."""
    if not f.narrows_beyond_status:
        return min(_account_size(account_id, f.status), at_most + 1)  # as the list counts (_count)
    return _capped_count(_filtered(account_id, f), at_most)
