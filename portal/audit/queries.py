"""Read side of the audit log: the filtered, keyset-paged list, the CSV rows, a user's recent events.

Every query is scoped to one account and ordered newest first by (created_at, id). Each filter
is an equality that leads an index with created_at after it (see portal/models/audit.py), so a
page is an index seek whatever the table's size; the count stops at COUNT_CAP.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, func, literal, select, tuple_, union_all
from sqlalchemy.orm import aliased

from portal import db
from portal.models import AuditEvent
from portal.pagination import COUNT_CAP, END, Page, decode_cursor, encode_cursor, utc_datetime
from portal.uuids import parse_uuid

EventSelect = Select[Any]  # a select of AuditEvent rows (spelled Any: SQLAlchemy 2.0 and 2.1 type it differently)
_CURSOR = (utc_datetime, uuid.UUID)
_ORDER = (AuditEvent.created_at, AuditEvent.id)


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip()) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class AuditFilter:
    """What the list is narrowed to, from the query string; invalid values are ignored.

    actor: the actor's login as recorded; action: an action name, or a family as "user.*";
    target: a target's id (a UUID) or its label (a login, a role or group name);
    target_type: user, role, group, invitation …; since/until: UTC days, both inclusive.
    """

    actor: str = ""
    action: str = ""
    target: str = ""
    target_type: str = ""
    since: date | None = None
    until: date | None = None

    @classmethod
    def from_args(cls, args: Any) -> AuditFilter:
        target_type = args.get("target_type", "").strip().lower()[:32]
        return cls(
            actor=args.get("actor", "").strip().lower()[:200],
            action=args.get("action", "").strip().lower()[:64],
            target=args.get("target", "").strip()[:200],
            target_type=target_type if target_type.replace("_", "").isalnum() else "",
            since=_date(args.get("since")),
            until=_date(args.get("until")),
        )

    @property
    def active(self) -> bool:
        return bool(self.actor or self.action or self.target or self.target_type or self.since or self.until)

    def args(self) -> dict[str, str]:
        """The filter as query-string arguments (for links and the CSV export)."""
        values = {
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "target_type": self.target_type,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in values.items() if v}


def _target_id(value: str) -> str | None:
    parsed = parse_uuid(value)
    return None if parsed is None else str(parsed)


def _action_family(action: str) -> ColumnElement[bool]:
    prefix = action.rstrip("*")
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return AuditEvent.action.like(escaped + "%", escape="\\")


def _filtered(account_id: uuid.UUID, f: AuditFilter) -> EventSelect:
    statement = select(AuditEvent).where(AuditEvent.account_id == account_id)
    if f.actor:
        statement = statement.where(AuditEvent.actor_label == f.actor)
    if f.action:
        statement = statement.where(
            _action_family(f.action) if f.action.endswith("*") else AuditEvent.action == f.action
        )
    if f.target:
        target_id = _target_id(f.target)
        statement = statement.where(
            AuditEvent.target_id == target_id if target_id else AuditEvent.target_label == f.target
        )
    if f.target_type:
        statement = statement.where(AuditEvent.target_type == f.target_type)
    if f.since:
        statement = statement.where(AuditEvent.created_at >= datetime.combine(f.since, time.min, UTC))
    if f.until and f.until < date.max:  # until the last day there is: no end (the day after would overflow)
        end = datetime.combine(f.until + timedelta(days=1), time.min, UTC)
        statement = statement.where(AuditEvent.created_at < end)
    return statement


def _beyond(key: tuple[Any, ...], older: bool) -> ColumnElement[bool]:
    row = tuple_(*_ORDER)
    bound = tuple_(*(literal(v, c.type) for c, v in zip(_ORDER, key, strict=True)))
    return row < bound if older else row > bound


def _newest_first(statement: EventSelect) -> EventSelect:
    return statement.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())


def _oldest_first(statement: EventSelect) -> EventSelect:
    return statement.order_by(AuditEvent.created_at.asc(), AuditEvent.id.asc())


def _key(event: AuditEvent) -> tuple[Any, ...]:
    return (event.created_at, event.id)


def _count(base: EventSelect) -> tuple[int, bool]:
    capped = base.with_only_columns(AuditEvent.id).limit(COUNT_CAP + 1).subquery()
    n = int(db.session.scalar(select(func.count()).select_from(capped)) or 0)
    return min(n, COUNT_CAP), n > COUNT_CAP


def list_events(
    account_id: uuid.UUID, f: AuditFilter, start: int, take: int, after: str | None = None, before: str | None = None
) -> Page[AuditEvent]:
    """One page of the account's events, newest first: by cursor when the link carries one, else by offset."""
    base = _filtered(account_id, f)
    total, capped = _count(base)
    after_key = decode_cursor(after, _CURSOR)
    before_key = decode_cursor(before, _CURSOR)
    if after_key is None and (before == END or before_key is not None):
        if before_key is not None:
            statement, limit = base.where(_beyond(before_key, older=False)), take
        else:  # the last page: read from the oldest end
            statement, limit = base, (total - start if not capped and total > start else take)
        rows = list(db.session.scalars(_oldest_first(statement).limit(max(1, min(limit, take)))))[::-1]
        return _page(rows, start, take, total, capped, has_more=start + len(rows) < total or capped)
    if after_key is not None:
        rows = list(db.session.scalars(_newest_first(base.where(_beyond(after_key, older=True))).limit(take + 1)))
    else:
        rows = list(db.session.scalars(_newest_first(base).offset(start).limit(take + 1)))
    return _page(rows[:take], start, take, total, capped, has_more=len(rows) > take)


