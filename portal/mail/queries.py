"""Read side of the outbox: an account's emails, newest first, for its owner."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from portal import db
from portal.db import utcnow
from portal.models import EmailStatus, OutboxEmail
from portal.pagination import Page


def outbox_page(account_id: uuid.UUID, start: int, take: int) -> Page[OutboxEmail]:
    """The account's emails, newest first (index ix_outbox_emails_account_id_created_at)."""
    emails = db.session.scalars(
        select(OutboxEmail)
        .where(OutboxEmail.account_id == account_id)
        .order_by(OutboxEmail.created_at.desc(), OutboxEmail.id.desc())
        .offset(start)
        .limit(take)
    ).all()
    total = db.session.scalar(select(func.count()).where(OutboxEmail.account_id == account_id)) or 0
    return Page(list(emails), start, take, total, keep_defaults=False, last_cursor="")


@dataclass
class OutboxBacklog:
    """Every account's emails not delivered: how many queued and failed, and how long the oldest waits."""

    counts: dict[str, int]
    oldest_queued_age_seconds: float


def outbox_backlog(now: datetime | None = None) -> OutboxBacklog:
    """The outbox across accounts, for /metrics (index ix_outbox_emails_status_next_attempt_at)."""
    rows = db.session.execute(
        select(OutboxEmail.status, func.count(), func.min(OutboxEmail.created_at))
        .where(OutboxEmail.status.in_([EmailStatus.QUEUED.value, EmailStatus.FAILED.value]))
        .group_by(OutboxEmail.status)
    ).all()
    counts = {EmailStatus.QUEUED.value: 0, EmailStatus.FAILED.value: 0}
    oldest = 0.0
    for status, count, first in rows:
        counts[status] = int(count)
        if status == EmailStatus.QUEUED.value and first is not None:
            if isinstance(first, str):  # in case SQLite's min() comes back as text
                first = datetime.fromisoformat(first)
            if first.tzinfo is None:
                first = first.replace(tzinfo=UTC)
            oldest = max(0.0, ((now or utcnow()) - first).total_seconds())
    return OutboxBacklog(counts, oldest)
