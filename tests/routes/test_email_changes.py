"""Email changes are pending until the new address confirms them (issue 13, section 3; SECURITY E1, R1, R3, S6)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from portal import db
from portal.db import utcnow
from portal.models import EmailChange, LoginSession, User
from tests.helpers import PASSWORD, Client, Portal, Tenant, edit_form, emails_to, events, make_role

CONFIRM_LINK = re.compile(r"(https?://[^/\s\"<>]+)/email-change/([A-Za-z0-9_-]+)")
PENDING_FLASH = "A confirmation link was sent to new@example.com; the email changes when it is confirmed."


def admin_changes(
    portal: Portal, tenant: Tenant, by: User, target: User, email: str = "new@example.com", **fields: str
) -> Any:
    user = portal.get(User, target.id)
    return portal.client(by).post(f"/accounts/{tenant.id}/users/{user.id}/edit", edit_form(user, email=email, **fields))


def confirm_token(portal: Portal, address: str) -> str:
    """The token of the latest confirmation link sent to the address."""
    mails = [m for m in emails_to(portal, address) if m.kind == "email_change_confirm"]
    match = CONFIRM_LINK.search(mails[-1].body_text)
    assert match and match.group(1) == "http://portal.example.com"  # PORTAL_BASE_URL, never the Host header
    return match.group(2)


def open_link(client: Client, token: str) -> Any:
    """Open the emailed link: the token moves into the session, then the token-less page (R3)."""
    response = client.get(f"/email-change/{token}")
    assert response.status_code == 303 and response.headers["Location"] == "/email-change"
    return client.get("/email-change")


def open_changes(portal: Portal) -> int:
    return (
        portal.scalar(
            select(func.count())
            .select_from(EmailChange)
            .where(EmailChange.confirmed_at.is_(None), EmailChange.cancelled_at.is_(None))
        )
        or 0
    )


def make_stale(portal: Portal, user: User) -> None:
    with portal.app.app_context():
        db.session.execute(
            update(LoginSession)
            .where(LoginSession.user_id == user.id)
            .values(authenticated_at=utcnow() - timedelta(minutes=11))
        )
        db.session.commit()


def test_an_admin_email_change_is_pending_until_the_new_address_confirms(portal: Portal, a: Tenant) -> None:
    response = admin_changes(portal, a, a.admin, a.member, city="Paris")
    assert response.status_code == 303
    page = portal.client(a.admin)
    # Other fields save as before; the email does not change yet.
    member = portal.get(User, a.member.id)
    assert (member.email, member.city) == ("member-a@example.com", "Paris")
    # The new address gets the link and nothing else; the old one is told who asked.
    [confirm_mail] = emails_to(portal, "new@example.com")
    assert confirm_mail.kind == "email_change_confirm"
    [notice] = emails_to(portal, "member-a@example.com")
    assert notice.subject == "A change of your email address was requested"
    assert "Admin-A (admin-a)" in notice.body_text and "new@example.com" in notice.body_text
    [requested] = events(portal, "user.email_change_requested")
    assert requested.actor_id == a.admin.id and requested.changes["email"] == [
        "member-a@example.com",
        "new@example.com",
    ]
    token = confirm_token(portal, "new@example.com")
    assert token not in str(requested.changes)
    # The user page shows the pending change, who asked and when, with a way to cancel it.
    html = page.get(f"/accounts/{a.id}/users/{a.member.id}").get_data(as_text=True)
    assert "Email change pending" in html and "new@example.com" in html and "Admin-A (admin-a)" in html
    assert f"/users/{a.member.id}/email-change/cancel" in html

    # A password reset for the new address sends nothing; the old address is still the one in force.
    portal.client().post("/password-reset", {"account": "tenant-a", "login": "new@example.com"})
    assert len(emails_to(portal, "new@example.com")) == 1
    portal.client().post("/password-reset", {"account": "tenant-a", "login": "member-a@example.com"})
    assert [m.kind for m in emails_to(portal, "member-a@example.com")] == ["security_notice", "password_reset"]

    # The person confirms from the link, with their password.
    person = portal.client()
    confirm_page = open_link(person, token)
    body = confirm_page.get_data(as_text=True)
    assert confirm_page.status_code == 200 and "new@example.com" in body and 'name="password"' in body
    assert token not in body
    assert person.post("/email-change", {}).status_code == 422  # no password
    assert person.post("/email-change", {"password": "not it"}).status_code == 401
    assert portal.get(User, a.member.id).email == "member-a@example.com"
    done = person.post("/email-change", {"password": PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/login"
    assert portal.get(User, a.member.id).email == "new@example.com"
    [changed] = events(portal, "user.email_change")
    assert changed.changes == {"email": ["member-a@example.com", "new@example.com"]}
    assert emails_to(portal, "member-a@example.com")[-1].subject == "Your email address was changed"
    # The reset link sent to the old address died with it.
    assert open_changes(portal) == 0
    reset = re.search(r"/password-reset/([A-Za-z0-9_-]+)", emails_to(portal, "member-a@example.com")[1].body_text)
    assert reset and portal.client().get(f"/password-reset/{reset.group(1)}").status_code == 410

    # Used twice: invalid.
    again = open_link(portal.client(), token)
    assert again.status_code == 410
    assert portal.client().post("/email-change", {"password": PASSWORD}).status_code == 410


def test_the_flash_says_the_email_is_pending(portal: Portal, a: Tenant) -> None:
    admin = portal.client(a.admin)
    member = portal.get(User, a.member.id)
    response = admin.post(f"/accounts/{a.id}/users/{member.id}/edit", edit_form(member, email="new@example.com"))
    assert response.status_code == 303
    assert PENDING_FLASH in admin.get(response.headers["Location"]).get_data(as_text=True)
    # With htmx: a client-side redirect, the message waits on the next page.
    member = portal.get(User, a.member.id)
    response = admin.post(
        f"/accounts/{a.id}/users/{member.id}/edit", edit_form(member, email="newer@example.com"), hx=True
    )
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/accounts/{a.id}/users/{member.id}"


def test_an_expired_link_is_invalid(portal: Portal, a: Tenant) -> None:
    admin_changes(portal, a, a.admin, a.member)
    with portal.app.app_context():
        db.session.execute(update(EmailChange).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    person = portal.client()
    assert open_link(person, confirm_token(portal, "new@example.com")).status_code == 410
    assert person.post("/email-change", {"password": PASSWORD}).status_code == 410
    assert portal.get(User, a.member.id).email == "member-a@example.com"
    # Nor is it shown as pending any more.
    html = portal.client(a.admin).get(f"/accounts/{a.id}/users/{a.member.id}").get_data(as_text=True)
    assert "Email change pending" not in html


def test_a_newer_request_replaces_the_older_one(portal: Portal, a: Tenant) -> None:
    admin_changes(portal, a, a.admin, a.member, email="first@example.com")
    first = confirm_token(portal, "first@example.com")
    admin_changes(portal, a, a.admin, a.member, email="second@example.com")
    second = confirm_token(portal, "second@example.com")
    assert open_changes(portal) == 1
    assert open_link(portal.client(), first).status_code == 410
    person = portal.client()
    open_link(person, second)
    assert person.post("/email-change", {"password": PASSWORD}).status_code == 303
    assert portal.get(User, a.member.id).email == "second@example.com"


@pytest.mark.parametrize("hx", [False, True])
def test_an_admin_cancels_a_pending_change_and_the_link_dies(portal: Portal, a: Tenant, hx: bool) -> None:
    admin_changes(portal, a, a.admin, a.member)
    token = confirm_token(portal, "new@example.com")
    admin = portal.client(a.admin)
    cancel = f"/accounts/{a.id}/users/{a.member.id}/email-change/cancel"
    assert admin.post(cancel, csrf=False).status_code == 400
    assert open_changes(portal) == 1
    response = admin.post(cancel, hx=hx)
    if hx:
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert 'id="user_summary"' in html and "Email change pending" not in html and "was cancelled" in html
    else:
        assert response.status_code == 303 and response.headers["Location"] == f"/accounts/{a.id}/users/{a.member.id}"
    [event] = events(portal, "user.email_change_cancelled")
    assert event.actor_id == a.admin.id and event.changes == {"new_email": "new@example.com"}
    assert open_link(portal.client(), token).status_code == 410
    assert portal.get(User, a.member.id).email == "member-a@example.com"
    assert admin.post(cancel).status_code == 404  # nothing left to cancel


def test_only_who_may_act_on_the_person_cancels(portal: Portal, a: Tenant) -> None:
    admin_changes(portal, a, a.owner, a.admin)  # the owner moves the account-admin's address
    response = portal.client(a.user_manager).post(f"/accounts/{a.id}/users/{a.admin.id}/email-change/cancel")
    assert response.status_code == 403
    assert open_changes(portal) == 1
    page = portal.client(a.user_manager).get(f"/accounts/{a.id}/users/{a.admin.id}").get_data(as_text=True)
    assert "Email change pending" in page and "/email-change/cancel" not in page


def test_a_user_manager_cannot_change_an_admins_email(portal: Portal, a: Tenant) -> None:
    response = admin_changes(portal, a, a.user_manager, a.admin, email="user-manager-own@example.com")
    assert response.status_code == 403
    assert emails_to(portal, "user-manager-own@example.com") == [] and open_changes(portal) == 0


def test_an_admin_cannot_confirm_an_address_of_their_own_without_the_persons_password(
    portal: Portal, a: Tenant
) -> None:
    """E1: with users:write but not users:password, pointing someone's email at your own mailbox gets you a
    link, but confirming it needs the person's password; wrong guesses end the change."""
    editor = portal.user(a.account, "editor", roles=())
    make_role(portal, a.account, "editor", ("users:read", "users:write"), holders=(editor,))
    assert admin_changes(portal, a, editor, a.member, email="editor-own@example.com").status_code == 303
    token = confirm_token(portal, "editor-own@example.com")
    attacker = portal.client(editor)
    page = open_link(attacker, token)
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)
    for _ in range(4):
        assert attacker.post("/email-change", {"password": PASSWORD + "x"}).status_code == 401
    assert attacker.post("/email-change", {"password": "guess"}).status_code == 410  # the fifth ends it
    assert attacker.post("/email-change", {"password": PASSWORD}).status_code == 410
    assert portal.get(User, a.member.id).email == "member-a@example.com"
    assert len(events(portal, "user.email_change_failed")) == 5
    [cancelled] = events(portal, "user.email_change_cancelled")
    assert cancelled.changes["reason"] == "too many wrong passwords"


