"""Forgotten passwords (SECURITY L3, R1–R4, M6)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select, update

from portal import db
from portal.db import utcnow
from portal.models import LoginSession, OutboxEmail, PasswordResetToken, User
from tests.helpers import PASSWORD, Portal

NEW_PASSWORD = "lighthouse keepers knit sweaters"


def reset_links(portal: Portal) -> list[str]:
    with portal.app.app_context():
        bodies = db.session.scalars(
            select(OutboxEmail.body_text).where(OutboxEmail.kind == "password_reset").order_by(OutboxEmail.created_at)
        ).all()
    return [re.search(r"(http\S+/password-reset/\S+)", body).group(1) for body in bodies]  # type: ignore[union-attr]


def path(link: str) -> str:
    return link.removeprefix("http://portal.example.com")


def test_same_answer_whether_or_not_the_address_exists(portal: Portal) -> None:
    """L3: identical responses; only a real address gets mail."""
    portal.account()
    answers = []
    for email in ("owner@example.com", "nobody@example.com"):
        client = portal.client()
        response = client.post("/password-reset", {"account": "acme", "login": email})
        assert response.status_code == 303 and response.headers["Location"] == "/login"
        body = client.get("/login").get_data(as_text=True)
        answers.append(re.sub(r'(content|value|nonce)="[^"]+"', "X", body))
    assert "If that account has such a person" in answers[0]
    assert answers[0] == answers[1]
    assert portal.scalar(select(func.count()).select_from(OutboxEmail)) == 1


def test_link_resets_once_signs_out_everywhere_and_does_not_sign_in(portal: Portal) -> None:
    account, owner = portal.account()
    elsewhere = portal.client(owner)
    client = portal.client()
    client.post("/password-reset", {"account": "acme", "login": "OWNER@example.com"})
    [link] = reset_links(portal)
    assert link.startswith("http://portal.example.com/password-reset/")  # R2: the configured base URL
    token = link.rsplit("/", 1)[1]
    assert portal.scalar(select(PasswordResetToken.token_hash)) != token  # stored hashed
    assert client.get(path(link)).status_code == 200
    response = client.post(path(link), {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/login"  # M6: no auto sign-in
    assert client.get(f"/accounts/{account.id}/users").status_code == 302
    assert portal.scalar(select(func.count()).select_from(LoginSession)) == 0  # R4: every session ended
    assert elsewhere.get(f"/accounts/{account.id}/users").status_code == 302
    # Used once: the link is dead now, and the new password works.
    assert client.get(path(link)).status_code == 410
    assert (
        client.post(
            path(link), {"password": "another one entirely", "password_confirmation": "another one entirely"}
        ).status_code
        == 410
    )
    portal.client(owner, password=NEW_PASSWORD)


def test_expired_and_replaced_links_fail(portal: Portal) -> None:
    portal.account()
    client = portal.client()
    client.post("/password-reset", {"account": "acme", "login": "owner@example.com"})
    client.post("/password-reset", {"account": "acme", "login": "owner@example.com"})
    first, second = reset_links(portal)
    assert client.get(path(first)).status_code == 410  # R1: a newer link kills older ones
    assert client.get(path(second)).status_code == 200
    with portal.app.app_context():
        db.session.execute(update(PasswordResetToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert client.get(path(second)).status_code == 410
    assert client.get("/password-reset/not-a-real-token").status_code == 410


def test_new_password_follows_the_policy_and_nothing_changes_before(portal: Portal) -> None:
    _account, owner = portal.account()
    client = portal.client()
    client.post("/password-reset", {"account": "acme", "login": "owner@example.com"})
    [link] = reset_links(portal)
    before = portal.get(User, owner.id).password_hash
    assert (
        client.post(path(link), {"password": "password1234", "password_confirmation": "password1234"}).status_code
        == 422
    )
    assert client.post(path(link), {"password": NEW_PASSWORD, "password_confirmation": "different"}).status_code == 422
    assert portal.get(User, owner.id).password_hash == before
    portal.client(owner, password=PASSWORD)  # the old password still works until a valid reset


def test_disabled_users_get_no_link(portal: Portal) -> None:
    account, _owner = portal.account()
    portal.user(account, "gone", status="disabled")
    portal.client().post("/password-reset", {"account": "acme", "login": "gone@example.com"})
    assert reset_links(portal) == []


def test_duplicated_email_parameter_sends_to_the_stored_address_only(portal: Portal) -> None:
    """E1: a polluted parameter never sends a link to an attacker's address."""
    portal.account()
    client = portal.client()
    client.raw.post(
        "/password-reset",
        data={"account": "acme", "login": ["owner@example.com", "attacker@example.com"], "csrf_token": client.csrf()},
    )
    with portal.app.app_context():
        recipients = set(db.session.scalars(select(OutboxEmail.to_address)))
    assert recipients <= {"owner@example.com"}
