"""Ending a user's access (issue 13 §4): "Sign out everywhere" on the user page, and disabling revokes their
API keys for good."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import actors, db
from portal.me.credentials import create_api_key
from portal.models import ApiKey, AuditEvent, LoginSession, User
from tests.helpers import Portal, Tenant, events


def users_url(tenant: Tenant, rest: str = "") -> str:
    return f"/accounts/{tenant.id}/users{rest}"


def _key_for(portal: Portal, user: User, name: str = "script") -> str:
    with portal.app.app_context():
        maker = db.session.get(User, user.id)
        key = create_api_key(maker, name, None, actor=actors.person(maker))
        db.session.commit()
        return key


def _api_status(portal: Portal, tenant: Tenant, key: str) -> int:
    response = portal.app.test_client().get(
        f"/api/v1/accounts/{tenant.id}/users", headers={"Authorization": f"Bearer {key}"}
    )
    return response.status_code


def _sessions_of(portal: Portal, user: User) -> int:
    with portal.app.app_context():
        return len(db.session.scalars(select(LoginSession.id).where(LoginSession.user_id == user.id)).all())


# --- Sign out everywhere ---------------------------------------------------------------------------


def test_sign_out_everywhere_ends_every_session_of_the_user(portal: Portal, a: Tenant) -> None:
    laptop, phone = portal.client(a.member), portal.client(a.member)
    bystander = portal.client(a.auditor)
    admin = portal.client(a.admin)
    page = admin.get(users_url(a, f"/{a.member.id}")).get_data(as_text=True)
    assert f'action="{users_url(a, f"/{a.member.id}/sign-out")}"' in page and "Sign out everywhere" in page

    response = admin.post(users_url(a, f"/{a.member.id}/sign-out"))
    assert response.status_code == 303 and response.headers["Location"] == users_url(a, f"/{a.member.id}")
    assert "signed out everywhere (2 sessions ended)" in admin.get(response.headers["Location"]).get_data(as_text=True)
    for victim in (laptop, phone):
        answer = victim.get("/me")
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert _sessions_of(portal, a.member) == 0
    assert bystander.get("/me").status_code == 200 and admin.get("/me").status_code == 200
    [event] = events(portal, "user.sign_out_everywhere")
    assert event.target_id == str(a.member.id) and event.actor_id == a.admin.id
    assert event.changes == {"sessions_ended": 2}
    assert portal.get(User, a.member.id).status == "active"  # only signed out: they may sign in again
    portal.client(a.member)


def test_sign_out_everywhere_with_htmx_swaps_the_summary(portal: Portal, a: Tenant) -> None:
    victim = portal.client(a.member)
    response = portal.client(a.user_manager).post(users_url(a, f"/{a.member.id}/sign-out"), hx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith('<section id="user_summary"')
    assert "signed out everywhere (1 session ended)" in body  # the flash travels with the fragment
    assert victim.get("/me", hx=True).headers["HX-Redirect"].startswith("/login")


def test_sign_out_everywhere_follows_the_rank_rule(portal: Portal, a: Tenant) -> None:
    """A user-manager cannot sign out an account-admin (nor anyone the owner); they see no button."""
    admin_browser = portal.client(a.admin)
    manager = portal.client(a.user_manager)
    for target in (a.admin, a.owner):
        assert "Sign out everywhere" not in manager.get(users_url(a, f"/{target.id}")).get_data(as_text=True)
        assert manager.post(users_url(a, f"/{target.id}/sign-out")).status_code == 403
    assert _sessions_of(portal, a.admin) >= 1 and admin_browser.get("/me").status_code == 200
    assert portal.client(a.admin).post(users_url(a, f"/{a.owner.id}/sign-out")).status_code == 403
    assert events(portal, "user.sign_out_everywhere") == []
    # Without users:write: no button, 403.
    auditor = portal.client(a.auditor)
    assert "Sign out everywhere" not in auditor.get(users_url(a, f"/{a.member.id}")).get_data(as_text=True)
    assert auditor.post(users_url(a, f"/{a.member.id}/sign-out")).status_code == 403
    # The owner outranks everyone.
    assert portal.client(a.owner).post(users_url(a, f"/{a.admin.id}/sign-out")).status_code == 303
    assert admin_browser.get("/me").status_code == 302


def test_sign_out_everywhere_of_a_foreign_user_is_404(portal: Portal, a: Tenant) -> None:
    b = portal.tenant("B")
    victim = portal.client(b.member)
    admin = portal.client(a.admin)
    assert admin.post(users_url(a, f"/{b.member.id}/sign-out")).status_code == 404  # B's user, A's URL
    assert admin.post(f"/accounts/{b.id}/users/{b.member.id}/sign-out").status_code == 404  # B's account
    assert victim.get("/me").status_code == 200


def test_sign_out_everywhere_needs_the_csrf_token(portal: Portal, a: Tenant) -> None:
    victim = portal.client(a.member)
    admin = portal.client(a.admin)
    assert admin.post(users_url(a, f"/{a.member.id}/sign-out"), csrf=False).status_code == 400
    assert victim.get("/me").status_code == 200 and events(portal, "user.sign_out_everywhere") == []


def test_signing_oneself_out_everywhere_keeps_the_current_session(portal: Portal, a: Tenant) -> None:
    other_browser = portal.client(a.admin)
    admin = portal.client(a.admin)
    page = admin.get(users_url(a, f"/{a.admin.id}")).get_data(as_text=True)
    assert "Sign out everywhere" not in page  # their own sessions are on /me/sessions
    assert admin.post(users_url(a, f"/{a.admin.id}/sign-out")).status_code == 303
    assert admin.get("/me").status_code == 200 and other_browser.get("/me").status_code == 302


# --- Disabling revokes API keys --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["one", "bulk"])
def test_disabling_revokes_api_keys_for_good(portal: Portal, a: Tenant, how: str) -> None:
    """K1: a disabled user's keys stay dead when the user is enabled again."""
    keys = [_key_for(portal, a.user_manager, "first"), _key_for(portal, a.user_manager, "second")]
    assert [_api_status(portal, a, key) for key in keys] == [200, 200]
    admin = portal.client(a.admin)
    if how == "one":
        assert admin.post(users_url(a, f"/{a.user_manager.id}/disable")).status_code == 303
    else:
        assert (
            admin.post(
                users_url(a, "/bulk"), {"action": "disable", "user_ids": [str(a.user_manager.id)], "confirm": "yes"}
            ).status_code
            == 200
        )
    assert [_api_status(portal, a, key) for key in keys] == [401, 401]
    assert admin.post(users_url(a, f"/{a.user_manager.id}/enable")).status_code == 303
    assert portal.get(User, a.user_manager.id).status == "active"
    assert [_api_status(portal, a, key) for key in keys] == [401, 401]
    with portal.app.app_context():
        revoked = db.session.scalars(select(ApiKey.revoked_at).where(ApiKey.user_id == a.user_manager.id)).all()
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.disable")).one()
    assert len(revoked) == 2 and all(at is not None for at in revoked)
    assert event.target_id == str(a.user_manager.id) and event.changes["revoked_api_access"] == ["first", "second"]


def test_other_users_keys_are_untouched(portal: Portal, a: Tenant) -> None:
    theirs = _key_for(portal, a.auditor)
    assert portal.client(a.admin).post(users_url(a, f"/{a.user_manager.id}/disable")).status_code == 303
    assert _api_status(portal, a, theirs) == 200
