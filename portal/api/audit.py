"""The audit log and the key's own view of itself in the JSON API."""

from __future__ import annotations

import uuid
from typing import cast

from flask import Response, g

from portal.api import schemas
from portal.api.core import answer, bp, operation, paging
from portal.api.users import user_models
from portal.audit import queries
from portal.me.credentials import scopes_of
from portal.models import AuditEvent
from portal.permissions import Permission


def event_model(event: AuditEvent) -> schemas.AuditEvent:
    """The API's AuditEvent."""
    return schemas.AuditEvent(
        id=event.id,
        at=event.created_at,
        action=event.action,
        actor=schemas.AuditActor(id=event.actor_id, login=event.actor_label)
        if event.actor_id or event.actor_label
        else None,
        via=cast(schemas.ViaName, event.via),
        api_key=schemas.AuditKey(id=event.api_key_id, name=event.api_key_name) if event.via == "api" else None,
        target=schemas.AuditTarget(type=event.target_type, id=event.target_id, label=event.target_label)
        if event.target_type
        else None,
        changes=event.changes or {},
        correlation_id=event.correlation_id,
        ip=event.ip_address,
    )


@bp.get("/accounts/<uuid:account_id>/audit")
@operation(Permission.AUDIT_READ, query=schemas.AuditQuery, answers={200: schemas.EventsPage}, tags=["audit"])
def list_events(account_id: uuid.UUID, query: schemas.AuditQuery) -> Response:
    """The account's audit log, newest first: `actor`, `action` (or `user.*`), `target_type`, `target`,
    `since`/`until` (UTC days); `after` (inside `next`) pages by keyset."""
    filters = queries.AuditFilter.from_args(query.model_dump(exclude_none=True))
    page = queries.list_events(account_id, filters, query.from_, query.take, after=query.after)
    next_args = {"from": page.start + len(page.items), "after": page.next_cursor} if page.next_cursor else None
    return answer(
        schemas.EventsPage(
            events=[event_model(event) for event in page.items],
            **paging(page, capped=page.total_is_capped, next_args=next_args),
        )
    )


@bp.get("/me")
@operation(answers={200: schemas.Me}, tags=["me"])
def me() -> Response:
    """The key's owner and the key itself (name, scopes, expiry): any valid key."""
    key = g.api_key
    return answer(
        schemas.Me(
            user=user_models([g.api_user])[0],
            key=schemas.KeyInfo(
                id=key.id, name=key.name, scopes=sorted(p.value for p in scopes_of(key)), expires_at=key.expires_at
            ),
        )
    )
