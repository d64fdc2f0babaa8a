"""Read side of the outbox: an account's emails, newest first, for its owner."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select

from portal import db
from portal.models import OutboxEmail
from portal.pagination import OffsetPage


@dataclass
class OutboxPage(OffsetPage):
    """One page of the outbox (`from`/`take` as every list)."""

    emails: list[OutboxEmail]
    start: int
    take: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.start + len(self.emails) < self.total


def outbox_page(account_id: uuid.UUID, start: int, take: int) -> OutboxPage:
    """The account's emails, newest first (index ix_outbox_emails_account_id_created_at)."""
    emails = db.session.scalars(
        select(OutboxEmail)
        .where(OutboxEmail.account_id == account_id)
        .order_by(OutboxEmail.created_at.desc(), OutboxEmail.id.desc())
        .offset(start)
        .limit(take)
    ).all()
    total = db.session.scalar(select(func.count()).where(OutboxEmail.account_id == account_id)) or 0
    return OutboxPage(list(emails), start, take, total)
