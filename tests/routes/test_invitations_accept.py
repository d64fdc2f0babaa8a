"""The invited person's side: the public accept page (issue 5; SECURITY I1, I2, I3, I4, L3, A7)."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from portal import db
from portal.auth.passwords import verify_password
from portal.invitations import clock
from portal.invitations import services as invitation_services
from portal.models import AuditEvent, GroupMember, Invitation, LoginSession, Role, RoleAssignment, User
from tests.helpers import Client, Portal, Tenant, count, invitation_token, make_group, role_named

NEW_PASSWORD = "violet harbor lantern 42"


def invite(
    portal: Portal,
    a: Tenant,
    email: str = "new@example.com",
    roles: tuple[str, ...] = ("user-manager",),
    groups: tuple[Any, ...] = (),
    by: User | None = None,
) -> tuple[Invitation, str]:
    """Invite through the admin page, as a real admin would; returns the invitation and its link token."""
    client = portal.client(by or a.admin)
    data = {
        "emails": email,
        "roles": [str(role_named(portal, a.account, r).id) for r in roles],
        "groups": [str(g.id) for g in groups],
    }
    response = client.post(f"/accounts/{a.id}/invitations", data)
    assert response.status_code == 303, response.get_data(as_text=True)
    invitation = portal.scalar(select(Invitation).where(Invitation.email == email))
    return invitation, invitation_token(portal, email)


def details(**overrides: str) -> dict[str, str]:
    return {
        "login": "jdoe",
        "first_name": "Jane",
        "last_name": "Doe",
        "password": NEW_PASSWORD,
        "password_confirmation": NEW_PASSWORD,
        **overrides,
    }


def accept_url(token: str) -> str:
    return f"/invitations/accept/{token}"


def _normalise(html: str) -> str:
    return re.sub(r'(content|nonce|name="csrf_token" type="hidden" value)="[^"]+"', "", html)


def test_the_page_shows_the_account_the_inviter_and_the_address(portal: Portal, a: Tenant) -> None:
    _, token = invite(portal, a)
    response = portal.client().get(accept_url(token))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Join Tenant A" in html and "Admin-A invited you (new@example.com)" in html
    for name in ("login", "first_name", "last_name", "password", "password_confirmation"):
        assert f'name="{name}"' in html
    assert 'name="email"' not in html  # the address is the invited one, not a choice
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_accepting_activates_the_user_grants_roles_accepts_memberships_and_signs_in(portal: Portal, a: Tenant) -> None:
    group = make_group(portal, a.account, "Engineering")
    invitation, token = invite(portal, a, groups=(group,))
    client = portal.client()
    response = client.post(accept_url(token), details(login="JDoe"))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/accounts/{a.id}/users"

    user = portal.get(User, invitation.user_id)
    assert (user.status, user.login, user.first_name, user.last_name, user.email) == (
        "active",
        "jdoe",
        "Jane",
        "Doe",
        "new@example.com",
    )
    assert verify_password(user.password_hash, NEW_PASSWORD)
    after = portal.get(Invitation, invitation.id)
    assert after.status == "accepted" and after.accepted_at is not None
    # The membership made at invitation is now an accepted one (its user is active).
    assert count(portal, GroupMember, GroupMember.user_id == user.id, GroupMember.group_id == group.id) == 1
    with portal.app.app_context():
        roles = db.session.scalars(select(Role.name).join(RoleAssignment).where(RoleAssignment.user_id == user.id))
        assert list(roles) == ["user-manager"]
    # Signed in, as the new user, with the granted role active.
    page = client.get(f"/accounts/{a.id}/users")
    assert page.status_code == 200 and "Welcome to Tenant A!" in page.get_data(as_text=True)
    assert count(portal, LoginSession, LoginSession.user_id == user.id) == 1
    event = portal.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.accept"))
    assert event.actor_id == user.id and event.changes["roles_granted"] == ["user-manager"]
    assert NEW_PASSWORD not in str(event.changes) and token not in str(event.changes)
    # And the new user can sign in again later with what they chose.
    portal.client().sign_in("jdoe", NEW_PASSWORD)


def test_accepting_with_htmx_redirects_the_whole_page(portal: Portal, a: Tenant) -> None:
    _, token = invite(portal, a)
    response = portal.client().post(accept_url(token), details(), hx=True)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/accounts/{a.id}/users"


def test_a_token_works_once(portal: Portal, a: Tenant) -> None:
    invitation, token = invite(portal, a)
    assert portal.client().post(accept_url(token), details()).status_code == 303
    second = portal.client()
    assert second.get(accept_url(token)).status_code == 410
    assert second.post(accept_url(token), details(login="other", first_name="Eve")).status_code == 410
    user = portal.get(User, invitation.user_id)
    assert user.login == "jdoe" and user.first_name == "Jane"


def test_every_dead_link_gets_the_same_page(portal: Portal, a: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """I1 and L3: unknown, used, revoked, replaced and expired links are indistinguishable."""
    admin = portal.client(a.admin)
    _, used = invite(portal, a, "used@example.com")
    portal.client().post(accept_url(used), details())
    revoked_invitation, revoked = invite(portal, a, "revoked@example.com")
    admin.post(f"/accounts/{a.id}/invitations/{revoked_invitation.id}/revoke")
    replaced_invitation, replaced = invite(portal, a, "replaced@example.com")
    admin.post(f"/accounts/{a.id}/invitations/{replaced_invitation.id}/resend")
    expired_invitation, expired = invite(portal, a, "expired@example.com")
    with portal.app.app_context():
        db.session.execute(
            update(Invitation)
            .where(Invitation.id == expired_invitation.id)
            .values(expires_at=clock.now() - timedelta(seconds=1))
        )
        db.session.commit()
    anonymous = portal.client()
    bodies = set()
    for token in ("x" * 43, used, revoked, replaced, expired):
        for method in ("get", "post"):
            if method == "get":
                response = anonymous.get(accept_url(token))
            else:
                response = anonymous.post(accept_url(token), details())
            assert response.status_code == 410, (token, method)
            bodies.add(_normalise(response.get_data(as_text=True)))
    assert len(bodies) == 1
    assert "This invitation link is not valid." in bodies.pop()
    assert portal.get(Invitation, expired_invitation.id).status == "pending"  # nothing changed
    assert portal.get(User, expired_invitation.user_id).status == "pending"


def test_expiry_by_the_clock(portal: Portal, a: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """I1: seven days and a second later the link is dead, and the list says expired (no job ran)."""
    invitation, token = invite(portal, a)
    real_now = clock.now()
    monkeypatch.setattr(clock, "now", lambda: real_now + timedelta(days=7) - timedelta(seconds=5))
    assert portal.client().get(accept_url(token)).status_code == 200
    monkeypatch.setattr(clock, "now", lambda: real_now + timedelta(days=7, seconds=1))
    anonymous = portal.client()
    assert anonymous.get(accept_url(token)).status_code == 410
    assert anonymous.post(accept_url(token), details()).status_code == 410
    listing = portal.client(a.admin).get(f"/accounts/{a.id}/invitations?status=expired")
    assert "new@example.com" in listing.get_data(as_text=True)
    assert portal.get(Invitation, invitation.id).status == "pending"
    assert portal.get(User, invitation.user_id).status == "pending"


def test_an_invitation_expiring_between_page_and_submit_is_refused_atomically(
    portal: Portal, a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consuming UPDATE itself checks the expiry, not only the page before it."""
    invitation, token = invite(portal, a)
    real_hash = invitation_services.hash_password

    def hash_then_expire(password: str) -> str:
        result = real_hash(password)
        monkeypatch.setattr(clock, "now", lambda: invitation.expires_at + timedelta(seconds=1))
        return result

    monkeypatch.setattr(invitation_services, "hash_password", hash_then_expire)
    assert portal.client().post(accept_url(token), details()).status_code == 410
    assert portal.get(Invitation, invitation.id).status == "pending"
    assert portal.get(User, invitation.user_id).status == "pending"


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("login", "-abc", "starting with a letter"),
        ("login", "ab", "between 3 and 254"),
        ("login", "owner-a", "This login is taken in this account"),
        ("password", "short", "Use at least 12 characters."),
        ("password", "password1234", "too common"),
        ("password_confirmation", "something else entirely", "The two passwords differ."),
        ("first_name", "", "This field is required."),
    ],
)
def test_invalid_details_are_422_and_change_nothing(
    portal: Portal, a: Tenant, field: str, value: str, message: str
) -> None:
    invitation, token = invite(portal, a)
    client = portal.client()
    data = details(**{field: value})
    if field == "password":
        data["password_confirmation"] = value
    for hx in (False, True):
        response = client.post(accept_url(token), data, hx=hx)
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert message in html, html
        assert ("<html" in html) is not hx
        assert 'id="accept_form"' in html
    assert portal.get(Invitation, invitation.id).status == "pending"
    user = portal.get(User, invitation.user_id)
    assert user.status == "pending" and user.password_hash is None


