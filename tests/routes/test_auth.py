"""Sign-up, sign-in, sign-out and sessions (P5 aside: SECURITY.md L1, L2, S1, S2, S4, S5)."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import func, select, update

from portal import db
from portal.auth import passwords
from portal.db import utcnow
from portal.models import Account, LoginSession, Role, RoleAssignment, User
from tests.helpers import HX, PASSWORD, Client, Portal, csrf_token_in

SIGNUP = {
    "account_name": "Initech",
    "login": "Peter.Gibbons",
    "email": "Peter@Example.com",
    "first_name": "Peter",
    "last_name": "Gibbons",
    "password": "tps reports every friday",
    "password_confirmation": "tps reports every friday",
}


def test_signup_creates_account_owner_and_builtin_roles_and_signs_in(portal: Portal) -> None:
    client = portal.client()
    response = client.post("/signup", SIGNUP)
    assert response.status_code == 303
    owner = portal.scalar(select(User))
    assert (owner.login, owner.email, owner.is_owner, owner.status) == (
        "peter.gibbons",
        "peter@example.com",
        True,
        "active",
    )
    assert owner.password_hash.startswith("$argon2id$")
    assert response.headers["Location"] == f"/accounts/{owner.account_id}/users"
    assert portal.scalar(select(Account.name)) == "Initech"
    with portal.app.app_context():
        roles = set(db.session.scalars(select(Role.name).where(Role.account_id == owner.account_id)))
        held = db.session.scalar(
            select(func.count()).select_from(RoleAssignment).where(RoleAssignment.user_id == owner.id)
        )
    assert roles == {"account-admin", "user-manager", "group-manager", "auditor", "member"}
    assert held == 1
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Initech" in page.get_data(as_text=True)
    assert "Welcome! Your account Initech is ready." in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "email address"),
        ("login", "Bad Login!", "starting with a letter"),
        ("password", "short", "at least 12"),
        ("password", "password1234", "too common"),
        ("password", "Initech2026!!", "account"),
        ("password_confirmation", "something else entirely", "differ"),
        ("account_name", "", "required"),
    ],
)
def test_signup_with_bad_input_is_422_and_changes_nothing(portal: Portal, field: str, value: str, message: str) -> None:
    data = {**SIGNUP, field: value}
    if field == "password":
        data["password_confirmation"] = value
    response = portal.client().post("/signup", data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True).lower() or message in response.get_data(as_text=True)
    assert portal.scalar(select(func.count()).select_from(Account)) == 0


def test_signup_error_as_htmx_returns_only_the_form(portal: Portal) -> None:
    response = portal.client().post("/signup", {**SIGNUP, "email": "nope"}, hx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert body.lstrip().startswith('<form id="signup_form"')
    assert "<html" not in body
    assert "Vary" in response.headers and "HX-Request" in response.headers["Vary"]


def test_signup_success_as_htmx_redirects_the_whole_page(portal: Portal) -> None:
    response = portal.client().post("/signup", SIGNUP, hx=True)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].endswith("/users")


def test_sign_in_by_login_or_email_lands_on_the_users_page(portal: Portal) -> None:
    account, owner = portal.account()
    for identifier in ("owner", "OWNER@example.com"):
        client = portal.client()
        response = client.post("/login", {"account": "ACME ", "login": identifier, "password": PASSWORD})
        assert response.status_code == 303
        assert response.headers["Location"] == f"/accounts/{account.id}/users"
    assert portal.get(User, owner.id).last_login_at is not None


def test_sign_in_follows_a_safe_next_only(portal: Portal) -> None:
    portal.account()
    ok = portal.client().post(
        "/login", {"account": "acme", "login": "owner", "password": PASSWORD, "next": "/some/page?x=1"}
    )
    assert ok.headers["Location"] == "/some/page?x=1"
    for evil in ("//evil.com", "/\t/evil.com", "https:evil.com", "////evil.com"):
        response = portal.client().post(
            "/login", {"account": "acme", "login": "owner", "password": PASSWORD, "next": evil}
        )
        assert response.headers["Location"].startswith("/accounts/"), evil


PER_RESPONSE_HEADERS = {"Content-Security-Policy", "Set-Cookie", "Content-Length", "X-Correlation-Id"}


def _normalised(body: str, login: str, account: str = "acme") -> str:
    """The body with what differs by design blanked: tokens, the CSP nonce, the account and login as typed."""
    body = body.replace(csrf_token_in(body), "TOKEN").replace(_form_token(body), "TOKEN")
    body = re.sub(r'nonce="[^"]+"', 'nonce="N"', body)
    return body.replace(f'value="{login}"', 'value="LOGIN"').replace(f'value="{account}"', 'value="ACCOUNT"')


def _form_token(body: str) -> str:
    marker = 'name="csrf_token" type="hidden" value="'
    start = body.index(marker) + len(marker)
    return body[start : body.index('"', start)]


def test_failed_sign_ins_are_indistinguishable(portal: Portal) -> None:
    """L1: unknown account, unknown login, wrong password, disabled, pending and other-tenant users
    (the right password of a user of another account) get the same answer."""
    account, _owner = portal.account()
    portal.account("Other", login="stranger")
    portal.user(account, "disabled", status="disabled")
    portal.user(account, "pending", status="pending")
    cases = [
        ("acme", "nobody", PASSWORD),
        ("acme", "owner", "wrong password here"),
        ("acme", "disabled", PASSWORD),
        ("acme", "pending", PASSWORD),
        ("acme", "stranger", PASSWORD),
        ("other", "owner", PASSWORD),
        ("nowhere", "owner", PASSWORD),
        ("acme", "owner", ""),
    ]
    answers = set()
    for account_name, login, password in cases:
        response = portal.client().post("/login", {"account": account_name, "login": login, "password": password})
        body = response.get_data(as_text=True)
        assert response.status_code == 401, (account_name, login)
        assert "Invalid login or password." in body
        headers = sorted((k, v) for k, v in response.headers if k not in PER_RESPONSE_HEADERS)
        answers.add((_normalised(body, login, account_name), tuple(headers)))
    assert len(answers) == 1


def test_every_failed_sign_in_costs_one_verification(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    """L2: no timing oracle; the unknown, empty and disabled cases still verify once."""
    account, _owner = portal.account()
    portal.user(account, "disabled", status="disabled")
    calls: list[str] = []
    real = passwords._hasher

    class Spy:
        def verify(self, hash_: str, password: str) -> bool:
            calls.append(hash_)
            return real.verify(hash_, password)

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    monkeypatch.setattr(passwords, "_hasher", Spy())
    for account_name, login, password in [
        ("acme", "nobody", PASSWORD),
        ("nowhere", "owner", PASSWORD),
        ("acme", "owner", ""),
        ("", "", ""),
        ("acme", "disabled", PASSWORD),
        ("acme", "owner", "nope-nope-nope"),
    ]:
        calls.clear()
        portal.client().post("/login", {"account": account_name, "login": login, "password": password})
        assert len(calls) == 1, (account_name, login, password)


def test_sign_in_rehashes_a_weak_hash(portal: Portal) -> None:
    """P2."""
    from argon2 import PasswordHasher

    _account, owner = portal.account()
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    with portal.app.app_context():
        db.session.execute(update(User).where(User.id == owner.id).values(password_hash=weak))
        db.session.commit()
    portal.client(owner)
    stored = portal.get(User, owner.id).password_hash
    assert stored != weak and "m=19456,t=2,p=1" in stored


def test_sign_in_does_not_bump_the_edit_version(portal: Portal) -> None:
    _account, owner = portal.account()
    before = portal.get(User, owner.id).version
    portal.client(owner)
    assert portal.get(User, owner.id).version == before


def test_session_is_renewed_at_sign_in(portal: Portal) -> None:
    """S1: the pre-sign-in cookie never becomes the signed-in one, and the CSRF token rotates."""
    account, _owner = portal.account()
    client = portal.client()
    before_token = client.csrf()
    before_cookie = client.raw.get_cookie("portal").value
    client.sign_in("owner")
    assert client.raw.get_cookie("portal").value != before_cookie
    assert client.get(f"/accounts/{account.id}/users").status_code == 200
    # The old CSRF token no longer works for the new session.
    response = client.post("/logout", {"csrf_token": before_token})
    assert response.status_code == 400
    # Replaying the old cookie is anonymous.
    replay = portal.client()
    replay.raw.set_cookie("portal", before_cookie)
    assert replay.get(f"/accounts/{account.id}/users").status_code == 302


def test_sign_out_kills_the_server_side_session(portal: Portal) -> None:
    """S2: a cookie copied before sign-out is worthless after it."""
    account, owner = portal.account()
    client = portal.client(owner)
    copied = client.raw.get_cookie("portal").value
    response = client.post("/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    thief = portal.client()
    thief.raw.set_cookie("portal", copied)
    response = thief.get(f"/accounts/{account.id}/users")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert portal.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_logout_is_post_only_and_needs_csrf(portal: Portal) -> None:
    _account, owner = portal.account()
    client = portal.client(owner)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", csrf=False).status_code == 400
    assert portal.scalar(select(func.count()).select_from(LoginSession)) == 1


@pytest.mark.parametrize(
    ("field", "age"), [("last_seen_at", timedelta(minutes=31)), ("created_at", timedelta(hours=12, minutes=1))]
)
def test_idle_and_absolute_timeouts(portal: Portal, field: str, age: timedelta) -> None:
    """S4: 30 minutes idle, 12 hours absolute, enforced on the server."""
    account, owner = portal.account()
    client = portal.client(owner)
    url = f"/accounts/{account.id}/users"
    assert client.get(url).status_code == 200
    with portal.app.app_context():
        db.session.execute(update(LoginSession).values({field: utcnow() - age}))
        db.session.commit()
    assert client.get(url).status_code == 302
    assert portal.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_activity_keeps_the_session_alive(portal: Portal) -> None:
    account, owner = portal.account()
    client = portal.client(owner)
    with portal.app.app_context():
        db.session.execute(update(LoginSession).values(last_seen_at=utcnow() - timedelta(minutes=29)))
        db.session.commit()
    assert client.get(f"/accounts/{account.id}/users").status_code == 200
    seen = portal.scalar(select(LoginSession.last_seen_at))
    assert utcnow() - seen < timedelta(minutes=1)


def _session_cookies(response: object) -> list[str]:
    return [value for key, value in response.headers if key == "Set-Cookie" and value.startswith("portal=")]  # type: ignore[attr-defined]


def test_the_session_cookie_is_set_at_sign_in_for_the_absolute_timeout_and_not_re_signed_on_each_page(
    portal: Portal,
) -> None:
    """S4 is the server's: a page that changes nothing in the session sends no new cookie (issue 20: re-signing
    it cost every page ~0.2 ms); the one set at sign-in lasts as long as the server-side session can."""
    account, owner = portal.account()
    client = portal.client()
    signed_in = client.sign_in(owner.login)
    (cookie,) = _session_cookies(signed_in)
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))  # type: ignore[union-attr]
    assert abs(expires - (utcnow() + timedelta(hours=12))) < timedelta(minutes=1)
    client.get(signed_in.headers["Location"])  # the first page stores the new session's CSRF token: a change
    for url in (f"/accounts/{account.id}/users", f"/accounts/{account.id}/users/{owner.id}", "/me"):
        page = client.get(url)
        assert page.status_code == 200 and _session_cookies(page) == [], url
    assert client.get(f"/accounts/{account.id}/users").status_code == 200  # still signed in


def test_disabling_a_user_signs_them_out_everywhere(portal: Portal) -> None:
    account, _owner = portal.account()
    admin = portal.user(account, "admin", roles=("account-admin",))
    first, second = portal.client(admin), portal.client(admin)
    with portal.app.app_context():
        db.session.execute(update(User).where(User.id == admin.id).values(status="disabled"))
        db.session.commit()
    for client in (first, second):
        assert client.get(f"/accounts/{account.id}/users").status_code == 302


def test_htmx_request_without_a_session_gets_hx_redirect(portal: Portal) -> None:
    """C4: no sign-in page swapped into a fragment."""
    account, _ = portal.account()
    response = portal.client().get(f"/accounts/{account.id}/users?q=x", hx=True)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"].startswith("/login?next=")
    assert "login_form" not in response.get_data(as_text=True)


def test_signed_in_person_visiting_login_goes_home(portal: Portal) -> None:
    account, owner = portal.account()
    client = portal.client(owner)
    response = client.get("/login")
    assert response.status_code == 302 and response.headers["Location"] == f"/accounts/{account.id}/users"
    assert client.get("/").headers["Location"] == f"/accounts/{account.id}/users"
    assert portal.client().get("/").headers["Location"] == "/login"


def test_cookie_flags_in_production(database_url: str, app: object) -> None:
    """S5: Secure, HttpOnly, SameSite=Lax, Path=/, no Domain, the __Host- prefix."""
    from tests.conftest import make_test_app

    secure_app = make_test_app(database_url, SESSION_COOKIE_SECURE=True, SESSION_COOKIE_NAME="__Host-portal")
    client = Client(secure_app.test_client())
    response = client.raw.get("/login", base_url="https://localhost")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-portal=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    assert "Domain" not in cookie
    assert len(cookie) < 4096


def test_htmx_login_failure_swaps_the_form(portal: Portal) -> None:
    portal.account()
    response = portal.client().post(
        "/login", {"account": "acme", "login": "owner", "password": "wrong wrong wrong"}, hx=True
    )
    assert response.status_code == 401
    assert response.get_data(as_text=True).lstrip().startswith('<form id="login_form"')


def test_htmx_header_on_a_full_page(portal: Portal) -> None:
    assert HX["HX-Request"] == "true"


def test_people_without_users_read_land_on_their_profile(portal: Portal) -> None:
    account, _owner = portal.account()
    member = portal.user(account, "member", roles=("member",))
    response = portal.client().post("/login", {"account": "acme", "login": "member", "password": PASSWORD})
    assert response.headers["Location"] == "/me"
    portal.user(account, "manager", roles=("user-manager",))
    response = portal.client().post("/login", {"account": "acme", "login": "manager", "password": PASSWORD})
    assert response.headers["Location"] == f"/accounts/{account.id}/users"
    assert member.login == "member"
