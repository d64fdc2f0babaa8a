"""The signed-in person's own pages: profile, password, MFA, sessions, API keys, recent sign-in."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pyotp
from sqlalchemy import func, select, update

from portal import db
from portal.db import utcnow
from portal.me.credentials import authenticate_api_key
from portal.models import ApiKey, AuditEvent, LoginSession, OutboxEmail, RecoveryCode, User
from tests.helpers import PASSWORD, Client, Portal, Tenant

NEW_PASSWORD = "seven silver salmon swim upstream"


def notices(portal: Portal) -> list[tuple[str, str]]:
    with portal.app.app_context():
        return [tuple(r) for r in db.session.execute(select(OutboxEmail.to_address, OutboxEmail.subject))]


def test_profile_edit(portal: Portal, a: Tenant) -> None:
    """The profile fields save at once; a new email becomes pending (tests/routes/test_email_changes.py)."""
    client = portal.client(a.member)
    assert client.get("/me").status_code == 200
    form = {"first_name": "Mem", "last_name": "Ber", "city": "Oslo", "email": "member-a@example.com"}
    assert client.post("/me", form).status_code == 303
    assert portal.get(User, a.member.id).city == "Oslo"
    assert client.post("/me", {**form, "email": "admin-a@example.com"}).status_code == 422  # taken in the account
    assert portal.get(User, a.member.id).email == "member-a@example.com"
    assert notices(portal) == []


def test_profile_ignores_privileged_fields(portal: Portal, a: Tenant) -> None:
    """A7."""
    client = portal.client(a.member)
    client.post(
        "/me",
        {
            "email": "member-a@example.com",
            "is_owner": "y",
            "status": "disabled",
            "login": "root",
            "account_id": "x",
            "mfa_enabled": "y",
        },
    )
    user = portal.get(User, a.member.id)
    assert (user.is_owner, user.status, user.login, user.mfa_enabled) == (False, "active", "member-a", False)


def test_own_password_change(portal: Portal, a: Tenant) -> None:
    """P5 and S3: the current password is needed; other sessions end, this one stays."""
    other, client = portal.client(a.member), portal.client(a.member)
    bad = {"current_password": "not it", "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}
    assert client.post("/me/password", bad).status_code == 422
    weak = {"current_password": PASSWORD, "password": "member-a-2026", "password_confirmation": "member-a-2026"}
    assert client.post("/me/password", weak).status_code == 422
    good = {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}
    assert client.post("/me/password", good).status_code == 303
    assert client.get("/me").status_code == 200
    assert other.get("/me").status_code == 302
    assert ("member-a@example.com", "Your password was changed") in notices(portal)
    portal.client(a.member, password=NEW_PASSWORD)


def enrol(client: Client) -> tuple[str, list[str]]:
    page = client.get("/me/mfa").get_data(as_text=True)
    secret = re.search(r'<code id="mfa_secret">([A-Z2-7]+)</code>', page).group(1)  # type: ignore[union-attr]
    assert "<svg" in page
    response = client.post("/me/mfa", {"code": pyotp.TOTP(secret).now()})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Your recovery codes" in body
    return secret, re.findall(r"<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>", body)


def test_mfa_enrolment_and_sign_in(portal: Portal, a: Tenant) -> None:
    other, client = portal.client(a.member), portal.client(a.member)
    assert client.post("/me/mfa", {"code": "123456"}).status_code == 422
    secret, codes = enrol(client)
    assert len(codes) == 10
    user = portal.get(User, a.member.id)
    assert user.mfa_enabled and secret not in (user.mfa_secret or "")
    assert other.get("/me").status_code == 302  # M4: other sessions end
    assert ("member-a@example.com", "Two-step sign-in is on") in notices(portal)
    # The codes are shown once: the page no longer has them.
    assert codes[0] not in client.get("/me/mfa").get_data(as_text=True)
    fresh = portal.client()
    signed = fresh.post("/login", {"account": "tenant-a", "login": "member-a", "password": PASSWORD})
    assert signed.headers["Location"] == "/login/mfa"
    assert fresh.post("/login/mfa", {"recovery_code": codes[0]}).status_code == 303


def test_mfa_disable_needs_password_and_code(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.member)
    secret, codes = enrol(client)
    assert client.post("/me/mfa/disable", {"current_password": "wrong", "code": codes[1]}).status_code == 422
    assert client.post("/me/mfa/disable", {"current_password": PASSWORD, "code": "000000"}).status_code == 422
    assert portal.get(User, a.member.id).mfa_enabled
    assert client.post("/me/mfa/disable", {"current_password": PASSWORD, "code": codes[1]}).status_code == 303
    user = portal.get(User, a.member.id)
    assert not user.mfa_enabled and user.mfa_secret is None
    assert portal.scalar(select(func.count()).select_from(RecoveryCode)) == 0


def test_recovery_codes_regenerate(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.member)
    secret, old = enrol(client)
    totp = pyotp.TOTP(secret)
    code = totp.at(utcnow() + timedelta(seconds=30))  # the enrolment used the current step
    response = client.post("/me/mfa/recovery-codes", {"code": code})
    new = re.findall(r"<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>", response.get_data(as_text=True))
    assert response.status_code == 200 and len(new) == 10 and not set(new) & set(old)


def test_sensitive_changes_need_a_recent_sign_in(portal: Portal, a: Tenant) -> None:
    """S6: an API key or MFA change with a sign-in older than 10 minutes goes through re-authentication."""
    client = portal.client(a.member)
    with portal.app.app_context():
        db.session.execute(update(LoginSession).values(authenticated_at=utcnow() - timedelta(minutes=11)))
        db.session.commit()
    response = client.post("/me/api-keys", {"name": "ci"})
    assert response.status_code == 303 and response.headers["Location"].startswith("/me/reauth?next=/me/api-keys")
    assert portal.scalar(select(func.count()).select_from(ApiKey)) == 0
    assert client.post("/me/reauth?next=/me/api-keys", {"password": "wrong"}).status_code == 401
    response = client.post("/me/reauth?next=/me/api-keys", {"password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/me/api-keys"
    assert client.post("/me/api-keys", {"name": "ci"}).status_code == 200


def test_api_keys_are_shown_once_and_stored_hashed(portal: Portal, a: Tenant) -> None:
    """K1."""
    client = portal.client(a.member)
    assert client.post("/me/api-keys", {"name": ""}).status_code == 422
    assert client.post("/me/api-keys", {"name": "old", "expires_on": "2001-01-01"}).status_code == 422
    body = client.post("/me/api-keys", {"name": "deploy", "expires_on": "2099-01-01"}).get_data(as_text=True)
    key = re.search(r'<code id="new_api_key">(ap_[\w-]+)</code>', body).group(1)  # type: ignore[union-attr]
    assert len(key) > 40
    stored = portal.scalar(select(ApiKey))
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in stored.prefix + stored.key_hash
    assert key not in client.get("/me/api-keys").get_data(as_text=True)
    with portal.app.app_context():
        assert authenticate_api_key(key)[1].id == a.member.id  # type: ignore[index]
        db.session.commit()
    assert portal.scalar(select(ApiKey.last_used_at)) is not None
    assert client.post(f"/me/api-keys/{stored.id}/revoke").status_code == 303
    with portal.app.app_context():
        assert authenticate_api_key(key) is None
    # Someone else's key is not yours to revoke.
    assert portal.client(a.admin).post(f"/me/api-keys/{stored.id}/revoke").status_code == 404
    events = portal.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("me.api_key%")))
    assert events == 2


def test_disabled_user_api_key_stops_working(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.member)
    body = client.post("/me/api-keys", {"name": "x"}).get_data(as_text=True)
    key = re.search(r'<code id="new_api_key">(ap_[\w-]+)</code>', body).group(1)  # type: ignore[union-attr]
    portal.client(a.admin).post(f"/accounts/{a.id}/users/{a.member.id}/disable")
    with portal.app.app_context():
        assert authenticate_api_key(key) is None


def test_sessions_list_and_sign_out(portal: Portal, a: Tenant) -> None:
    first, second, third = portal.client(a.member), portal.client(a.member), portal.client(a.member)
    page = first.get("/me/sessions").get_data(as_text=True)
    ids = re.findall(r'<tr id="session-([0-9a-f-]{36})"', page)
    assert len(ids) == 3 and "this session" in page
    with portal.app.app_context():
        mine = db.session.scalars(select(LoginSession.id).order_by(LoginSession.created_at)).all()
    assert first.post(f"/me/sessions/{mine[1]}/end").status_code == 303
    assert second.get("/me").status_code == 302 and third.get("/me").status_code == 200
    assert first.post("/me/sessions/end-others").status_code == 303
    assert third.get("/me").status_code == 302 and first.get("/me").status_code == 200
    # Another person's session is not found.
    admin = portal.client(a.admin)
    assert admin.post(f"/me/sessions/{mine[0]}/end").status_code == 404


# --- issue 17: readable sessions, recovery codes to keep, nothing left in the forms -----------------------


def test_after_enrolment_it_says_so_and_leaves_no_code_in_the_forms(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.member)
    page = client.get("/me/mfa").get_data(as_text=True)
    secret = re.search(r'<code id="mfa_secret">([A-Z2-7]+)</code>', page).group(1)  # type: ignore[union-attr]
    code = pyotp.TOTP(secret).now()
    body = client.post("/me/mfa", {"code": code}, hx=True).get_data(as_text=True)
    assert "Two-step sign-in is on" in body and "Two-step sign-in is on. Keep your recovery codes" in body
    assert f'value="{code}"' not in body  # the code just used fills neither "new codes" nor "turn it off"
    assert re.search(r'<input [^>]*name="code"[^>]*value=""', body) or 'name="code" type="text">' in body
    codes = re.findall(r"<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>", body)
    download = re.search(r'<a href="data:text/plain;charset=utf-8,([^"]+)" download="recovery-codes.txt"', body)
    assert download and all(c in download.group(1) for c in codes)
    assert "data-copy-codes data-js-only hidden" in body and "data-print-codes data-js-only hidden" in body


def test_sessions_say_which_browser_when_and_where(portal: Portal, a: Tenant) -> None:
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1"
    )
    clients = []
    for browser in (chrome, iphone):
        raw = portal.app.test_client()
        raw.environ_base["HTTP_USER_AGENT"] = browser
        clients.append(Client(raw))
        clients[-1].sign_in(a.member.login)
    mine = clients[0]
    earlier = {"created_at": utcnow() - timedelta(hours=3), "last_seen_at": utcnow() - timedelta(hours=2)}
    with portal.app.app_context():
        db.session.execute(update(LoginSession).where(LoginSession.user_agent == iphone).values(**earlier))
        db.session.commit()
    page = " ".join(mine.get("/me/sessions").get_data(as_text=True).split())
    assert '<strong>Chrome on Linux</strong> <span class="badge owner">this session</span>' in page
    assert "<strong>Mobile Safari on iOS</strong>" in page
    assert ">3 hours ago</time>" in page and ">2 hours ago</time>" in page and ">just now</time>" in page
    assert "127.0.0.1" in page
    # Signing the iPhone out is logged with its browser, not an id that means nothing once it is gone.
    iphone_id = portal.scalar(select(LoginSession.id).where(LoginSession.user_agent == iphone))
    assert mine.post(f"/me/sessions/{iphone_id}/end").status_code == 303
    event = portal.scalar(select(AuditEvent).where(AuditEvent.action == "me.session_end"))
    assert event.changes == {"browser": "Mobile Safari on iOS", "address": "127.0.0.1"}


def test_revoking_an_api_key_asks_first_without_javascript(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.member)
    client.post("/me/api-keys", {"name": "deploy"})
    key = portal.scalar(select(ApiKey).where(ApiKey.name == "deploy"))
    page = " ".join(client.get(f"/me/api-keys/{key.id}/revoke").get_data(as_text=True).split())
    assert "Revoke the API key deploy?" in page
    assert f'<form method="post" action="/me/api-keys/{key.id}/revoke">' in page
    assert portal.get(ApiKey, key.id).revoked_at is None
    assert portal.client(a.admin).get(f"/me/api-keys/{key.id}/revoke").status_code == 404