def test_the_persons_own_change_needs_a_recent_sign_in(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.member)
    form = {"first_name": "Mem", "city": "Oslo", "email": "new@example.com"}
    make_stale(portal, a.member)
    response = client.post("/me", form)
    assert response.status_code == 303 and response.headers["Location"] == "/me/reauth?next=/me"
    assert open_changes(portal) == 0 and portal.get(User, a.member.id).city == ""  # nothing saved
    assert emails_to(portal, "new@example.com") == []
    assert client.post("/me/reauth?next=/me", {"password": PASSWORD}).status_code == 303
    response = client.post("/me", form)
    assert response.status_code == 303
    html = client.get("/me").get_data(as_text=True)
    assert "Your profile was saved. " + PENDING_FLASH in html
    assert "Email change pending" in html and "asked by you on" in html
    member = portal.get(User, a.member.id)
    assert (member.email, member.city) == ("member-a@example.com", "Oslo")
    [notice] = emails_to(portal, "member-a@example.com")
    assert "You asked to change" in notice.body_text
    [requested] = events(portal, "user.email_change_requested")
    assert requested.actor_id == a.member.id
    # Signed in as themselves, the person confirms without typing the password again.
    page = open_link(client, confirm_token(portal, "new@example.com"))
    assert page.status_code == 200 and 'name="password"' not in page.get_data(as_text=True)
    response = client.post("/email-change", {})
    assert response.status_code == 303 and response.headers["Location"] == "/me"
    assert portal.get(User, a.member.id).email == "new@example.com"
    assert "Your email is now new@example.com." in client.get("/me").get_data(as_text=True)


