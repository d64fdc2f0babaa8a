"""Invited (pending) people: they rank by the roles they were invited with, only their invitation can be
changed, and accepting gives them the invited address (issue 13, section 1)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update

from portal import db
from portal.models import AuditEvent, Invitation, OutboxEmail, User
from tests.helpers import Portal, Tenant, edit_form, emails_to, invitation_token, role_named

NEW_PASSWORD = "violet harbor lantern 42"


def invite(portal: Portal, tenant: Tenant, email: str, roles: tuple[str, ...], by: User | None = None) -> Invitation:
    """Invite through the admin page; the invitation, read fresh."""
    data = {"emails": email, "roles": [str(role_named(portal, tenant.account, r).id) for r in roles]}
    response = portal.client(by or tenant.owner).post(f"/accounts/{tenant.id}/invitations", data)
    assert response.status_code == 303, response.get_data(as_text=True)
    return portal.scalar(select(Invitation).where(Invitation.email == email))


def snapshot(portal: Portal, user_id: Any) -> tuple[Any, ...]:
    user = portal.get(User, user_id)
    return (
        user.email,
        user.login,
        user.first_name,
        user.city,
        user.password_hash,
        user.mfa_enabled,
        user.version,
        user.status,
    )


def test_the_attack_chain_is_broken(portal: Portal, a: Tenant) -> None:
    """The owner invites an account-admin; a user-manager can no longer point the invitee at their own address,
    and accepting from the original link gives the invited address."""
    invitation = invite(portal, a, "future@example.com", ("account-admin",))
    token = invitation_token(portal, "future@example.com")
    pending = portal.get(User, invitation.user_id)
    attacker = portal.client(a.user_manager)
    edit = f"/accounts/{a.id}/users/{pending.id}/edit"
    assert attacker.get(edit).status_code == 403
    response = attacker.post(edit, edit_form(pending, email="user-manager-a@example.com"))
    assert response.status_code == 403
    assert "account:manage" in response.get_data(as_text=True)  # says what they lack
    assert portal.get(User, pending.id).email == "future@example.com"
    # Nor set their password, reset their MFA, delete them, or touch the invitation.
    assert (
        attacker.post(
            f"/accounts/{a.id}/users/{pending.id}/password",
            {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD},
        ).status_code
        == 403
    )
    assert attacker.post(f"/accounts/{a.id}/users/{pending.id}/reset-mfa", {"reason": "x"}).status_code == 403
    assert attacker.post(f"/accounts/{a.id}/users/{pending.id}/delete").status_code == 403
    assert attacker.post(f"/accounts/{a.id}/invitations/{invitation.id}/revoke").status_code == 403
    assert attacker.post(f"/accounts/{a.id}/invitations/{invitation.id}/resend").status_code == 403
    assert portal.get(Invitation, invitation.id).status == "pending"

    # The real invitee accepts from the original link: the account has the invited address.
    accepted = portal.client().post(
        f"/invitations/accept/{token}",
        {
            "login": "future",
            "first_name": "Fu",
            "last_name": "Ture",
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
        },
    )
    assert accepted.status_code == 303
    assert portal.get(User, pending.id).email == "future@example.com"
    # And a reset asked for the attacker's address reaches only the attacker's own sign-in.
    before = len(emails_to(portal, "user-manager-a@example.com"))
    portal.client().post("/password-reset", {"account": "tenant-a", "login": "user-manager-a@example.com"})
    mails = emails_to(portal, "user-manager-a@example.com")[before:]
    assert all("future" not in mail.body_text for mail in mails)


def test_accepting_sets_the_invited_address(portal: Portal, a: Tenant) -> None:
    """Even when the pending row's address differs (written before this rule existed), the invited one wins."""
    invitation = invite(portal, a, "future@example.com", ("member",))
    token = invitation_token(portal, "future@example.com")
    with portal.app.app_context():
        db.session.execute(update(User).where(User.id == invitation.user_id).values(email="elsewhere@example.com"))
        db.session.commit()
    response = portal.client().post(
        f"/invitations/accept/{token}",
        {
            "login": "future",
            "first_name": "Fu",
            "last_name": "Ture",
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
        },
    )
    assert response.status_code == 303
    assert portal.get(User, invitation.user_id).email == "future@example.com"


