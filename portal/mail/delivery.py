"""Delivering the outbox over SMTP: retries with exponential backoff, and never one email twice.

A pass *claims* due emails first, in a short transaction of its own: on PostgreSQL the rows
are read with `FOR UPDATE SKIP LOCKED`, so workers running side by side never pick the same
row and never wait for each other; each claimed row is then leased (its next attempt moved
a few minutes ahead) with a conditional UPDATE, which is also what keeps two SQLite workers
apart. The emails are sent after that commit, so no row lock and no database write lock is
held while a mail server is slow, and each outcome is committed as soon as it is known.
A worker that dies mid-send leaves its lease to run out, and the email is tried again.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from portal import db
from portal.actors import Actor
from portal.audit.services import record
from portal.db import utcnow
from portal.errors import Conflict, NotFound
from portal.models import EmailStatus, OutboxEmail

MAX_ATTEMPTS = 6  # then the email is marked failed, with the server's last answer
BACKOFF_BASE = timedelta(minutes=1)  # 1, 2, 4, 8, 16 minutes between attempts
BACKOFF_MAX = timedelta(hours=1)
LEASE = timedelta(minutes=5)  # longer than SMTP_TIMEOUT: a claimed email is hidden this long
SMTP_TIMEOUT = 30


@dataclass
class PassReport:
    """What one delivery pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed


class SendError(Exception):
    """The email was not delivered, and why.

    `permanent`: the server refused it for good (5xx); retrying cannot help.
    `unreachable`: no conversation with the server (down, refused, TLS or login failed); the
    email is not at fault, so it keeps waiting however long the outage lasts.
    Anything else (4xx) is retried up to MAX_ATTEMPTS times.
    """

    def __init__(self, reason: str, permanent: bool = False, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:500]
        self.permanent = permanent
        self.unreachable = unreachable


def backoff(attempts: int) -> timedelta:
    """How long to wait after the given number of failed attempts (exponential, capped)."""
    return min(BACKOFF_BASE * (1 << max(0, attempts - 1)), BACKOFF_MAX)


def smtp_configured() -> bool:
    """Whether a mail server is configured; without one, emails wait in the outbox."""
    return bool(current_app.config.get("SMTP_HOST"))


