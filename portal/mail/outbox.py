"""Writing an email to the outbox, in the same transaction as the change that causes it.

Nothing here talks to a mail server: if the transaction commits, the email exists and the
worker (portal.mail.delivery) will deliver it; if it rolls back, the email never existed.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app, render_template

from portal import db
from portal.db import utcnow
from portal.models import Account, EmailStatus, OutboxEmail


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute link for an email: PORTAL_BASE_URL and the route's path, never the request's Host (R2)."""
    path = current_app.url_map.bind("portal.invalid").build(endpoint, values)
    return f"{current_app.config['PORTAL_BASE_URL']}{path}"


def _sign_in_link(account_id: uuid.UUID | None) -> dict[str, str]:
    """The account's own sign-in page, which every email about an account links to."""
    account = db.session.get(Account, account_id) if account_id is not None else None
    if account is None:
        return {}
    return {
        "sign_in_url": external_url("auth.account_login", sign_in_name=account.sign_in_name),
        "sign_in_account": account.name,
    }


def enqueue(
    kind: str, to_address: str, subject: str, *, account_id: uuid.UUID | None = None, **context: Any
) -> OutboxEmail:
    """Render templates/email/<kind>.txt and .html and add the email to the session (no commit)."""
    context = {"subject": subject, **_sign_in_link(account_id), **context}
    email = OutboxEmail(
        id=uuid.uuid4(),  # known before the flush, so the causing row can point at it
        account_id=account_id,
        kind=kind,
        to_address=to_address,
        subject=subject[:200],
        body_text=render_template(f"email/{kind}.txt", **context),
        body_html=render_template(f"email/{kind}.html", **context),
        status=EmailStatus.QUEUED.value,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(email)
    return email
