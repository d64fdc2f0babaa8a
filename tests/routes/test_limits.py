"""Rate limits (issue 8, SECURITY L4): per address and per login, a readable 429 page and fragment,
the guarded routes chosen by URL, and the client address taken from trusted proxies only."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from portal import rate_limits
from portal.models import LoginThrottle
from tests.helpers import HX, PASSWORD, Client, Portal

ELSEWHERE = {"REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture
def low_limits(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two attempts per login and three per address, a minute (limits are read per request)."""
    monkeypatch.setitem(app.config, "RATELIMIT_PER_LOGIN", "2 per minute")
    monkeypatch.setitem(app.config, "RATELIMIT_PER_ADDRESS", "3 per minute")


def sign_in(
    client: Client, login: str, password: str = "wrong password here", hx: bool = False, **kwargs: Any
) -> TestResponse:
    """POST /login with the session's CSRF token; extra kwargs (headers, environ_base) go to the test client."""
    headers = {**(HX if hx else {}), **kwargs.pop("headers", {})}
    data = {"account": "acme", "login": login, "password": password, "csrf_token": client.csrf()}
    return client.raw.post("/login", data=data, headers=headers, **kwargs)


def test_the_third_attempt_on_one_login_is_429_with_a_readable_page(portal: Portal, low_limits: None) -> None:
    portal.account()
    client = portal.client()
    assert [sign_in(client, "owner").status_code for _ in range(2)] == [401, 401]
    response = sign_in(client, "owner", PASSWORD)  # the right password too: the limit counts attempts
    body = response.get_data(as_text=True)
    assert response.status_code == 429
    assert body.startswith("<!doctype html>") and "<h1>429 · Too many attempts</h1>" in body
    assert "Too many attempts. Wait a minute and try again." in body
    assert response.headers["Retry-After"] == "60"
    assert response.headers["X-Correlation-Id"] and "Content-Security-Policy" in response.headers
    assert "X-RateLimit-Remaining" not in response.headers  # L1: no per-login counters in headers
    with portal.app.app_context():
        from portal import db

        # the login's count and the address's: the refused attempt reached no password check
        assert db.session.query(LoginThrottle).count() == 2


def test_htmx_gets_the_message_in_the_message_area(portal: Portal, low_limits: None) -> None:
    client = portal.client()
    for _ in range(2):
        sign_in(client, "someone", hx=True)
    response = sign_in(client, "someone", hx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 429
    assert body.lstrip().startswith('<article id="error"') and "Wait a minute" in body and "<html" not in body
    assert response.headers["HX-Retarget"] == "#messages" and response.headers["HX-Reswap"] == "innerHTML"


def test_per_address_limit_counts_every_login(portal: Portal, low_limits: None) -> None:
    client = portal.client()
    assert [sign_in(client, f"user{i}").status_code for i in range(3)] == [401, 401, 401]
    assert sign_in(client, "user9").status_code == 429
    assert sign_in(client, "user9", environ_base=ELSEWHERE).status_code == 401  # another address


def test_per_login_limit_holds_across_addresses(portal: Portal, low_limits: None) -> None:
    client = portal.client()
    statuses = [sign_in(client, "target", environ_base={"REMOTE_ADDR": f"203.0.113.{i}"}).status_code for i in range(3)]
    assert statuses == [401, 401, 429]
    assert sign_in(client, " TARGET ", environ_base={"REMOTE_ADDR": "203.0.113.99"}).status_code == 429  # normalised


def test_pages_and_other_routes_are_not_limited(portal: Portal, low_limits: None) -> None:
    _account, owner = portal.account()
    client = portal.client()
    assert all(client.get("/login").status_code == 200 for _ in range(6))
    signed_in = portal.client(owner)
    assert all(signed_in.get(f"/accounts/{owner.account_id}/users").status_code == 200 for _ in range(6))


def test_password_reset_and_invitation_links_are_limited(portal: Portal, low_limits: None) -> None:
    client = portal.client()
    reset = {"account": "acme", "login": "who@example.com"}
    statuses = [client.post("/password-reset", reset).status_code for _ in range(3)]
    assert statuses[:2] != [429, 429] and statuses[2] == 429
    # Opening an invitation link checks its token: GET counts too, per token and per address.
    other = portal.client()
    statuses = [other.get("/invitations/accept/guess-token", environ_base=ELSEWHERE).status_code for _ in range(3)]
    assert statuses[:2] == [410, 410] and statuses[2] == 429


def test_guarded_routes_are_chosen_by_url(app: Flask) -> None:
    guarded = rate_limits.guarded_endpoints(app)
    assert guarded["auth.login"] == {"POST"}
    assert guarded["auth.login_mfa"] == {"POST"}
    assert guarded["auth.password_reset"] == {"POST"}
    assert guarded["auth.password_reset_choose"] == {"GET"}
    assert guarded["auth.password_reset_form"] == {"POST"}
    assert guarded["invitation_accept.accept"] == {"GET", "POST"}
    assert guarded["auth.signup"] == {"POST"}
    for endpoint in ("auth.logout", "accounts.users.index", "accounts.users.create", "accounts.audit.index"):
        assert endpoint not in guarded
    for endpoint in guarded:  # the wrapper keeps the view's access rule
        assert getattr(app.view_functions[endpoint], "_access", None) is not None


def test_a_test_app_with_a_low_limit_in_its_config(database_url: str, app: Flask) -> None:
    """The limits come from the config create_app reads (RATELIMIT_PER_LOGIN, RATELIMIT_PER_ADDRESS)."""
    from tests.conftest import make_test_app

    strict = make_test_app(database_url, RATELIMIT_PER_LOGIN="1 per hour", RATELIMIT_PER_ADDRESS="100 per hour")
    client = Client(strict.test_client())
    assert sign_in(client, "anyone").status_code == 401
    response = sign_in(client, "anyone")
    assert response.status_code == 429 and response.headers["Retry-After"] == "3600"
    assert "Wait an hour" in response.get_data(as_text=True)


def test_a_malformed_limit_fails_at_start(database_url: str, app: Flask) -> None:
    from tests.conftest import make_test_app

    with pytest.raises(ValueError):
        make_test_app(database_url, RATELIMIT_PER_LOGIN="ten a minute")


def test_forwarded_addresses_count_only_behind_trusted_proxies(
    database_url: str, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H4: X-Forwarded-For is ignored unless TRUSTED_PROXIES says a proxy sets it."""
    from tests.conftest import make_test_app

    monkeypatch.setitem(app.config, "RATELIMIT_PER_ADDRESS", "2 per minute")
    spoofing = Client(app.test_client())
    statuses = [sign_in(spoofing, f"u{i}", headers={"X-Forwarded-For": f"192.0.2.{i}"}).status_code for i in range(3)]
    assert statuses == [401, 401, 429]  # one address however the header varies

    proxied = make_test_app(database_url, TRUSTED_PROXIES=1, RATELIMIT_PER_ADDRESS="2 per minute")
    client = Client(proxied.test_client())
    statuses = [sign_in(client, f"v{i}", headers={"X-Forwarded-For": f"192.0.2.{i}"}).status_code for i in range(3)]
    assert statuses == [401, 401, 401]  # three clients behind one proxy
