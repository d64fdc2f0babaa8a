"""Cross-cutting properties: deny by default, CSRF, tenant guard, headers, errors, htmx (SECURITY.md)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from flask import Flask

from portal.permissions import PUBLIC
from tests.helpers import Portal

PUBLIC_ENDPOINTS = {
    "auth.index",
    "auth.login",
    "auth.account_login",
    "auth.find_accounts",
    "auth.account_password_reset",
    "auth.login_mfa",
    "auth.signup",
    "auth.password_reset",
    "auth.password_reset_choose",
    "auth.password_reset_form",
    "invitation_accept.accept",
    "email_change.open_link",
    "email_change.confirm",
    "static",
    "ops.healthz",
    "ops.readyz",
    "ops.metrics",  # probes, and the scrape that checks its own bearer token
    "api_docs.openapi",
    "api_docs.docs",  # the JSON API's reference: what exists, not what anyone holds
    "sso.start_page",
    "sso.start",
    "sso.callback",
    "sso.link",  # signing in through the account's provider
}


def test_every_view_declares_its_access(app: Flask) -> None:
    """A1: each endpoint carries a rule; only the public allowlist is public."""
    for endpoint, view in app.view_functions.items():
        if endpoint == "static":
            continue
        rule = getattr(view, "_access", None)
        assert rule is not None, f"{endpoint} declares no access rule"
        assert (rule == PUBLIC) == (endpoint in PUBLIC_ENDPOINTS), endpoint


def test_every_account_route_is_behind_the_tenant_guard(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/accounts/"):
            assert rule.endpoint.startswith("accounts."), rule.rule
            assert rule.rule.startswith("/accounts/<uuid:account_id>/"), rule.rule


def _concrete(rule: str, account_id: uuid.UUID) -> str:
    url = rule.replace("<uuid:account_id>", str(account_id))
    return re.sub(r"<(?:\w+:)?\w+>", str(uuid.uuid4()), url)


def test_every_post_needs_a_csrf_token(app: Flask, portal: Portal) -> None:
    """C1: without a token every state-changing route answers 400 and does nothing."""
    account, owner = portal.account()
    client = portal.client(owner)
    rules = [r for r in app.url_map.iter_rules() if r.methods and r.methods & {"POST", "PUT", "PATCH", "DELETE"}]
    assert rules
    for rule in rules:
        # The JSON API takes API keys only (SECURITY K1): a cookie there is nobody, so no CSRF applies: 401.
        access = getattr(app.view_functions[rule.endpoint], "_access", None)
        key_only = isinstance(access, tuple) or access == "scim-token"  # SCIM: the provisioning token only
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            response = client.raw.open(_concrete(rule.rule, account.id), method=method)
            assert response.status_code == (401 if key_only else 400), (rule.rule, method)


def test_other_accounts_do_not_exist(portal: Portal) -> None:
    """A3: a foreign account id is 404 (not 403), for pages and for htmx."""
    mine, owner = portal.account("Mine", login="me")
    theirs, _ = portal.account("Theirs", login="them")
    client = portal.client(owner)
    assert client.get(f"/accounts/{mine.id}/users").status_code == 200
    for hx in (False, True):
        response = client.get(f"/accounts/{theirs.id}/users", hx=hx)
        assert response.status_code == 404
        assert "Theirs" not in response.get_data(as_text=True)
    assert client.get(f"/accounts/{uuid.uuid4()}/users").status_code == 404


@pytest.mark.parametrize("bad", ["not-a-uuid", "1", "00000000-0000-0000-0000", "%27%20OR%201=1"])
def test_malformed_ids_are_404(portal: Portal, bad: str) -> None:
    _, owner = portal.account()
    assert portal.client(owner).get(f"/accounts/{bad}/users").status_code == 404


def test_missing_permission_is_403_page_or_fragment(portal: Portal) -> None:
    account, _ = portal.account()
    member = portal.user(account, "member", roles=("member",))
    client = portal.client(member)
    page = client.get(f"/accounts/{account.id}/users")
    assert page.status_code == 403
    assert "<html" in page.get_data(as_text=True) and "users:read" in page.get_data(as_text=True)
    fragment = client.get(f"/accounts/{account.id}/users", hx=True)
    assert fragment.status_code == 403
    assert "<html" not in fragment.get_data(as_text=True)
    assert fragment.headers["HX-Retarget"] == "#messages"


def test_roles_not_active_in_the_session_grant_nothing(portal: Portal) -> None:
    """A held role that is not default is inactive at sign-in (seed 001's default_roles)."""
    account, _ = portal.account()
    user = portal.user(account, "quiet", roles=("user-manager",), default=False)
    assert portal.client(user).get(f"/accounts/{account.id}/users").status_code == 403


def _headers_ok(response) -> str:  # type: ignore[no-untyped-def]
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    for directive in (
        "'strict-dynamic'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "includeSubDomains" in headers["Strict-Transport-Security"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    return re.search(r"'nonce-([^']+)'", csp).group(1)  # type: ignore[union-attr]