def _page(rows: list[AuditEvent], start: int, take: int, total: int, capped: bool, has_more: bool) -> Page[AuditEvent]:
    return Page(
        items=rows,
        start=start,
        take=take,
        total=max(total, start + len(rows)),
        total_is_capped=capped,
        next_cursor=encode_cursor(_key(rows[-1])) if rows and has_more else None,
        prev_cursor=encode_cursor(_key(rows[0])) if rows and start > 0 else None,
        more=bool(rows) and has_more,
    )


def iter_events(account_id: uuid.UUID, f: AuditFilter, chunk: int = 1000) -> Iterator[AuditEvent]:
    """Every event the filter matches, newest first, read a chunk at a time (the CSV export)."""
    base = _filtered(account_id, f)
    key: tuple[Any, ...] | None = None
    while True:
        statement = base if key is None else base.where(_beyond(key, older=True))
        rows = list(db.session.scalars(_newest_first(statement).limit(chunk)))
        if not rows:
            return
        key = _key(rows[-1])
        yield from rows
        db.session.expunge_all()  # memory stays flat however long the log
        if len(rows) < chunk:
            return


def _recent_events_statement() -> EventSelect:
    """recent_events_for's statement, bound per call with account_id, user_id, target_id (the id as text) and
    limit."""
    account_id = AuditEvent.account_id == bindparam("account_id")
    as_actor = select(AuditEvent).where(account_id, AuditEvent.actor_id == bindparam("user_id"))
    as_target = select(AuditEvent).where(
        account_id, AuditEvent.target_id == bindparam("target_id"), AuditEvent.target_type == "user"
    )
    limit = bindparam("limit", type_=Integer())
    seeks = [_newest_first(statement).limit(limit).subquery() for statement in (as_actor, as_target)]
    both = union_all(*(select(seek) for seek in seeks)).subquery()
    return select(aliased(AuditEvent, both))


_RECENT_EVENTS = _recent_events_statement()  # built once: every user page reads it


def recent_events_for(account_id: uuid.UUID, user_id: uuid.UUID, limit: int = 10) -> list[AuditEvent]:
    """A user's latest events in the account, as actor or as target, newest first (the user page).

    Two index seeks (actor_id, created_at) and (account_id, target_id, created_at), in one statement, merged.
    """
    params = {"account_id": account_id, "user_id": user_id, "target_id": str(user_id), "limit": limit}
    events: dict[uuid.UUID, AuditEvent] = {}
    for event in db.session.scalars(_RECENT_EVENTS, params):
        events[event.id] = event
    return sorted(events.values(), key=_key, reverse=True)[:limit]
