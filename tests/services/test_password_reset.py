"""Using a password-reset link (portal.auth.password_reset.reset_password), without HTTP: the actor is the
person the link belongs to, and the audit event names them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from portal import actors, db, tokens
from portal.auth import password_reset
from portal.db import utcnow
from portal.models import AuditEvent, PasswordResetToken, User
from tests.helpers import Portal, Tenant


@pytest.fixture
def a(portal: Portal) -> Tenant:
    return portal.tenant("A")


def _link_of(user: User) -> str:
    token, token_hash = tokens.new_token_and_digest()
    db.session.add(PasswordResetToken(user_id=user.id, token_hash=token_hash, expires_at=utcnow() + timedelta(hours=1)))
    db.session.flush()
    return token


def test_the_link_resets_only_for_the_person_it_belongs_to(app: Flask, a: Tenant) -> None:
    with app.test_request_context():
        member, admin = db.session.get(User, a.member.id), db.session.get(User, a.admin.id)
        assert member is not None and admin is not None
        token = _link_of(member)
        assert password_reset.reset_password(token, "a long new passphrase", actor=actors.person(admin)) is None
        assert password_reset.reset_password(token, "a long new passphrase", actor=actors.person(member)) is member
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.password_reset"))
        assert event is not None and (event.actor_id, event.actor_label, event.target_id) == (
            member.id,
            member.login,
            str(member.id),
        )