def test_security_headers_everywhere(portal: Portal) -> None:
    """H2: pages, htmx fragments, errors and static files."""
    account, owner = portal.account()
    client = portal.client(owner)
    responses = [
        portal.client().get("/login"),
        client.get(f"/accounts/{account.id}/users"),
        client.get(f"/accounts/{account.id}/users", hx=True),
        client.get("/no/such/page"),
        client.get("/static/portal.js"),
    ]
    nonces = {_headers_ok(r) for r in responses}
    assert len(nonces) == len(responses)  # a fresh nonce per response


def test_scripts_carry_the_nonce_and_no_inline_script(portal: Portal) -> None:
    response = portal.client().get("/login")
    body = response.get_data(as_text=True)
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", body, re.S)
    assert len(scripts) == 2
    for attributes, content in scripts:
        assert f'nonce="{nonce}"' in attributes and "src=" in attributes and content.strip() == ""
    assert " style=" not in body


def test_pages_are_not_cached_and_vary_on_htmx(portal: Portal) -> None:
    """C5."""
    account, owner = portal.account()
    client = portal.client(owner)
    for hx in (False, True):
        response = client.get(f"/accounts/{account.id}/users", hx=hx)
        assert "HX-Request" in response.headers["Vary"]
        assert response.headers["Cache-Control"] == "no-store"
    body = client.get(f"/accounts/{account.id}/users").get_data(as_text=True)
    assert 'hx-history="false"' in body


def test_htmx_is_hardened(portal: Portal) -> None:
    """C6: the htmx-config meta turns eval and script tags off and keeps history out of storage."""
    body = portal.client().get("/login").get_data(as_text=True)
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", body)
    assert meta
    config = json.loads(meta.group(1))
    assert config["allowEval"] is False and config["allowScriptTags"] is False
    assert config["selfRequestsOnly"] is True and config["historyCacheSize"] == 0
    assert config["historyRestoreAsHxRequest"] is False
    assert {"code": "[45]..", "swap": True, "error": True} in config["responseHandling"]


def test_user_supplied_text_is_escaped(portal: Portal) -> None:
    """C6: a name made of htmx attributes is shown as text."""
    account, owner = portal.account()
    portal.user(account, "mallory", first_name='<div hx-get="/logout" hx-trigger="load">x</div>')
    body = portal.client(owner).get(f"/accounts/{account.id}/users").get_data(as_text=True)
    assert '<div hx-get="/logout"' not in body
    assert "&lt;div hx-get=&#34;/logout&#34;" in body


def test_htmx_csrf_failure_is_shown_not_swallowed(portal: Portal) -> None:
    """C3: an expired or missing token on an htmx POST shows a message in the page."""
    _, owner = portal.account()
    client = portal.client(owner)
    response = client.post("/logout", {"csrf_token": "expired"}, hx=True, csrf=False)
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#messages"
    assert "Reload the page" in response.get_data(as_text=True)


@pytest.fixture
def crashing_app(database_url: str, app: Flask) -> Flask:
    from portal.permissions import public
    from tests.conftest import make_test_app

    crashing = make_test_app(database_url, TESTING=False)

    @crashing.get("/boom")
    @public
    def boom() -> str:
        raise RuntimeError("secret internals: sqlalchemy password=hunter2")

    return crashing


def test_unexpected_errors_are_generic(crashing_app: Flask) -> None:
    """H3: a 500 shows no traceback or internals, as a page and as an htmx message."""
    client = crashing_app.test_client()
    for headers in (None, {"HX-Request": "true"}):
        response = client.get("/boom", headers=headers)
        body = response.get_data(as_text=True)
        assert response.status_code == 500
        assert "Traceback" not in body and "sqlalchemy" not in body and "hunter2" not in body
        assert "Something went wrong" in body
        _headers_ok(response)
