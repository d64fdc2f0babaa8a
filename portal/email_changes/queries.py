"""Read side of email changes: a user's pending change, a link's change."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from portal import db, tokens
from portal.db import utcnow
from portal.models import Account, EmailChange, User, UserStatus


@dataclass(frozen=True)
class PendingEmail:
    """A user's open email change as the user page and /me show it."""

    change: EmailChange
    requested_by: User | None  # None once that admin was deleted
    by_themselves: bool


_UNFINISHED = select(EmailChange).where(  # built once: every user page and /me read it
    EmailChange.user_id == bindparam("user_id"), EmailChange.confirmed_at.is_(None), EmailChange.cancelled_at.is_(None)
)


def open_change(user_id: uuid.UUID) -> EmailChange | None:
    """The user's open change (neither confirmed, cancelled nor expired), if any."""
    change = db.session.scalars(_UNFINISHED, {"user_id": user_id}).first()
    return change if change is not None and change.is_open(utcnow()) else None


def pending_email(user_id: uuid.UUID) -> PendingEmail | None:
    """The user's open change with who asked for it, for display."""
    change = open_change(user_id)
    if change is None:
        return None
    requester = db.session.get(User, change.requested_by_id) if change.requested_by_id else None
    return PendingEmail(change, requester, change.requested_by_id == user_id)


@dataclass(frozen=True)
class LinkedChange:
    """What the confirm page needs: the change, its user and their account."""

    change: EmailChange
    user: User
    account: Account


def by_token(token: str) -> LinkedChange | None:
    """The open change a link's token belongs to, with its (not pending) user and account; None otherwise."""
    user = aliased(User)
    row = db.session.execute(
        select(EmailChange, user, Account)
        .join(user, user.id == EmailChange.user_id)
        .join(Account, Account.id == EmailChange.account_id)
        .where(EmailChange.token_hash == tokens.digest(token))
    ).first()
    if row is None:
        return None
    change, owner_of_change, account = row
    if not change.is_open(utcnow()) or owner_of_change.status == UserStatus.PENDING:
        return None
    return LinkedChange(change, owner_of_change, account)


def email_taken(account_id: uuid.UUID, email: str, except_user_id: uuid.UUID) -> bool:
    """Whether another user of the account has this address (emails are unique per account)."""
    statement = select(User.id).where(User.account_id == account_id, User.email == email, User.id != except_user_id)
    return db.session.scalar(statement.limit(1)) is not None
