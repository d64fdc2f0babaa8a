"""Retention (issue 19): the worker deletes what is kept no longer, a batch at a time.

| what | setting | default | deleted when |
| --- | --- | --- | --- |
| audit events | AUDIT_RETENTION_DAYS | 400 | recorded longer ago |
| delivered outbox emails | OUTBOX_RETENTION_DAYS | 30 | sent longer ago (queued and failed ones stay) |
| ended sessions | SESSION_RETENTION_DAYS | 30 | timed out (idle or absolute) longer ago; sign-out deletes at once |
| used tokens | TOKEN_RETENTION_DAYS | 30 | reset links used or expired, MFA and SSO recovery codes used, longer ago |
| finished jobs | JOB_RETENTION_DAYS | 30 | done, failed or cancelled longer ago (reports and files go with them) |
| SSO sign-in requests | SSO_REQUEST_RETENTION_DAYS | 1 | started longer ago, used or not (each serves 10 minutes) |

0 keeps a kind forever. Each batch selects at most `limit` ids of one kind along an index (on
PostgreSQL `FOR UPDATE SKIP LOCKED`, so two workers sweeping at once take different rows) and
deletes them in a transaction of its own, so that a sweep never holds long locks and a stopping
worker ends it between two batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, delete, or_, select

from portal import db
from portal.db import utcnow
from portal.mail.delivery import LEASE
from portal.models import (
    AuditEvent,
    EmailStatus,
    Job,
    LoginSession,
    OutboxEmail,
    PasswordResetToken,
    RecoveryCode,
    SsoAuthRequest,
    SsoRecoveryCode,
)
from portal.models.job import OPEN_STATES
from portal.request_log import log_event

BATCH = 1000


@dataclass(frozen=True)
class Rule:
    """One kind of row with a retention setting: the model, and what is old enough to go given the cutoff."""

    name: str
    setting: str
    model: Any
    old: Callable[[datetime], ColumnElement[bool]]


def _sent_emails(cutoff: datetime) -> ColumnElement[bool]:
    # A sent email's next_attempt_at is its last claim plus LEASE, and it was sent after that claim:
    # sent before the cutoff means next_attempt_at before cutoff + LEASE, a range of the status index.
    return and_(
        OutboxEmail.status == EmailStatus.SENT.value,
        OutboxEmail.next_attempt_at < cutoff + LEASE,
        OutboxEmail.sent_at < cutoff,
    )


def _ended_sessions(cutoff: datetime) -> ColumnElement[bool]:
    config = current_app.config
    idle = timedelta(minutes=config["SESSION_IDLE_MINUTES"])
    absolute = timedelta(hours=config["SESSION_MAX_HOURS"])
    return or_(LoginSession.last_seen_at < cutoff - idle, LoginSession.created_at < cutoff - absolute)


RULES: list[Rule] = [
    Rule("audit_events", "AUDIT_RETENTION_DAYS", AuditEvent, lambda cutoff: AuditEvent.created_at < cutoff),
    Rule("outbox_emails", "OUTBOX_RETENTION_DAYS", OutboxEmail, _sent_emails),
    Rule("sessions", "SESSION_RETENTION_DAYS", LoginSession, _ended_sessions),
    Rule(
        "password_reset_tokens",
        "TOKEN_RETENTION_DAYS",
        PasswordResetToken,
        lambda cutoff: or_(PasswordResetToken.used_at < cutoff, PasswordResetToken.expires_at < cutoff),
    ),
    Rule("recovery_codes", "TOKEN_RETENTION_DAYS", RecoveryCode, lambda cutoff: RecoveryCode.used_at < cutoff),
    Rule(
        "jobs", "JOB_RETENTION_DAYS", Job, lambda cutoff: and_(Job.finished_at < cutoff, Job.state.not_in(OPEN_STATES))
    ),
    # A sign-in request (state, nonce, sealed PKCE verifier, the claims of a link step) serves ten minutes;
    # along ix_sso_auth_requests_created_at.
    Rule(
        "sso_auth_requests",
        "SSO_REQUEST_RETENTION_DAYS",
        SsoAuthRequest,
        lambda cutoff: SsoAuthRequest.created_at < cutoff,
    ),
    Rule(
        "sso_recovery_codes", "TOKEN_RETENTION_DAYS", SsoRecoveryCode, lambda cutoff: SsoRecoveryCode.used_at < cutoff
    ),
]


@dataclass
class SweepReport:
    """Rows deleted by one batch of each rule; `more` when some rule filled its batch (more may be due)."""

    deleted: dict[str, int] = field(default_factory=dict)
    more: bool = False

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def _delete_batch(rule: Rule, cutoff: datetime, limit: int) -> int:
    ids = db.session.scalars(
        select(rule.model.id).where(rule.old(cutoff)).limit(limit).with_for_update(skip_locked=True)
    ).all()
    if ids:
        db.session.execute(
            delete(rule.model).where(rule.model.id.in_(ids)).execution_options(synchronize_session=False)
        )
    db.session.commit()
    return len(ids)


def sweep_batch(
    limit: int | None = None, now: datetime | None = None, should_stop: Callable[[], bool] = lambda: False
) -> SweepReport:
    """Delete at most `limit` (BATCH) rows of each kind past its retention (each batch committed on its own)."""
    limit = limit or BATCH
    moment = now or utcnow()
    report = SweepReport()
    for rule in RULES:
        days = int(current_app.config[rule.setting])
        if days <= 0 or should_stop():
            continue
        deleted = _delete_batch(rule, moment - timedelta(days=days), limit)
        report.deleted[rule.name] = deleted
        report.more = report.more or deleted >= limit
    if report.total:
        log_event("retention_sweep", level=logging.INFO, **{k: v for k, v in report.deleted.items() if v})
    return report