def test_the_pending_users_placeholder_login_may_be_kept(portal: Portal, a: Tenant) -> None:
    invitation, token = invite(portal, a)
    placeholder = portal.get(User, invitation.user_id).login
    assert portal.client().post(accept_url(token), details(login=placeholder)).status_code == 303


def test_accept_without_csrf_is_400(portal: Portal, a: Tenant) -> None:
    invitation, token = invite(portal, a)
    assert portal.client().post(accept_url(token), details(), csrf=False).status_code == 400
    assert portal.get(Invitation, invitation.id).status == "pending"


def test_a_pending_user_cannot_sign_in(portal: Portal, a: Tenant) -> None:
    invitation, _ = invite(portal, a)
    user = portal.get(User, invitation.user_id)
    for login in (user.login, user.email):
        response = portal.client().post(
            "/login", {"account": portal.sign_in_name(user), "login": login, "password": ""}
        )
        assert response.status_code == 401


# --- I3: bound to the invited address ------------------------------------------------------------------------


def test_someone_signed_in_with_another_address_gets_403(portal: Portal, a: Tenant) -> None:
    invitation, token = invite(portal, a, "a@example.com")
    stranger = portal.client(a.member)  # member-a@example.com
    assert stranger.get(accept_url(token)).status_code == 403
    response = stranger.post(accept_url(token), details())
    assert response.status_code == 403
    assert "sent to another email address" in response.get_data(as_text=True)
    assert portal.get(Invitation, invitation.id).status == "pending"
    assert portal.get(User, invitation.user_id).status == "pending"