def claim_due(now: datetime, limit: int) -> list[OutboxEmail]:
    """Claim up to `limit` due emails for this worker and commit the claim (see the module's note)."""
    due = db.session.scalars(
        select(OutboxEmail.id)
        .where(OutboxEmail.status == EmailStatus.QUEUED.value, OutboxEmail.next_attempt_at <= now)
        .order_by(OutboxEmail.next_attempt_at, OutboxEmail.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    claimed: list[uuid.UUID] = []
    for email_id in due:
        result = db.session.execute(
            update(OutboxEmail)
            .where(
                OutboxEmail.id == email_id,
                OutboxEmail.status == EmailStatus.QUEUED.value,
                OutboxEmail.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + LEASE, attempts=OutboxEmail.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(email_id)
    db.session.commit()
    if not claimed:
        return []
    return list(
        db.session.scalars(
            select(OutboxEmail)
            .where(OutboxEmail.id.in_(claimed))
            .order_by(OutboxEmail.next_attempt_at, OutboxEmail.id)
            .execution_options(populate_existing=True)
        )
    )


def build_message(email: OutboxEmail) -> EmailMessage:
    """The MIME message: a plain-text part and, when there is one, an HTML alternative."""
    sender = current_app.config["MAIL_FROM"]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "account-portal"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message["Date"] = formatdate(usegmt=True)
    # Stable per outbox row: a receiver that sees one id twice can tell it is one email.
    message["Message-ID"] = f"<{email.id}@{domain}>"
    message.set_content(email.body_text)
    if email.body_html:
        message.add_alternative(email.body_html, subtype="html")
    return message


def _reason(code: int, text: bytes | str) -> str:
    message = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{code} {message}".strip()


class Mailer:
    """One SMTP connection per pass, opened on first use and reopened after a failure."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.connection: smtplib.SMTP | None = None
        self.unreachable: SendError | None = None  # once the server cannot be reached, stop trying

    def _connect(self) -> smtplib.SMTP:
        host, port = self.config["SMTP_HOST"], self.config["SMTP_PORT"]
        try:
            connection = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
            if self.config.get("SMTP_STARTTLS"):
                connection.starttls(context=ssl.create_default_context())
            if self.config.get("SMTP_USERNAME"):
                connection.login(self.config["SMTP_USERNAME"], self.config.get("SMTP_PASSWORD", ""))
        except smtplib.SMTPResponseException as error:
            raise SendError(_reason(error.smtp_code, error.smtp_error), unreachable=True) from None
        except (OSError, smtplib.SMTPException) as error:
            raise SendError(f"Could not connect to {host}:{port}: {error}", unreachable=True) from None
        return connection

    def send(self, message: EmailMessage) -> None:
        """Hand the message to the server, or raise SendError with the server's reason."""
        if self.unreachable is not None:
            raise self.unreachable
        if self.connection is None:
            try:
                self.connection = self._connect()
            except SendError as error:
                self.unreachable = error
                raise
        try:
            refused = self.connection.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise SendError(_reason(code, text), permanent=code >= 500) from None
        except smtplib.SMTPResponseException as error:
            self.close()
            raise SendError(_reason(error.smtp_code, error.smtp_error), permanent=error.smtp_code >= 500) from None
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            raise SendError(f"Connection to the mail server failed: {error}", unreachable=True) from None
        if refused:  # a single recipient, so this cannot be partial; kept for safety
            code, text = next(iter(refused.values()))
            raise SendError(_reason(code, text), permanent=code >= 500)

    def close(self) -> None:
        """Say goodbye to the server, ignoring a connection that already broke."""
        if self.connection is not None:
            try:
                self.connection.quit()
            except (OSError, smtplib.SMTPException):
                self.connection.close()
            self.connection = None


def _record_outcome(email: OutboxEmail, error: SendError | None, now: datetime) -> str:
    if error is None:
        values: dict[str, Any] = {"status": EmailStatus.SENT.value, "sent_at": now, "last_error": ""}
        outcome = "sent"
    elif error.permanent or (email.attempts >= MAX_ATTEMPTS and not error.unreachable):
        values = {"status": EmailStatus.FAILED.value, "last_error": error.reason}
        outcome = "failed"
    else:
        values = {"next_attempt_at": now + backoff(email.attempts), "last_error": error.reason}
        outcome = "retrying"
    db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.id == email.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return outcome


def deliver_due(now: datetime | None = None, limit: int = 50, clock: Callable[[], datetime] = utcnow) -> PassReport:
    """One pass: claim what is due, send it, commit each outcome. Does nothing without SMTP_HOST."""
    report = PassReport()
    if not smtp_configured():
        return report
    emails = claim_due(now or clock(), limit)
    if not emails:
        return report
    mailer = Mailer(dict(current_app.config))
    try:
        for email in emails:
            error: SendError | None = None
            try:
                mailer.send(build_message(email))
            except SendError as caught:
                error = caught
                current_app.logger.warning(
                    "Email %s (%s) not delivered, attempt %d: %s", email.id, email.kind, email.attempts, caught.reason
                )
            outcome = _record_outcome(email, error, now or clock())
            setattr(report, outcome, getattr(report, outcome) + 1)
    finally:
        mailer.close()
    return report


def retry(email_id: uuid.UUID, account_id: uuid.UUID, *, actor: Actor) -> OutboxEmail:
    """Queue a failed email of the account again, for a fresh series of attempts (no commit)."""
    email = db.session.scalars(
        select(OutboxEmail).where(OutboxEmail.id == email_id, OutboxEmail.account_id == account_id)
    ).first()
    if email is None:
        raise NotFound("There is no such email.")
    if email.status != EmailStatus.FAILED.value:
        raise Conflict("Only an email whose delivery failed can be retried.")
    email.status = EmailStatus.QUEUED.value
    email.attempts = 0
    email.next_attempt_at = utcnow()
    record(
        "email.retry",
        email,
        actor=actor,
        account_id=account_id,
        changes={"kind": email.kind, "to": email.to_address, "last_error": email.last_error},
    )
    return email
