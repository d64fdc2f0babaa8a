"""Security notices: a short email to a person's own address when something about their sign-in changed."""

from __future__ import annotations

from portal.mail.outbox import enqueue
from portal.models import OutboxEmail, User


def security_notice(user: User, subject: str, message: str, to_address: str | None = None) -> OutboxEmail:
    """Queue the notice in the caller's transaction (to the user's address unless told otherwise)."""
    return enqueue(
        "security_notice", to_address or user.email, subject, account_id=user.account_id, user=user, message=message
    )