def test_someone_signed_in_elsewhere_with_the_invited_address_may_accept(portal: Portal, a: Tenant) -> None:
    other = portal.tenant("B")
    invitation, token = invite(portal, a, other.member.email)
    client = portal.client(other.member)
    response = client.post(accept_url(token), details())
    assert response.status_code == 303
    assert portal.get(User, invitation.user_id).status == "active"
    # Their old session ended; the browser is now the new user of tenant A.
    assert count(portal, LoginSession, LoginSession.user_id == other.member.id) == 0
    assert client.get(f"/accounts/{a.id}/users").status_code == 200
    assert client.get(f"/accounts/{other.id}/users").status_code == 404


def test_posted_privileged_fields_are_ignored(portal: Portal, a: Tenant) -> None:
    """A7: the accept form binds only its own fields; the address stays the invited one."""
    other = portal.tenant("B")
    invitation, token = invite(portal, a, roles=("member",))
    admin_role = role_named(portal, a.account, "account-admin")
    data = details(
        email="attacker@example.com",
        account_id=str(other.id),
        is_owner="y",
        status="active",
        roles=str(admin_role.id),
        role_id=str(admin_role.id),
    )
    assert portal.client().post(accept_url(token), data).status_code == 303
    user = portal.get(User, invitation.user_id)
    assert (user.email, user.account_id, user.is_owner) == ("new@example.com", a.id, False)
    with portal.app.app_context():
        roles = db.session.scalars(select(Role.name).join(RoleAssignment).where(RoleAssignment.user_id == user.id))
        assert list(roles) == ["member"]


def test_ordinary_signup_with_an_invited_address_never_attaches_to_the_invitation(portal: Portal, a: Tenant) -> None:
    invitation, _ = invite(portal, a, "a@example.com")
    response = portal.client().post(
        "/signup",
        {
            "account_name": "Elsewhere",
            "login": "someone",
            "email": "a@example.com",
            "first_name": "A",
            "last_name": "B",
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
        },
    )
    assert response.status_code == 303
    new_owner = portal.scalar(select(User).where(User.login == "someone"))
    assert new_owner.account_id != a.id
    pending = portal.get(User, invitation.user_id)
    assert (pending.status, pending.account_id, pending.password_hash) == ("pending", a.id, None)
    assert portal.get(Invitation, invitation.id).status == "pending"