@pytest.mark.parametrize("hx", [False, True])
def test_a_pending_user_cannot_be_edited_even_by_the_owner(portal: Portal, a: Tenant, hx: bool) -> None:
    invitation = invite(portal, a, "future@example.com", ("member",))
    pending = portal.get(User, invitation.user_id)
    before = snapshot(portal, pending.id)
    owner = portal.client(a.owner)
    base = f"/accounts/{a.id}/users/{pending.id}"
    for response in (
        owner.get(f"{base}/edit", hx=hx),
        owner.post(f"{base}/edit", edit_form(pending, email="owner-elsewhere@example.com", city="Oslo"), hx=hx),
        owner.get(f"{base}/password", hx=hx),
        owner.post(f"{base}/password", {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}, hx=hx),
        owner.get(f"{base}/reset-mfa", hx=hx),
        owner.post(f"{base}/reset-mfa", {"reason": "lost phone"}, hx=hx),
    ):
        assert response.status_code == 409
        assert "invitation" in response.get_data(as_text=True)
    assert snapshot(portal, pending.id) == before
    assert portal.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("user.%"))) == 0
    assert emails_to(portal, "owner-elsewhere@example.com") == []
    # The invitation itself can still be changed, resent and revoked by the owner.
    assert owner.post(f"/accounts/{a.id}/invitations/{invitation.id}/resend").status_code == 303
    assert owner.post(f"/accounts/{a.id}/invitations/{invitation.id}/revoke").status_code == 303


def test_the_user_page_offers_the_invitation_not_the_profile(portal: Portal, a: Tenant) -> None:
    invitation = invite(portal, a, "future@example.com", ("account-admin",))
    page = portal.client(a.owner).get(f"/accounts/{a.id}/users/{invitation.user_id}").get_data(as_text=True)
    assert f"/users/{invitation.user_id}/edit" not in page and f"/users/{invitation.user_id}/password" not in page
    assert f"/invitations/{invitation.id}/edit" in page
    # A user-manager is told they cannot act on the invited account-admin, and is offered nothing.
    page = portal.client(a.user_manager).get(f"/accounts/{a.id}/users/{invitation.user_id}").get_data(as_text=True)
    assert "holds permissions you do not have" in page
    assert f"/invitations/{invitation.id}/edit" not in page
    assert f"/users/{invitation.user_id}/delete" not in page


def test_the_users_list_shows_the_invited_roles(portal: Portal, a: Tenant) -> None:
    invite(portal, a, "future@example.com", ("account-admin",))
    html = portal.client(a.owner).get(f"/accounts/{a.id}/users?q=future").get_data(as_text=True)
    assert "account-admin (invited)" in html


def test_bulk_actions_follow_the_invited_rank(portal: Portal, a: Tenant) -> None:
    invitation = invite(portal, a, "future@example.com", ("account-admin",))
    low = invite(portal, a, "low@example.com", ("member",))
    response = portal.client(a.user_manager).post(
        f"/accounts/{a.id}/users/bulk",
        {"action": "delete", "user_ids": [str(invitation.user_id), str(low.user_id)], "confirm": "yes"},
    )
    assert response.status_code == 200
    assert "holds permissions you do not have" in response.get_data(as_text=True)
    assert portal.get(User, invitation.user_id) is not None
    assert portal.get(User, low.user_id) is None


def test_a_user_manager_still_manages_the_invitations_they_could_make(portal: Portal, a: Tenant) -> None:
    invitation = invite(portal, a, "low@example.com", ("member",), by=a.user_manager)
    manager = portal.client(a.user_manager)
    assert manager.post(f"/accounts/{a.id}/invitations/{invitation.id}/resend").status_code == 303
    assert manager.post(f"/accounts/{a.id}/invitations/{invitation.id}/revoke").status_code == 303
    assert (
        portal.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.to_address == "low@example.com"))
        == 2
    )
