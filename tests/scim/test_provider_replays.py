"""Request sequences taken from Okta's and Microsoft Entra ID's public SCIM documentation, replayed against the
portal: lookups before create, create, profile update, deactivate, reactivate, group push with member add and
remove, rename, delete — each step checked in the database, and the whole in the users page and the audit log
(one event per change, via scim).

Sources (bodies copied as documented, ids replaced by the portal's own):
- OKTA: "Okta and SCIM Version 2.0", https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20
  (okta/okta-developer-docs, packages/@okta/vuepress-site/docs/reference/scim/scim-20/index.md).
- ENTRA: "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID", section
  "SCIM protocol requests and responses",
  https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
  (MicrosoftDocs/azure-docs, articles/active-directory/app-provisioning/use-scim-to-provision-users-and-groups.md).
- ENTRA-FLAGS: "Known issues and resolutions with SCIM 2.0 protocol compliance of the Microsoft Entra user
  provisioning service", "Flags to alter the SCIM behavior": what Entra sends without the aadOptscim062020 flag
  (the default) and with it,
  https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility
"""

from __future__ import annotations

import uuid

from flask import Flask
from sqlalchemy import func, select

from portal.models import AuditEvent, Group, GroupMember, Invitation, User
from tests.helpers import Portal
from tests.scim.conftest import Scim

PATCH_OP = ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _events(portal: Portal) -> list[AuditEvent]:
    with portal.app.app_context():
        from portal import db

        return list(
            db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action != "provisioning_token.create")
                .order_by(AuditEvent.created_at, AuditEvent.id)
            )
        )


def _user(portal: Portal, user_id: str) -> User:
    return portal.get(User, uuid.UUID(user_id))


def _member_ids(portal: Portal, group_id: str) -> list[uuid.UUID]:
    with portal.app.app_context():
        from portal import db

        return list(db.session.scalars(select(GroupMember.user_id).where(GroupMember.group_id == uuid.UUID(group_id))))