@pytest.mark.parametrize("hx", [False, True])
def test_the_person_cancels_their_own_pending_change(portal: Portal, a: Tenant, hx: bool) -> None:
    client = portal.client(a.member)
    client.post("/me", {"first_name": "Member-A", "email": "new@example.com"})
    token = confirm_token(portal, "new@example.com")
    assert client.post("/me/email-change/cancel", csrf=False).status_code == 400
    response = client.post("/me/email-change/cancel", hx=hx)
    if hx:
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and 'id="pending_email"' in html and "Email change pending" not in html
    else:
        assert response.status_code == 303 and response.headers["Location"] == "/me"
    [event] = events(portal, "user.email_change_cancelled")
    assert event.actor_id == a.member.id
    assert open_link(portal.client(), token).status_code == 410
    assert client.post("/me/email-change/cancel").status_code == 404


def test_the_address_is_checked_again_at_confirmation(portal: Portal, a: Tenant) -> None:
    admin_changes(portal, a, a.admin, a.member, email="wanted@example.com")
    token = confirm_token(portal, "wanted@example.com")
    portal.user(a.account, "quick", email="wanted@example.com")  # someone takes it meanwhile
    person = portal.client()
    open_link(person, token)
    response = person.post("/email-change", {"password": PASSWORD})
    assert response.status_code == 409
    assert "wanted@example.com is now used by someone else" in response.get_data(as_text=True)
    assert portal.get(User, a.member.id).email == "member-a@example.com"
    assert events(portal, "user.email_change") == []


