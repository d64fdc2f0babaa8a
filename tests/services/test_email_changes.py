"""The email-change service's rules, as plain functions in an app context (issue 13, section 3)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import actors, db
from portal.db import utcnow
from portal.email_changes import queries, services
from portal.errors import Conflict, Invalid
from portal.models import EmailChange, User, UserStatus
from tests.helpers import Tenant


def test_a_newer_request_cancels_the_older_one(app: Flask, a: Tenant) -> None:
    with app.test_request_context():
        member, admin = db.session.get(User, a.member.id), db.session.get(User, a.admin.id)
        assert member is not None and admin is not None
        first = services.request_change(member, "first@example.com", actor=actors.person(admin))
        second = services.request_change(member, "Second@Example.com ", actor=actors.person(member))
        db.session.commit()
        db.session.refresh(first)
        assert first.cancelled_at is not None and second.new_email == "second@example.com"
        assert queries.open_change(member.id) == second
        assert member.email == "member-a@example.com"  # in force until confirmed
        pending = queries.pending_email(member.id)
        assert pending is not None and pending.by_themselves and pending.requested_by == member


def test_one_open_change_per_user_is_enforced_by_the_database(app: Flask, a: Tenant) -> None:
    with app.app_context():
        later = utcnow() + timedelta(hours=1)
        for address in ("one@example.com", "two@example.com"):
            db.session.add(
                EmailChange(
                    account_id=a.id,
                    user_id=a.member.id,
                    new_email=address,
                    token_hash=secrets.token_hex(32),
                    expires_at=later,
                )
            )
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(EmailChange)) == 0


def test_refused_requests_change_nothing(app: Flask, a: Tenant) -> None:
    with app.test_request_context():
        member, admin = db.session.get(User, a.member.id), db.session.get(User, a.admin.id)
        assert member is not None and admin is not None
        with pytest.raises(Invalid):
            services.request_change(member, "member-a@example.com", actor=actors.person(admin))  # the current one
        with pytest.raises(Invalid, match="already used"):
            services.request_change(member, "auditor-a@example.com", actor=actors.person(admin))
        member.status = UserStatus.PENDING.value
        with pytest.raises(Conflict, match="invitation"):
            services.request_change(member, "fresh@example.com", actor=actors.person(admin))
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(EmailChange)) == 0