def test_okta_sequence(app: Flask, portal: Portal, scim: Scim) -> None:
    owner = portal.scalar(select(User).where(User.is_owner))
    # OKTA "Retrieve Users" / "Retrieve Groups": the import pages through with startIndex=1&count=100.
    assert scim.get("/Users", query_string={"startIndex": "1", "count": "100"}).get_json()["totalResults"] == 1
    assert scim.get("/Groups", query_string={"startIndex": "1", "count": "100"}).get_json()["totalResults"] == 0
    # OKTA "Determine if the User already exists": GET /Users?filter=userName eq "…"&startIndex=1&count=100.
    look = scim.get("/Users?filter=userName%20eq%20%22test.user%40example.com%22&startIndex=1&count=100")
    assert look.status_code == 200 and look.get_json()["totalResults"] == 0
    # OKTA "Create the User", as documented but for the address: okta.local is a special-use name (RFC 6762)
    # no mail reaches, and the portal emails every new user a link to choose a password — refused, then sent
    # again with example.com. Okta's "password" is ignored: the person chooses theirs from the link.
    created_body = {
        "schemas": [USER],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }
    refused = scim.post("/Users", created_body)
    assert refused.status_code == 400 and refused.get_json()["scimType"] == "invalidValue"
    created_body["userName"] = created_body["emails"][0]["value"] = "test.user@example.com"  # type: ignore[index]
    created = scim.post("/Users", created_body)
    assert created.status_code == 201, created.get_data(as_text=True)
    user_id = created.get_json()["id"]
    user = _user(portal, user_id)
    assert (
        user.login,
        user.email,
        user.first_name,
        user.last_name,
        user.external_id,
        user.status,
        user.password_hash,
    ) == ("test.user@example.com", "test.user@example.com", "Test", "User", "00ujl29u0le5T6Aj10h7", "pending", None)
    with app.app_context():
        from portal import db

        invitation = db.session.scalar(select(Invitation).where(Invitation.user_id == user.id))
        assert invitation is not None and invitation.provisioned  # the link to choose a password went out
    # A second create of the same userName: 409, which stops Okta's job ("User already exists").
    assert scim.post("/Users", created_body).status_code == 409
    # OKTA "Update a specific User (PUT)": GET it, then PUT the whole user back with the changes.
    assert scim.get(f"/Users/{user_id}").status_code == 200
    put = scim.put(
        f"/Users/{user_id}",
        {
            "schemas": [USER],
            "id": user_id,
            "userName": "test.user@example.com",
            "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
            "emails": [
                {"primary": True, "value": "test.user@example.com", "type": "work", "display": "test.user@example.com"}
            ],
            "active": True,
            "groups": [],
            "meta": {"resourceType": "User"},
        },
    )
    assert put.status_code == 200 and put.get_json()["name"]["givenName"] == "Another"
    assert _user(portal, user_id).first_name == "Another"
    # OKTA "Update a specific User (PATCH)": deactivation is a replace without a path. Okta never DELETEs users
    # ("Delete Users"): deprovisioning is this.
    deactivate = {"schemas": PATCH_OP, "Operations": [{"op": "replace", "value": {"active": False}}]}
    off = scim.patch(f"/Users/{user_id}", deactivate)
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert _user(portal, user_id).status == "disabled"
    on = scim.patch(
        f"/Users/{user_id}", {"schemas": PATCH_OP, "Operations": [{"op": "replace", "value": {"active": True}}]}
    )
    assert on.status_code == 200 and on.get_json()["active"] is True
    assert _user(portal, user_id).status == "pending"  # never chose a password: pending, with a new link
    # OKTA "Create Groups": POST /Groups with an empty member list.
    group = scim.post(
        "/Groups",
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Test SCIMv2", "members": []},
    )
    assert group.status_code == 201
    group_id = group.get_json()["id"]
    other = scim.post(
        "/Users",
        {
            "schemas": [USER],
            "userName": "other.user@example.com",
            "emails": [{"primary": True, "value": "other.user@example.com", "type": "work"}],
            "active": True,
        },
    ).get_json()["id"]
    # OKTA "Update specific Group membership": a replace of the whole set, then remove (by path filter) and add
    # in one request.
    full = scim.patch(
        f"/Groups/{group_id}",
        {
            "schemas": PATCH_OP,
            "Operations": [
                {"op": "replace", "path": "members", "value": [{"value": other, "display": "other.user@example.com"}]}
            ],
        },
    )
    assert full.status_code == 200 and _member_ids(portal, group_id) == [uuid.UUID(other)]
    swap = scim.patch(
        f"/Groups/{group_id}",
        {
            "schemas": PATCH_OP,
            "Operations": [
                {"op": "remove", "path": f'members[value eq "{other}"]'},
                {"op": "add", "path": "members", "value": [{"value": user_id, "display": "test.user@example.com"}]},
            ],
        },
    )
    assert swap.status_code == 200 and _member_ids(portal, group_id) == [uuid.UUID(user_id)]
    # OKTA "Update a specific Group name": a replace without a path, carrying the id.
    rename = scim.patch(
        f"/Groups/{group_id}",
        {
            "schemas": PATCH_OP,
            "Operations": [{"op": "replace", "value": {"id": group_id, "displayName": "Test SCIMv20"}}],
        },
    )
    assert rename.status_code == 200 and rename.get_json()["displayName"] == "Test SCIMv20"
    # OKTA "Delete a specific Group".
    assert scim.delete(f"/Groups/{group_id}").status_code == 204
    assert portal.scalar(select(func.count()).select_from(Group)) == 0
    # Deprovisioned, as Okta does it: deactivated, listed as disabled on the users page.
    assert scim.patch(f"/Users/{user_id}", deactivate).status_code == 200
    events = _events(portal)
    assert {e.via for e in events} == {"scim"} and {e.actor_label for e in events} == {"SCIM provisioning"}
    assert [e.action for e in events] == [
        "invitation.create",
        "user.update",
        "user.disable",
        "invitation.create",
        "group.create",
        "invitation.create",
        "group.members.replace",
        "group.members.replace",
        "group.update",
        "group.delete",
        "user.disable",
    ]
    page = portal.client(owner).get(f"/accounts/{owner.account_id}/users?status=disabled").get_data(as_text=True)
    assert "Another User" in page