def test_a_change_to_a_taken_or_the_same_address_is_refused(portal: Portal, a: Tenant) -> None:
    assert admin_changes(portal, a, a.admin, a.member, email="auditor-a@example.com").status_code == 422
    assert admin_changes(portal, a, a.admin, a.member, email="member-a@example.com").status_code == 303
    assert open_changes(portal) == 0 and emails_to(portal, "member-a@example.com") == []


def test_a_second_factor_is_asked_when_the_person_has_one(portal: Portal, a: Tenant) -> None:
    import pyotp

    from portal.auth import mfa

    secret = pyotp.random_base32()
    with portal.app.app_context():
        db.session.execute(
            update(User).where(User.id == a.member.id).values(mfa_enabled=True, mfa_secret=mfa.seal(secret))
        )
        db.session.commit()
    admin_changes(portal, a, a.admin, a.member)
    person = portal.client()
    page = open_link(person, confirm_token(portal, "new@example.com"))
    assert 'name="code"' in page.get_data(as_text=True)
    assert person.post("/email-change", {"password": PASSWORD, "code": "000000"}).status_code == 401
    assert person.post("/email-change", {"password": PASSWORD, "code": pyotp.TOTP(secret).now()}).status_code == 303
    assert portal.get(User, a.member.id).email == "new@example.com"


def test_the_link_is_rate_limited_and_never_logged(
    app: Any, portal: Portal, a: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    from portal import rate_limits

    guarded = rate_limits.guarded_endpoints(app)
    assert guarded["email_change.open_link"] == {"GET"} and guarded["email_change.confirm"] == {"POST"}
    admin_changes(portal, a, a.admin, a.member)
    token = confirm_token(portal, "new@example.com")
    with caplog.at_level("INFO"):
        response = open_link(portal.client(), token)
    assert response.status_code == 200 and response.headers["Referrer-Policy"] == "same-origin"
    assert "/email-change/[redacted]" in caplog.text and token not in caplog.text


def test_a_made_up_or_huge_link_gets_the_same_invalid_page(portal: Portal) -> None:
    client = portal.client()
    for token in ("x" * 43, "y" * 5000):
        assert open_link(client, token).status_code == 410
    cookie = client.raw.get_cookie(portal.app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None and len(cookie.value) < 1000