# --- I4: re-checked at acceptance ----------------------------------------------------------------------------


def _set_roles(portal: Portal, user: User, *names: str) -> None:
    with portal.app.app_context():
        db.session.execute(RoleAssignment.__table__.delete().where(RoleAssignment.user_id == user.id))
        for name in names:
            role = db.session.scalar(select(Role).where(Role.account_id == user.account_id, Role.name == name))
            db.session.add(RoleAssignment(user_id=user.id, role_id=role.id, is_default=True))
        db.session.commit()


def test_roles_the_inviter_can_no_longer_grant_are_withheld(portal: Portal, a: Tenant) -> None:
    invitation, token = invite(portal, a, roles=("account-admin", "member"), by=a.admin)
    _set_roles(portal, a.admin, "user-manager")  # demoted: may still invite, not grant account-admin
    assert portal.client().post(accept_url(token), details()).status_code == 303
    with portal.app.app_context():
        roles = db.session.scalars(
            select(Role.name)
            .join(RoleAssignment)
            .where(RoleAssignment.user_id == invitation.user_id)
            .order_by(Role.name)
        )
        assert list(roles) == ["member"]
    event = portal.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.accept"))
    assert event.changes["roles_withheld"] == ["account-admin"]


def test_an_inviter_who_may_no_longer_invite_leaves_a_dead_link(portal: Portal, a: Tenant) -> None:
    invitation, token = invite(portal, a, roles=("member",), by=a.user_manager)
    _set_roles(portal, a.user_manager, "member")
    assert portal.client().get(accept_url(token)).status_code == 410
    assert portal.client().post(accept_url(token), details()).status_code == 410
    assert portal.get(User, invitation.user_id).status == "pending"


def test_an_inviter_who_was_deleted_leaves_a_dead_link(portal: Portal, a: Tenant) -> None:
    invitation, token = invite(portal, a, roles=("member",), by=a.user_manager)
    with portal.app.app_context():
        db.session.execute(User.__table__.delete().where(User.id == a.user_manager.id))
        db.session.commit()
    assert portal.client().get(accept_url(token)).status_code == 410


def test_a_member_removed_later_cannot_rejoin_with_the_old_link(portal: Portal, a: Tenant) -> None:
    invitation, token = invite(portal, a)
    assert portal.client().post(accept_url(token), details()).status_code == 303
    with portal.app.app_context():
        db.session.execute(User.__table__.delete().where(User.id == invitation.user_id))
        db.session.commit()
    assert portal.client().post(accept_url(token), details()).status_code == 410
    assert count(portal, User, User.email == "new@example.com") == 0


# --- I2: two accepts at once ---------------------------------------------------------------------------------


def test_two_concurrent_accepts_make_exactly_one_user(
    portal: Portal, a: Tenant, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both requests pass the page's checks, then race for the conditional UPDATE: one wins."""
    group = make_group(portal, a.account, "Racers")
    invitation, token = invite(portal, a, groups=(group,))
    barrier = threading.Barrier(2, timeout=10)
    real_hash = invitation_services.hash_password

    def hash_then_wait(password: str) -> str:
        result = real_hash(password)
        barrier.wait()  # both requests hold a valid, open invitation here
        return result

    monkeypatch.setattr(invitation_services, "hash_password", hash_then_wait)
    clients: list[Client] = [portal.client(), portal.client()]
    tokens = [c.csrf() for c in clients]
    statuses: list[int] = []

    def accept(i: int) -> None:
        data = details(login=f"racer{i}", first_name=f"Racer{i}", csrf_token=tokens[i])
        statuses.append(clients[i].raw.post(accept_url(token), data=data).status_code)

    threads = [threading.Thread(target=accept, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [303, 410]
    assert count(portal, User, User.email == "new@example.com") == 1
    assert count(portal, User, User.login.in_(["racer0", "racer1"])) == 1
    assert count(portal, GroupMember, GroupMember.group_id == group.id) == 1
    assert count(portal, RoleAssignment, RoleAssignment.user_id == invitation.user_id) == 1
    assert count(portal, AuditEvent, AuditEvent.action == "invitation.accept") == 1
    assert count(portal, LoginSession, LoginSession.user_id == invitation.user_id) == 1