def test_entra_sequence(app: Flask, portal: Portal, scim: Scim) -> None:
    owner = portal.scalar(select(User).where(User.is_owner))
    # ENTRA "Get User by query - Zero results", then "Create User" (userName is not an email here).
    user_name = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"
    assert scim.get("/Users", query_string={"filter": f'userName eq "{user_name}"'}).get_json()["totalResults"] == 0
    created = scim.post(
        "/Users",
        {
            "schemas": [USER, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": user_name,
            "active": True,
            "emails": [
                {
                    "primary": True,
                    "type": "work",
                    "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com",
                }
            ],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
        },
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    uid = created.get_json()["id"]
    assert _user(portal, uid).login == user_name.lower()
    # ENTRA "Get User by query" (matching on userName; externalId is the other attribute Entra matches on).
    found = scim.get("/Users", query_string={"filter": f'userName eq "{user_name}"'}).get_json()
    assert [r["id"] for r in found["Resources"]] == [uid]
    assert (
        scim.get("/Users", query_string={"filter": 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"'}).get_json()[
            "totalResults"
        ]
        == 1
    )
    # ENTRA "Update User [Multi-valued properties]": capitalised ops, a value-filtered email path.
    patched = scim.patch(
        f"/Users/{uid}",
        {
            "schemas": PATCH_OP,
            "Operations": [
                {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            ],
        },
    )
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert (_user(portal, uid).email, _user(portal, uid).last_name) == (
        "updatedemail@microsoft.com",
        "updatedFamilyName",
    )
    # ENTRA-FLAGS "Requests to replace multiple attributes", without the flag (Entra's default): displayName (made
    # of the names here: ignored) and an enterprise attribute the portal does not keep (ignored) beside the rest.
    many = scim.patch(
        f"/Users/{uid}",
        {
            "schemas": PATCH_OP,
            "Operations": [
                {"op": "Replace", "path": "displayName", "value": "Pvlo"},
                {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "TestBcwqnm@test.microsoft.com"},
                {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
                {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
                {"op": "Replace", "path": "externalId", "value": "Eqpj"},
                {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "Eqpj"},
            ],
        },
    )
    assert many.status_code == 200, many.get_data(as_text=True)
    user = _user(portal, uid)
    assert (user.email, user.first_name, user.last_name, user.external_id) == (
        "testbcwqnm@test.microsoft.com",
        "Gtfd",
        "Pkqf",
        "Eqpj",
    )
    # ... and with the flag: one replace without a path, dotted names and a URN-qualified one inside.
    flagged = scim.patch(
        f"/Users/{uid}",
        {
            "schemas": PATCH_OP,
            "Operations": [
                {"op": "replace", "path": 'emails[type eq "work"].value', "value": "TestMhvaes@test.microsoft.com"},
                {
                    "op": "replace",
                    "value": {
                        "displayName": "Bjfe",
                        "name.givenName": "Kkom",
                        "name.familyName": "Unua",
                        f"{ENTERPRISE}:employeeNumber": "Aklq",
                    },
                },
            ],
        },
    )
    assert flagged.status_code == 200, flagged.get_data(as_text=True)
    user = _user(portal, uid)
    assert (user.email, user.first_name, user.last_name) == ("testmhvaes@test.microsoft.com", "Kkom", "Unua")
    # ENTRA "Update User [Single-valued properties]": a new userName.
    new_name = "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    renamed = scim.patch(
        f"/Users/{uid}", {"schemas": PATCH_OP, "Operations": [{"op": "Replace", "path": "userName", "value": new_name}]}
    )
    assert renamed.status_code == 200 and _user(portal, uid).login == new_name
    # ENTRA-FLAGS "Requests made to disable users", without the flag: "Replace" and the string "False".
    off = scim.patch(
        f"/Users/{uid}", {"schemas": PATCH_OP, "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}
    )
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert _user(portal, uid).status == "disabled"
    # ... and with the flag (ENTRA "Disable User"): a real boolean; reactivate the same way.
    assert (
        scim.patch(
            f"/Users/{uid}", {"schemas": PATCH_OP, "Operations": [{"op": "replace", "path": "active", "value": True}]}
        ).get_json()["active"]
        is True
    )
    # ENTRA "Create Group": no members, a second (Microsoft) schema URI.
    group = scim.post(
        "/Groups",
        {
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:Group",
                "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
            ],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"},
        },
    )
    assert group.status_code == 201, group.get_data(as_text=True)
    group_id = group.get_json()["id"]
    # ENTRA "Get Group" and "Get Group by displayName": members excluded.
    one = scim.get(f"/Groups/{group_id}", query_string={"excludedAttributes": "members"}).get_json()
    assert "members" not in one and one["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    by_name = scim.get(
        "/Groups", query_string={"excludedAttributes": "members", "filter": 'displayName eq "displayName"'}
    ).get_json()
    assert [g["id"] for g in by_name["Resources"]] == [group_id]
    # ENTRA "Update Group [Non-member attributes]".
    assert (
        scim.patch(
            f"/Groups/{group_id}",
            {
                "schemas": PATCH_OP,
                "Operations": [
                    {
                        "op": "Replace",
                        "path": "displayName",
                        "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName",
                    }
                ],
            },
        ).status_code
        == 200
    )
    # ENTRA "Update Group [Add Members]": "$ref": null.
    add = {
        "schemas": PATCH_OP,
        "Operations": [{"op": "Add", "path": "members", "value": [{"$ref": None, "value": uid}]}],
    }
    assert scim.patch(f"/Groups/{group_id}", add).status_code == 200
    assert _member_ids(portal, group_id) == [uuid.UUID(uid)]
    # ENTRA "Update Group [Remove Members]" / ENTRA-FLAGS without the flag: a value list, no path filter.
    removed = scim.patch(
        f"/Groups/{group_id}",
        {
            "schemas": PATCH_OP,
            "Operations": [{"op": "Remove", "path": "members", "value": [{"$ref": None, "value": uid}]}],
        },
    )
    assert removed.status_code == 200 and _member_ids(portal, group_id) == []
    # ... and with the flag: a path filter.
    assert scim.patch(f"/Groups/{group_id}", add).status_code == 200
    assert (
        scim.patch(
            f"/Groups/{group_id}",
            {"schemas": PATCH_OP, "Operations": [{"op": "remove", "path": f'members[value eq "{uid}"]'}]},
        ).status_code
        == 200
    )
    assert _member_ids(portal, group_id) == []
    # ENTRA "Delete User", "Delete Group".
    assert scim.delete(f"/Users/{uid}").status_code == 204
    assert scim.get(f"/Users/{uid}").status_code == 404
    assert scim.delete(f"/Groups/{group_id}").status_code == 204
    # The owner is listed, never changed; a stale If-Match is 412.
    assert scim.get(f"/Users/{owner.id}").status_code == 200
    assert (
        scim.patch(
            f"/Users/{owner.id}",
            {"schemas": PATCH_OP, "Operations": [{"op": "Replace", "path": "active", "value": "False"}]},
        ).status_code
        == 403
    )
    assert scim.delete(f"/Users/{owner.id}").status_code == 403
    assert (
        scim.put(f"/Users/{owner.id}", {"userName": "x@example.com"}, headers={"If-Match": 'W/"999"'}).status_code
        == 412
    )
    events = _events(portal)
    assert {e.via for e in events} == {"scim"}
    assert [e.action for e in events] == [
        "invitation.create",
        "user.update",
        "user.update",
        "user.update",
        "user.update",
        "user.disable",
        "invitation.create",
        "group.create",
        "group.update",
        "group.members.add",
        "group.members.remove",
        "group.members.add",
        "group.members.remove",
        "user.delete",
        "group.delete",
    ]
    admin = portal.client(owner)
    assert "testmhvaes" not in admin.get(f"/accounts/{owner.account_id}/users").get_data(as_text=True)
    provisioning = admin.get(f"/accounts/{owner.account_id}/settings/provisioning")
    assert provisioning.status_code == 200 and "/Users" in provisioning.get_data(as_text=True)
