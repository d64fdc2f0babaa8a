"""Retention (issue 19): the worker deletes audit events, delivered emails, ended sessions and used
tokens past their settings, a batch at a time, and keeps everything else."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal import db, retention
from portal.db import utcnow
from portal.mail.delivery import LEASE
from portal.models import AuditEvent, LoginSession, OutboxEmail, PasswordResetToken, RecoveryCode
from tests.helpers import Portal

DAY = timedelta(days=1)


def _count(app: Flask, model: type) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _labels(app: Flask, model: type, column: str) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(getattr(model, column))))


def test_a_sweep_deletes_what_is_past_retention_and_keeps_the_rest(app: Flask, portal: Portal) -> None:
    account, owner = portal.account()
    now = utcnow()
    idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    with app.app_context():
        db.session.query(AuditEvent).delete()  # the account's creation events
        for label, age in (("old", 401 * DAY), ("kept", 399 * DAY)):
            db.session.add(
                AuditEvent(account_id=account.id, action="user.update", target_label=label, created_at=now - age)
            )
        for label, status, age in (
            ("old", "sent", 31 * DAY),
            ("kept", "sent", 29 * DAY),
            ("queued", "queued", 60 * DAY),
            ("failed", "failed", 60 * DAY),
        ):
            sent = now - age if status == "sent" else None
            db.session.add(
                OutboxEmail(
                    account_id=account.id,
                    kind="invitation",
                    to_address=f"{label}@example.com",
                    subject=label,
                    body_text="b",
                    status=status,
                    sent_at=sent,
                    next_attempt_at=(sent - timedelta(seconds=5) + LEASE) if sent else now - age,
                    created_at=now - age,
                )
            )
        for agent, seen, created in (
            ("idle-ended", 31 * DAY + idle, 40 * DAY),
            ("absolute-ended", timedelta(0), 32 * DAY),
            ("ended-yesterday", DAY + idle, 2 * DAY),
            ("live", timedelta(0), DAY),
        ):
            db.session.add(
                LoginSession(
                    user_id=owner.id,
                    token_hash=uuid.uuid4().hex,
                    user_agent=agent,
                    last_seen_at=now - seen,
                    created_at=now - created,
                )
            )
        for digest, used, expires in (
            ("used-old", 31 * DAY, -30 * DAY),
            ("expired-old", None, 31 * DAY),
            ("used-recently", DAY, -30 * DAY),
            ("valid", None, -DAY / 24),
        ):
            db.session.add(
                PasswordResetToken(
                    user_id=owner.id, token_hash=digest, expires_at=now - expires, used_at=now - used if used else None
                )
            )
        for code_hash, used in (("used-old", 31 * DAY), ("used-recently", DAY), ("unused", None)):
            db.session.add(
                RecoveryCode(
                    user_id=owner.id,
                    code_hash=code_hash,
                    used_at=now - used if used else None,
                    created_at=now - 100 * DAY,
                )
            )
        db.session.commit()

        report = retention.sweep_batch()

    assert report.deleted == {
        "audit_events": 1,
        "outbox_emails": 1,
        "sessions": 2,
        "password_reset_tokens": 2,
        "recovery_codes": 1,
        "jobs": 0,  # jobs: tests/routes/test_jobs.py
        "sso_auth_requests": 0,
        "sso_recovery_codes": 0,
    }
    assert not report.more
    assert _labels(app, AuditEvent, "target_label") == {"kept"}
    assert _labels(app, OutboxEmail, "subject") == {"kept", "queued", "failed"}
    assert _labels(app, LoginSession, "user_agent") == {"ended-yesterday", "live"}
    assert _labels(app, PasswordResetToken, "token_hash") == {"used-recently", "valid"}
    assert _labels(app, RecoveryCode, "code_hash") == {"used-recently", "unused"}


def test_the_sweep_goes_in_batches_and_zero_keeps_forever(
    app: Flask, portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, _owner = portal.account()
    with app.app_context():
        db.session.query(AuditEvent).delete()
        db.session.add_all(
            AuditEvent(account_id=account.id, action="user.update", created_at=utcnow() - 500 * DAY) for _ in range(5)
        )
        db.session.commit()
        monkeypatch.setitem(app.config, "AUDIT_RETENTION_DAYS", 0)
        assert retention.sweep_batch(limit=2).total == 0
        assert _count(app, AuditEvent) == 5
        monkeypatch.setitem(app.config, "AUDIT_RETENTION_DAYS", 400)
        first = retention.sweep_batch(limit=2)
        assert first.deleted["audit_events"] == 2 and first.more
        assert _count(app, AuditEvent) == 3
        assert retention.sweep_batch(limit=2, should_stop=lambda: True).total == 0  # a stopping worker sweeps no more


def test_the_worker_sweeps_until_nothing_is_left(app: Flask, portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    account, _owner = portal.account()
    monkeypatch.setattr(retention, "BATCH", 3)
    with app.app_context():
        db.session.add_all(
            AuditEvent(account_id=account.id, action="user.update", created_at=utcnow() - 500 * DAY) for _ in range(7)
        )
        db.session.commit()
    once = app.test_cli_runner().invoke(args=["portal", "worker", "--once"])
    assert once.exit_code == 0 and "swept audit_events 3" in once.output  # --once: one batch
    assert _count(app, AuditEvent) == 4

    from portal import worker

    batches: list[int] = []
    real = retention.sweep_batch

    def sweep(**kwargs: object) -> retention.SweepReport:
        report = real(**kwargs)  # type: ignore[arg-type]
        batches.append(report.total)
        if len(batches) == 3:
            raise KeyboardInterrupt  # stop the loop once it has had the chance to go on
        return report

    monkeypatch.setattr(worker.retention, "sweep_batch", sweep)
    looped = app.test_cli_runner().invoke(args=["portal", "worker", "--sweep-interval", "0.01"])
    assert looped.exit_code == 0, looped.output
    assert batches[:2] == [3, 1]  # a full batch runs again at once, until a batch is not full
    assert _count(app, AuditEvent) == 0


def test_sso_sign_in_requests_and_used_sso_recovery_codes_are_swept(app: Flask, portal: Portal) -> None:
    """An SSO sign-in request is of use for ten minutes: the worker deletes those older than
    SSO_REQUEST_RETENTION_DAYS (1), used or not, whether or not anyone starts a sign-in; used SSO
    recovery codes go after TOKEN_RETENTION_DAYS like the MFA ones."""
    from portal.models import SsoAuthRequest, SsoConnection, SsoRecoveryCode

    account, owner = portal.account()
    now = utcnow()
    with app.app_context():
        connection = SsoConnection(
            account_id=account.id,
            display_name="IdP",
            discovery_url="https://idp.example.com",
            client_id="c",
            client_secret_sealed="x",
        )
        db.session.add(connection)
        db.session.flush()
        for label, age, used in (
            ("abandoned", 2 * DAY, False),
            ("used", 2 * DAY, True),
            ("in-flight", timedelta(minutes=3), False),
            ("today", DAY / 2, True),
        ):
            db.session.add(
                SsoAuthRequest(
                    connection_id=connection.id,
                    state_hash=label,
                    nonce="n",
                    code_verifier_sealed="v",
                    next_path=label,
                    created_at=now - age,
                    used_at=now - age if used else None,
                )
            )
        for code_hash, used in (("used-old", 31 * DAY), ("used-recently", DAY), ("unused", None)):
            db.session.add(
                SsoRecoveryCode(
                    account_id=account.id,
                    code_hash=code_hash,
                    created_at=now - 100 * DAY,
                    used_at=now - used if used else None,
                )
            )
        db.session.commit()

        report = retention.sweep_batch()

    assert report.deleted["sso_auth_requests"] == 2 and report.deleted["sso_recovery_codes"] == 1
    assert _labels(app, SsoAuthRequest, "next_path") == {"in-flight", "today"}
    assert _labels(app, SsoRecoveryCode, "code_hash") == {"used-recently", "unused"}
