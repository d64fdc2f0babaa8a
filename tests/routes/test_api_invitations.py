"""The JSON API's invitations (seed 002): list, invite one or many, read, change, resend (both forms), revoke."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from portal import db
from portal.models import Invitation, User, UserStatus
from tests.api_client import Api, api_for, audit_events, codes
from tests.helpers import Portal, Tenant, emails_to, invitation_token, make_group

INVITATION_FIELDS = {
    "id",
    "user_id",
    "email",
    "roles",
    "groups",
    "status",
    "delivery",
    "sent_count",
    "expires_at",
    "created_at",
    "invited_by",
}


@pytest.fixture
def admin(portal: Portal, a: Tenant) -> Api:
    return api_for(portal, a.admin, name="hr-sync")


def url(a: Tenant, rest: str = "") -> str:
    return f"/api/v1/accounts/{a.id}/invitations{rest}"


def invite(api: Api, a: Tenant, email: str = "grace@example.com", **more: object) -> dict:
    response = api.post(url(a), json={"email": email, **more})
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_invite_one_address_with_roles_and_groups(portal: Portal, a: Tenant, admin: Api) -> None:
    make_group(portal, a.account, "Ops")
    response = admin.post(url(a), json={"email": "Grace@Example.com", "roles": ["auditor"], "groups": ["ops"]})
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert set(data) == INVITATION_FIELDS
    assert (data["email"], data["roles"], data["groups"], data["status"], data["delivery"], data["sent_count"]) == (
        "grace@example.com",
        ["auditor"],
        ["Ops"],
        "pending",
        "queued",
        1,
    )
    assert data["invited_by"] == {"id": str(a.admin.id), "login": "admin-a"} and data["expires_at"].endswith("Z")
    assert response.headers["Location"] == url(a, f"/{data['id']}") and response.headers["ETag"]
    assert portal.get(User, uuid.UUID(data["user_id"])).status == UserStatus.PENDING
    assert invitation_token(portal, "grace@example.com")
    [event] = [e for e in audit_events(portal) if e.via == "api"]
    assert event.action == "invitation.create" and event.api_key_name == "hr-sync"


def test_invite_a_list_says_who_was_invited_and_who_refused(portal: Portal, a: Tenant, admin: Api) -> None:
    invite(admin, a, "old@example.com")
    response = admin.post(
        url(a), json={"emails": ["new@example.com", "old@example.com", "member-a@example.com", "not an address"]}
    )
    assert response.status_code == 201
    data = response.get_json()
    assert [i["email"] for i in data["invited"]] == ["new@example.com"]
    assert [(r["email"], r["code"]) for r in data["refused"]] == [
        ("old@example.com", "Conflict"),
        ("member-a@example.com", "Conflict"),
        ("not an address", "InvalidArgument"),
    ]
    response = admin.post(url(a), json={"emails": ["old@example.com"]})
    assert response.status_code == 422 and codes(response) == [("Conflict", "emails")]


def test_invite_refusals_for_one_address(portal: Portal, a: Tenant, admin: Api) -> None:
    invite(admin, a, "old@example.com")
    response = admin.post(url(a), json={"email": "old@example.com"})
    assert response.status_code == 409 and codes(response) == [("Conflict", "email")]
    response = admin.post(url(a), json={"email": "nope"})
    assert response.status_code == 422 and codes(response) == [("InvalidArgument", "email")]
    assert codes(admin.post(url(a), json={})) == [("MissingParameter", "email")]
    assert codes(admin.post(url(a), json={"email": "x@example.com", "emails": ["y@example.com"]})) == [
        ("MissingParameter", "email")
    ]
    assert codes(admin.post(url(a), json={"emails": [f"p{i}@example.com" for i in range(101)]}))[0] == (
        "InvalidArgument",
        "emails",
    )
    manager = api_for(portal, a.user_manager)
    assert manager.post(url(a), json={"email": "z@example.com", "roles": ["account-admin"]}).status_code == 403
    assert portal.scalar(select(func.count()).select_from(Invitation)) == 1


def test_list_filter_and_page_with_the_cursor(portal: Portal, a: Tenant, admin: Api) -> None:
    for i in range(3):
        invite(admin, a, f"p{i}@example.com")
    data = admin.get(url(a, "?take=2")).get_json()
    assert [i["email"] for i in data["invitations"]] == ["p2@example.com", "p1@example.com"]
    assert (data["row_count"], data["page_count"], data["current_page"]) == (3, 2, 0)
    rest = admin.get(data["next"]).get_json()
    assert [i["email"] for i in rest["invitations"]] == ["p0@example.com"] and rest["next"] is None
    assert [i["email"] for i in admin.get(url(a, "?email=p1")).get_json()["invitations"]] == ["p1@example.com"]
    assert admin.get(url(a, "?status=revoked")).get_json()["invitations"] == []
    assert admin.get(url(a, "?status=nonsense")).status_code == 422


def test_get_patch_and_its_if_match(portal: Portal, a: Tenant, admin: Api) -> None:
    make_group(portal, a.account, "Ops")
    made = invite(admin, a, roles=["auditor"])
    one = admin.get(url(a, f"/{made['id']}"))
    assert one.status_code == 200 and one.get_json() == made
    response = admin.patch(
        url(a, f"/{made['id']}"),
        json={"roles": ["member"], "groups": ["Ops"]},
        headers={"If-Match": one.headers["ETag"]},
    )
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["roles"], response.get_json()["groups"]) == (["member"], ["Ops"])
    stale = admin.patch(url(a, f"/{made['id']}"), json={"roles": []}, headers={"If-Match": one.headers["ETag"]})
    assert stale.status_code == 412 and codes(stale) == [("PreconditionFailed", None)]
    assert admin.get(url(a, f"/{made['id']}")).get_json()["roles"] == ["member"]


def test_resend_by_id_and_by_user_id_kills_the_old_link(portal: Portal, a: Tenant, admin: Api) -> None:
    made = invite(admin, a)
    first_token = invitation_token(portal, "grace@example.com")
    response = admin.post(url(a, f"/{made['id']}/resend"))
    assert response.status_code == 201 and response.get_json()["sent_count"] == 2
    second_token = invitation_token(portal, "grace@example.com")
    assert second_token != first_token
    assert portal.client().get(f"/invitations/accept/{first_token}").status_code == 410
    response = admin.post(url(a, "/resend"), json={"user_id": made["user_id"]})
    assert response.status_code == 201 and response.get_json()["sent_count"] == 3
    assert len(emails_to(portal, "grace@example.com")) == 3
    assert admin.post(url(a, "/resend"), json={"user_id": str(a.member.id)}).status_code == 404
    assert codes(admin.post(url(a, "/resend"), json={})) == [("MissingParameter", "user_id")]


def test_revoke_then_resend_or_revoke_again_is_409(portal: Portal, a: Tenant, admin: Api) -> None:
    made = invite(admin, a)
    assert admin.delete(url(a, f"/{made['id']}")).status_code == 204
    assert admin.get(url(a, f"/{made['id']}")).get_json()["status"] == "revoked"
    assert portal.get(User, uuid.UUID(made["user_id"])) is None
    for response in (
        admin.post(url(a, f"/{made['id']}/resend")),
        admin.delete(url(a, f"/{made['id']}")),
        admin.patch(url(a, f"/{made['id']}"), json={"roles": []}),
    ):
        assert response.status_code == 409 and codes(response)[0][0] == "Conflict"


def test_foreign_invitations_are_404(portal: Portal, a: Tenant, b: Tenant, admin: Api) -> None:
    theirs = invite(api_for(portal, b.admin), b)
    for response in (
        admin.get(url(a, f"/{theirs['id']}")),
        admin.delete(url(a, f"/{theirs['id']}")),
        admin.post(url(a, f"/{theirs['id']}/resend")),
        admin.post(url(a, "/resend"), json={"user_id": theirs["user_id"]}),
    ):
        assert response.status_code == 404
    with portal.app.app_context():
        assert db.session.get(Invitation, uuid.UUID(theirs["id"])).status == "pending"
