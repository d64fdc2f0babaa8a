"""The owner's pages: account settings, and the two-step transfer of ownership."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal import actors, db
from portal.accounts import ownership
from portal.db import utcnow
from portal.errors import NotFound
from portal.models import Account, OutboxEmail, OwnershipTransfer, RoleAssignment, User
from tests.helpers import PASSWORD, Portal, Tenant


def test_settings_need_account_manage(portal: Portal, a: Tenant) -> None:
    url = f"/accounts/{a.id}/settings"
    assert portal.client(a.user_manager).get(url).status_code == 403
    owner = portal.client(a.owner)
    assert owner.get(url).status_code == 200
    assert owner.post(url, {"name": ""}).status_code == 422
    response = owner.post(url, {"name": "Initrode", "require_mfa": "y"})
    assert response.status_code == 303
    account = portal.get(Account, a.id)
    assert (account.name, account.require_mfa) == ("Initrode", True)


def test_required_mfa_sends_people_to_set_it_up(portal: Portal, a: Tenant) -> None:
    with portal.app.app_context():
        db.session.execute(update(Account).where(Account.id == a.id).values(require_mfa=True))
        db.session.commit()
    client = portal.client(a.member)
    response = client.get(f"/accounts/{a.id}/users")
    assert response.status_code == 302 and response.headers["Location"] == "/me/mfa"
    assert client.get("/me/mfa").status_code == 200


def test_temporary_password_must_be_replaced_first(portal: Portal, a: Tenant) -> None:
    with portal.app.app_context():
        db.session.execute(update(User).where(User.id == a.admin.id).values(must_change_password=True))
        db.session.commit()
    client = portal.client(a.admin)
    response = client.get(f"/accounts/{a.id}/users", hx=True)
    assert response.headers["HX-Redirect"] == "/me/password"
    form = {
        "current_password": PASSWORD,
        "password": "my very own passphrase",
        "password_confirmation": "my very own passphrase",
    }
    assert client.post("/me/password", form).status_code == 303
    assert client.get(f"/accounts/{a.id}/users").status_code == 200


def test_transfer_in_two_steps(portal: Portal, a: Tenant) -> None:
    owner = portal.client(a.owner)
    url = f"/accounts/{a.id}/transfer"
    page = owner.get(url).get_data(as_text=True)
    assert "admin-a@example.com" in page and "member-a@example.com" not in page  # only active account-admins
    assert owner.post(url, {"new_owner_id": str(a.admin.id), "current_password": "wrong"}).status_code == 422
    assert owner.post(url, {"new_owner_id": str(a.member.id), "current_password": PASSWORD}).status_code == 422
    assert owner.post(url, {"new_owner_id": str(a.admin.id), "current_password": PASSWORD}).status_code == 303
    assert portal.get(User, a.owner.id).is_owner  # nothing moved yet
    with portal.app.app_context():
        recipients = sorted(db.session.scalars(select(OutboxEmail.to_address)))
        assert recipients == ["admin-a@example.com", "owner-a@example.com"]
        _accept(a)
        db.session.commit()
    assert portal.get(User, a.admin.id).is_owner and not portal.get(User, a.owner.id).is_owner
    with portal.app.app_context():
        held = db.session.scalars(select(RoleAssignment.role_id).where(RoleAssignment.user_id == a.owner.id)).all()
    assert held  # the old owner stays an account-admin
    assert portal.client(a.owner).get(url).status_code == 403


def test_only_the_owner_transfers_and_proposals_expire(portal: Portal, a: Tenant) -> None:
    assert portal.client(a.admin).get(f"/accounts/{a.id}/transfer").status_code == 403
    portal.client(a.owner).post(
        f"/accounts/{a.id}/transfer", {"new_owner_id": str(a.admin.id), "current_password": PASSWORD}
    )
    with portal.app.app_context():
        db.session.execute(update(OwnershipTransfer).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        with pytest.raises(NotFound):
            _accept(a)


def test_a_cancelled_proposal_cannot_be_accepted(portal: Portal, a: Tenant) -> None:
    owner = portal.client(a.owner)
    owner.post(f"/accounts/{a.id}/transfer", {"new_owner_id": str(a.admin.id), "current_password": PASSWORD})
    assert owner.post(f"/accounts/{a.id}/transfer/cancel").status_code == 303
    with portal.app.app_context(), pytest.raises(NotFound):
        _accept(a)


def test_the_offer_shows_where_the_candidate_lands_after_signing_in(portal: Portal, a: Tenant) -> None:
    owner = portal.client(a.owner)
    owner.post(f"/accounts/{a.id}/transfer", {"new_owner_id": str(a.admin.id), "current_password": PASSWORD})
    candidate = portal.client(a.admin)
    landing = candidate.get("/")
    assert landing.status_code == 302 and landing.headers["Location"] == f"/accounts/{a.id}/users"
    page = candidate.get(landing.headers["Location"]).get_data(as_text=True)
    assert "You are offered the ownership of Tenant A" in page and 'action="/me/ownership/accept"' in page
    assert "You are offered the ownership" in candidate.get("/me").get_data(as_text=True)
    # Nobody else sees it; the list's fragments (search, paging) do not carry it.
    assert "You are offered the ownership" not in portal.client(a.user_manager).get(f"/accounts/{a.id}/users").get_data(
        as_text=True
    )
    assert "You are offered" not in candidate.get(f"/accounts/{a.id}/users?q=a", hx=True).get_data(as_text=True)
    assert candidate.post("/me/ownership/accept").status_code == 303
    assert portal.get(User, a.admin.id).is_owner


def _accept(a: Tenant) -> None:
    """The proposed admin accepts, as they would from their profile page."""
    admin = db.session.get(User, a.admin.id)
    assert admin is not None
    ownership.accept_transfer(admin, actor=actors.person(admin))
