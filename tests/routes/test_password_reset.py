"""Forgotten passwords (SECURITY L3, R1–R4, M6)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from portal import db
from portal.db import utcnow
from portal.models import LoginSession, OutboxEmail, PasswordResetToken, User
from tests.helpers import PASSWORD, Client, Portal

NEW_PASSWORD = "lighthouse keepers knit sweaters"


def reset_links(portal: Portal) -> list[str]:
    with portal.app.app_context():
        bodies = db.session.scalars(
            select(OutboxEmail.body_text).where(OutboxEmail.kind == "password_reset").order_by(OutboxEmail.created_at)
        ).all()
    return [re.search(r"(http\S+/password-reset/\S+)", body).group(1) for body in bodies]  # type: ignore[union-attr]


def path(link: str) -> str:
    return link.removeprefix("http://portal.example.com")


CHOOSE = "/password-reset/choose"


def open_link(client: Client, link: str) -> TestResponse:
    """Open an emailed link as a browser does: it moves the token into the session and redirects."""
    response = client.get(path(link))
    if response.status_code == 303:
        assert response.headers["Location"] == CHOOSE
    return response


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
    assert open_link(client, link).status_code == 303
    assert client.get(CHOOSE).status_code == 200
    response = client.post(CHOOSE, {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/login"  # M6: no auto sign-in
    assert client.get(f"/accounts/{account.id}/users").status_code == 302
    assert portal.scalar(select(func.count()).select_from(LoginSession)) == 0  # R4: every session ended
    assert elsewhere.get(f"/accounts/{account.id}/users").status_code == 302
    # Used once: the link is dead now, the session forgot it, and the new password works.
    assert client.get(CHOOSE).status_code == 410
    assert open_link(client, link).status_code == 410
    again = {"password": "another one entirely", "password_confirmation": "another one entirely"}
    assert client.post(CHOOSE, again).status_code == 410
    assert client.post(path(link), again).status_code == 405  # the link itself takes no password
    portal.client(owner, password=NEW_PASSWORD)


def test_expired_and_replaced_links_fail(portal: Portal) -> None:
    portal.account()
    client = portal.client()
    client.post("/password-reset", {"account": "acme", "login": "owner@example.com"})
    client.post("/password-reset", {"account": "acme", "login": "owner@example.com"})
    first, second = reset_links(portal)
    assert open_link(client, first).status_code == 410  # R1: a newer link kills older ones
    assert open_link(client, second).status_code == 303
    assert client.get(CHOOSE).status_code == 200
    with portal.app.app_context():
        db.session.execute(update(PasswordResetToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    # Expired while the form was open: the form refuses it, and so does the link.
    assert client.post(CHOOSE, {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}).status_code == 410
    assert client.get(CHOOSE).status_code == 410
    assert open_link(client, second).status_code == 410
    assert client.get("/password-reset/not-a-real-token").status_code == 410


def test_new_password_follows_the_policy_and_nothing_changes_before(portal: Portal) -> None:
    _account, owner = portal.account()
    client = portal.client()
    client.post("/password-reset", {"account": "acme", "login": "owner@example.com"})
    [link] = reset_links(portal)
    before = portal.get(User, owner.id).password_hash
    assert open_link(client, link).status_code == 303
    assert client.post(CHOOSE, {"password": "password1234", "password_confirmation": "password1234"}).status_code == 422
    assert client.post(CHOOSE, {"password": NEW_PASSWORD, "password_confirmation": "different"}).status_code == 422
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


def test_the_token_leaves_the_url_before_the_form_is_shown(portal: Portal) -> None:
    """R3: the link redirects to a URL without the token; the form page and its form carry none of it."""
    portal.account()
    client = portal.client()
    client.post("/password-reset", {"account": "acme", "login": "owner@example.com"})
    [link] = reset_links(portal)
    token = link.rsplit("/", 1)[1]
    response = client.get(path(link))
    assert response.status_code == 303 and response.headers["Location"] == CHOOSE
    assert response.get_data(as_text=True).count(token) == 0
    assert response.headers["Referrer-Policy"] == "same-origin" and response.headers["Cache-Control"] == "no-store"
    page = client.get(CHOOSE)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and token not in body
    assert f'action="{CHOOSE}"' in body and f'hx-post="{CHOOSE}"' in body
    assert page.headers["Referrer-Policy"] == "same-origin"
    # htmx: a refused password answers the form block alone, still without the token.
    refused = client.post(CHOOSE, {"password": "short", "password_confirmation": "short"}, hx=True)
    assert refused.status_code == 422 and token not in refused.get_data(as_text=True)
    assert refused.get_data(as_text=True).lstrip().startswith('<form id="choose_form"')


def test_the_form_needs_a_link_opened_in_this_browser(portal: Portal) -> None:
    """Another browser (another session) cannot use the form; nothing changes without the link."""
    _account, owner = portal.account()
    client = portal.client()
    client.post("/password-reset", {"account": "acme", "login": "owner@example.com"})
    [link] = reset_links(portal)
    assert open_link(client, link).status_code == 303
    before = portal.get(User, owner.id).password_hash
    stranger = portal.client()
    assert stranger.get(CHOOSE).status_code == 410
    assert stranger.post(CHOOSE, {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}).status_code == 410
    assert portal.get(User, owner.id).password_hash == before
    assert (
        client.post(CHOOSE, {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}, csrf=False).status_code
        == 400
    )  # CSRF still applies
    assert portal.get(User, owner.id).password_hash == before
    assert client.post(CHOOSE, {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}).status_code == 303
    assert portal.get(User, owner.id).password_hash != before


def test_choosing_is_rate_limited(portal: Portal, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The token-less form is still a guessing surface: its POST is limited as the link's was."""
    from portal import rate_limits

    guarded = rate_limits.guarded_endpoints(app)
    assert guarded["auth.password_reset_choose"] == {"GET"}  # opening the link checks its token
    assert guarded["auth.password_reset_form"] == {"POST"}
    monkeypatch.setitem(app.config, "RATELIMIT_PER_LOGIN", "2 per minute")
    monkeypatch.setitem(app.config, "RATELIMIT_PER_ADDRESS", "3 per minute")
    portal.account()
    client = portal.client()
    client.post("/password-reset", {"account": "acme", "login": "owner@example.com"})
    [link] = reset_links(portal)
    assert open_link(client, link).status_code == 303
    weak = {"password": "short", "password_confirmation": "short"}
    elsewhere = {"REMOTE_ADDR": "198.51.100.7"}
    assert [client.post(CHOOSE, weak, environ_base=elsewhere).status_code for _ in range(3)] == [422, 422, 429]
