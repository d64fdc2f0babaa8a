"""Request sequences written from Okta's and Microsoft Entra ID's public SCIM documentation, replayed: lookups
before create, create, profile update, deactivate, reactivate, group push with member add and remove, rename,
delete — checking the database, the users page and the audit log (one event per change, via scim)."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from portal.models import AuditEvent, Group, GroupMember, Invitation, User
from tests.helpers import Portal
from tests.scim.conftest import Scim, patch_op


def _events(portal: Portal) -> list[AuditEvent]:
    with portal.app.app_context():
        from portal import db

        return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.created_at)))


def test_okta_sequence(app: Flask, portal: Portal, scim: Scim) -> None:
    # Okta: a lookup by userName before every create.
    look = scim.get("/Users", query_string={"filter": 'userName eq "jane.doe@example.com"', "startIndex": "1",
                                            "count": "100"})
    assert look.get_json()["totalResults"] == 0
    created = scim.post("/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "jane.doe@example.com",
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"primary": True, "value": "jane.doe@example.com", "type": "work"}],
        "displayName": "Jane Doe", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7", "groups": [],
        "password": "1mz050nq", "active": True})
    assert created.status_code == 201, created.get_data(as_text=True)
    user_id = created.get_json()["id"]
    jane = portal.get(User, __import__("uuid").UUID(user_id))
    assert jane.status == "pending" and jane.password_hash is None and jane.external_id == "00ujl29u0le5T6Aj10h7"
    with app.app_context():
        from portal import db

        invitation = db.session.scalar(select(Invitation).where(Invitation.user_id == jane.id))
        assert invitation is not None and invitation.provisioned
    # Profile update: Okta PUTs the whole user.
    put = scim.put(f"/Users/{user_id}", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": user_id, "userName": "jane.doe@example.com",
        "name": {"givenName": "Janet", "familyName": "Doe"}, "emails": [{"primary": True,
                                                                        "value": "jane.doe@example.com"}],
        "active": True})
    assert put.status_code == 200 and put.get_json()["name"]["givenName"] == "Janet"
    # Deactivate, reactivate.
    off = scim.patch(f"/Users/{user_id}", patch_op({"op": "replace", "value": {"active": False}}))
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert portal.get(User, jane.id).status == "disabled"
    on = scim.patch(f"/Users/{user_id}", patch_op({"op": "replace", "value": {"active": True}}))
    assert on.status_code == 200 and on.get_json()["active"] is True
    assert portal.get(User, jane.id).status == "pending"  # never chose a password: a new link
    # Group push.
    group = scim.post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                  "displayName": "Test SCIMv2", "members": []})
    group_id = group.get_json()["id"]
    add = scim.patch(f"/Groups/{group_id}", patch_op({"op": "add", "path": "members",
                                                       "value": [{"value": user_id, "display": "jane"}]}))
    assert add.status_code in (200, 204)
    rename = scim.patch(f"/Groups/{group_id}", patch_op({"op": "replace", "value": {"id": group_id,
                                                                                     "displayName": "Renamed"}}))
    assert rename.status_code == 200 and rename.get_json()["displayName"] == "Renamed"
    remove = scim.patch(f"/Groups/{group_id}", patch_op({"op": "remove", "path": f'members[value eq "{user_id}"]'}))
    assert remove.status_code == 200
    assert portal.scalar(select(func.count()).select_from(GroupMember)) == 0
    assert scim.delete(f"/Groups/{group_id}").status_code == 204
    assert portal.scalar(select(func.count()).select_from(Group)) == 0
    events = [e for e in _events(portal) if e.action != "provisioning_token.create"]
    assert {e.via for e in events} == {"scim"}
    assert {e.actor_label for e in events} == {"SCIM provisioning"}
    assert [e.action for e in events] == ["invitation.create", "user.update", "user.disable", "invitation.create",
                                          "group.create", "group.members.add", "group.update",
                                          "group.members.remove", "group.delete"]


def test_entra_sequence(app: Flask, portal: Portal, scim: Scim) -> None:
    owner = portal.scalar(select(User).where(User.is_owner))
    # Entra ID: lookups by userName and externalId first.
    assert scim.get("/Users", query_string={"filter": 'userName eq "Test_User_ab6490ee@contoso.com"'}
                    ).get_json()["totalResults"] == 0
    created = scim.post("/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "userName": "Test_User_ab6490ee@contoso.com",
        "active": True, "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
        "meta": {"resourceType": "User"}, "name": {"formatted": "givenName familyName", "familyName": "familyName",
                                                   "givenName": "givenName"},
        "roles": [], "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"organization": "Contoso"}})
    assert created.status_code == 201, created.get_data(as_text=True)
    uid = created.get_json()["id"]
    assert scim.get("/Users", query_string={"filter": 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"'}
                    ).get_json()["totalResults"] == 1
    # Entra's PATCH: capitalised ops, string booleans, no-path replace.
    patched = scim.patch(f"/Users/{uid}", patch_op(
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@contoso.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Add", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization": "Fab"}}))
    assert patched.status_code == 200, patched.get_data(as_text=True)
    body = patched.get_json()
    assert body["emails"][0]["value"] == "updatedemail@contoso.com"
    assert body["name"]["familyName"] == "updatedFamilyName"
    assert portal.scalar(select(User.company_name).where(User.login == "test_user_ab6490ee@contoso.com")) == "Fab"
    off = scim.patch(f"/Users/{uid}", patch_op({"op": "Replace", "path": "active", "value": "False"}))
    assert off.status_code == 200 and off.get_json()["active"] is False
    # Group: create, add members, remove with a value list (Entra), then delete the user.
    group_id = scim.post("/Groups", {"displayName": "Group1DisplayName", "externalId": "60e4ad6c",
                                     "members": []}).get_json()["id"]
    scim.patch(f"/Groups/{group_id}", patch_op({"op": "Add", "path": "members", "value": [{"value": uid}]}))
    assert portal.scalar(select(func.count()).select_from(GroupMember)) == 1
    scim.patch(f"/Groups/{group_id}", patch_op({"op": "Remove", "path": "members", "value": [{"value": uid}]}))
    assert portal.scalar(select(func.count()).select_from(GroupMember)) == 0
    assert scim.get(f"/Groups/{group_id}", query_string={"excludedAttributes": "members"}).status_code == 200
    assert scim.delete(f"/Users/{uid}").status_code == 204
    assert scim.get(f"/Users/{uid}").status_code == 404
    # The owner is listed, never changed; a stale If-Match is 412.
    assert scim.get(f"/Users/{owner.id}").status_code == 200
    assert scim.patch(f"/Users/{owner.id}", patch_op({"op": "replace", "value": {"active": False}})).status_code == 403
    assert scim.delete(f"/Users/{owner.id}").status_code == 403
    stale = scim.put(f"/Groups/{group_id}", {"displayName": "x"}, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    # The audit log marks every change via scim; the users page lists nothing of the deleted user.
    events = [e for e in _events(portal) if e.action != "provisioning_token.create"]
    assert events and {e.via for e in events} == {"scim"}
    admin = portal.client(owner)
    page = admin.get(f"/accounts/{owner.account_id}/users").get_data(as_text=True)
    assert "test_user_ab6490ee" not in page
    provisioning = admin.get(f"/accounts/{owner.account_id}/settings/provisioning")
    assert provisioning.status_code == 200 and "/Users" in provisioning.get_data(as_text=True)
