"""Writing audit events, in the same transaction as the change they describe."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from flask import g, has_request_context, request
from sqlalchemy import Table, insert

from portal import db
from portal.actors import VIAS, Actor
from portal.models import Account, AuditEvent, Group, Role, User

# Values of fields with such names never reach the log: only the fact that they changed.
_SECRET = re.compile(r"password|token|secret|hash|code|key", re.I)


def _describe(target: Any) -> tuple[str, str, str]:
    if isinstance(target, User):
        return "user", str(target.id), target.login
    if isinstance(target, Role):
        return "role", str(target.id), target.name
    if isinstance(target, Group):
        return "group", str(target.id), target.name
    if isinstance(target, Account):
        return "account", str(target.id), target.name
    if target is None:
        return "", "", ""
    return type(target).__name__.lower(), str(getattr(target, "id", "")), str(target)[:200]


def _scrub(changes: dict[str, Any]) -> dict[str, Any]:
    return {key: "[changed]" if _SECRET.search(key) else value for key, value in changes.items()}


def _rows(
    action: str, entries: Sequence[tuple[Any, dict[str, Any] | None]], actor: Actor, account_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    """The audit_events rows of the action on each (target, changes): the one rule of what an event holds."""
    assert isinstance(actor, Actor), actor  # a User is no actor (its untyped base hides that from mypy)
    in_request = has_request_context()
    if actor.via is not None:
        via = actor.via
    elif in_request:  # SCIM sets g.audit_via; a request with an API key is the API's
        via = g.get("audit_via") or ("api" if g.get("api_key") is not None else "web")
    else:
        via = "cli"
    assert via in VIAS, via
    common: dict[str, Any] = {
        "actor_id": actor.user.id,
        "actor_label": actor.user.login,
        "action": action,
        "via": via,
        "api_key_id": None,
        "api_key_name": "",
        "ip_address": "",
        "user_agent": "",
        "correlation_id": "",
    }
    api_key = actor.api_key or (g.get("api_key") if in_request else None)
    if api_key is not None and via == "api":
        common["api_key_id"], common["api_key_name"] = api_key.id, api_key.name
    if in_request:
        common["ip_address"] = (request.remote_addr or "")[:45]
        common["user_agent"] = request.user_agent.string[:255]
        common["correlation_id"] = g.get("correlation_id", "")
    rows = []
    for target, changes in entries:
        target_type, target_id, target_label = _describe(target)
        rows.append(
            common
            | {
                "account_id": account_id or getattr(target, "account_id", None) or actor.user.account_id,
                "target_type": target_type,
                "target_id": target_id,
                "target_label": target_label,
                "changes": _scrub(changes or {}),
            }
        )
    return rows


def _collecting() -> list[AuditEvent] | None:
    """The events one_event() is gathering in this request, if it is."""
    return g.get("audit_collected") if has_request_context() else None


def record(
    action: str,
    target: Any = None,
    *,
    actor: Actor,
    changes: dict[str, Any] | None = None,
    account_id: uuid.UUID | None = None,
) -> AuditEvent:
    """Add an audit event to the session: the actor (portal.actors: every caller names one), action, target,
    changes, address, correlation id, and how the change came in — the actor's `via`, else the request's
    (SCIM sets g.audit_via; a page is "web"), else "cli" outside any request. An API key's id and name
    are kept when the actor acted with one. (record_all is the same for a batch.)"""
    event = AuditEvent(**_rows(action, [(target, changes)], actor, account_id)[0])
    collected = _collecting()
    if collected is not None:  # inside one_event(): written as one when the block ends
        collected.append(event)
    else:
        db.session.add(event)
    return event


def record_all(
    action: str,
    entries: Iterable[tuple[Any, dict[str, Any] | None]],
    *,
    actor: Actor,
    account_id: uuid.UUID | None = None,
) -> None:
    """record() of the action on each (target, changes) of a batch (a bulk action's users, an import's rows):
    the same events, sent as one INSERT for the batch now, without an ORM object each (inside one_event() they
    are gathered as record() gathers them)."""
    rows = _rows(action, list(entries), actor, account_id)
    if not rows:
        return
    collected = _collecting()
    if collected is not None:
        collected.extend(AuditEvent(**row) for row in rows)
        return
    if any(isinstance(obj, AuditEvent) for obj in db.session.new):
        db.session.flush()  # events recorded before these are written first, as they were recorded
    db.session.execute(insert(_TABLE), rows)


_TABLE = cast(Table, AuditEvent.__table__)


# Which of several events gathered by one_event() names the whole: the first of these actions present, else the
# first event's. A creation or a deletion says most; a state change says more than the profile edit beside it.
_PRIMARY = (
    "invitation.create",
    "user.create",
    "group.create",
    "user.delete",
    "group.delete",
    "user.disable",
    "user.enable",
    "invitation.revoke",
)


def _merged(events: list[AuditEvent]) -> AuditEvent:
    """One event for several: the primary one's action and target, every change (an [old, new] pair changed
    twice keeps the first old and the last new), and `steps`, the actions it stands for."""
    actions = [event.action for event in events]
    primary = next((events[actions.index(a)] for a in _PRIMARY if a in actions), None)
    chosen = primary or events[0]
    if primary is None and len({a for a in actions if a.startswith("group.members.")}) > 1:
        chosen.action = "group.members.replace"  # members added and removed in one request
    changes: dict[str, Any] = {}
    for event in events:
        for key, value in (event.changes or {}).items():
            old = changes.get(key)
            if (
                isinstance(old, list)
                and isinstance(value, list)
                and len(old) == len(value) == 2
                and key not in {"added", "removed"}
            ):
                changes[key] = [old[0], value[1]]
            elif isinstance(old, list) and isinstance(value, list):
                changes[key] = old + [item for item in value if item not in old]
            else:
                changes[key] = value
    changes["steps"] = actions
    chosen.changes = changes
    return chosen


@contextmanager
def one_event() -> Iterator[None]:
    """Everything recorded inside the block is written as one audit event (none when nothing changed): a SCIM
    request is one change, whatever services it takes — a profile edit with a deactivation, a creation of a
    user who is disabled at once, members added and removed."""
    if g.get("audit_collected") is not None:  # already gathering: the outer block writes
        yield
        return
    collected: list[Any] = []
    g.audit_collected = collected
    try:
        yield
    finally:
        g.audit_collected = None
    if collected:
        db.session.add(collected[0] if len(collected) == 1 else _merged(collected))
