"""The JSON API's roles, groups and members (seed 003), and the audit log."""

from __future__ import annotations

import uuid

import pytest

from portal.models import Group, GroupMember, Role, RoleAssignment
from tests.api_client import Api, api_for, audit_events, codes
from tests.helpers import Portal, Tenant, count, make_group, make_role, role_named


@pytest.fixture
def admin(portal: Portal, a: Tenant) -> Api:
    return api_for(portal, a.admin)


def base(a: Tenant) -> str:
    return f"/api/v1/accounts/{a.id}"


# --- roles ----------------------------------------------------------------------------------------------------------


def test_list_and_read_roles(portal: Portal, a: Tenant, admin: Api) -> None:
    data = admin.get(f"{base(a)}/roles?take=3").get_json()
    assert [r["name"] for r in data["roles"]] == ["account-admin", "auditor", "group-manager"]
    assert data["row_count"] == 5 and data["page_count"] == 2 and data["next"].endswith("from=3")
    admin_role = data["roles"][0]
    assert set(admin_role) == {"id", "name", "description", "built_in", "permissions", "member_count", "version"}
    assert admin_role["built_in"] is True and len(admin_role["permissions"]) == 12
    assert admin_role["member_count"] == 2  # the owner and the admin
    one = admin.get(f"{base(a)}/roles/{admin_role['id']}")
    assert one.get_json() == admin_role and one.headers["ETag"] == f'"{admin_role["version"]}"'


def test_create_update_delete_a_custom_role(portal: Portal, a: Tenant, admin: Api) -> None:
    response = admin.post(f"{base(a)}/roles", json={"name": "Support desk", "permissions": ["users:read"]})
    assert response.status_code == 201, response.get_json()
    role = response.get_json()
    assert role["built_in"] is False and role["permissions"] == ["users:read"]
    assert response.headers["Location"] == f"{base(a)}/roles/{role['id']}"
    assert codes(admin.post(f"{base(a)}/roles", json={"name": "SUPPORT DESK"})) == [("InvalidArgument", "name")]
    assert codes(admin.post(f"{base(a)}/roles", json={"name": "x"})) == [("InvalidArgument", "name")]
    assert codes(admin.post(f"{base(a)}/roles", json={"name": "Ok", "permissions": ["root"]}))[0] == (
        "InvalidArgument",
        "permissions.0",
    )
    changed = admin.patch(
        f"{base(a)}/roles/{role['id']}",
        json={"description": "First line"},
        headers={"If-Match": f'"{role["version"]}"'},
    )
    assert changed.status_code == 200 and changed.get_json()["description"] == "First line"
    assert changed.get_json()["name"] == "Support desk"
    stale = admin.patch(
        f"{base(a)}/roles/{role['id']}", json={"description": "x"}, headers={"If-Match": f'"{role["version"]}"'}
    )
    assert stale.status_code == 412
    assert admin.delete(f"{base(a)}/roles/{role['id']}").status_code == 204
    assert portal.get(Role, uuid.UUID(role["id"])) is None
    assert [(e.action, e.via) for e in audit_events(portal)] == [
        ("role.create", "api"),
        ("role.update", "api"),
        ("role.delete", "api"),
    ]


def test_built_in_roles_are_409_and_escalation_403(portal: Portal, a: Tenant, admin: Api) -> None:
    auditor = role_named(portal, a.account, "auditor")
    for response in (
        admin.patch(f"{base(a)}/roles/{auditor.id}", json={"name": "auditors"}),
        admin.delete(f"{base(a)}/roles/{auditor.id}"),
    ):
        assert response.status_code == 409 and codes(response) == [("Conflict", None)]
    lead = make_role(portal, a.account, "Lead", ("roles:read", "roles:write", "users:read"), holders=(a.member,))
    lead_key = api_for(portal, a.member)
    response = lead_key.post(f"{base(a)}/roles", json={"name": "Power", "permissions": ["account:manage"]})
    assert response.status_code == 403
    assert lead_key.patch(f"{base(a)}/roles/{lead.id}", json={"permissions": ["users:read"]}).status_code == 422
    assert count(portal, Role, Role.name == "Power") == 0 and portal.get(Role, lead.id).permissions != ["users:read"]


# --- groups ---------------------------------------------------------------------------------------------------------


def test_group_crud(portal: Portal, a: Tenant, admin: Api) -> None:
    response = admin.post(f"{base(a)}/groups", json={"name": "Ops", "description": "On call"})
    assert response.status_code == 201
    group = response.get_json()
    assert set(group) == {"id", "name", "description", "member_count", "created_at", "version"}
    assert codes(admin.post(f"{base(a)}/groups", json={"name": "ops"})) == [("InvalidArgument", "name")]
    assert codes(admin.post(f"{base(a)}/groups", json={})) == [("MissingParameter", "name")]
    listed = admin.get(f"{base(a)}/groups?q=op").get_json()
    assert [g["name"] for g in listed["groups"]] == ["Ops"] and listed["row_count"] == 1
    etag = admin.get(f"{base(a)}/groups/{group['id']}").headers["ETag"]
    renamed = admin.patch(f"{base(a)}/groups/{group['id']}", json={"name": "Operations"}, headers={"If-Match": etag})
    assert renamed.status_code == 200 and renamed.get_json()["description"] == "On call"
    assert admin.delete(f"{base(a)}/groups/{group['id']}", headers={"If-Match": etag}).status_code == 412
    assert admin.delete(f"{base(a)}/groups/{group['id']}").status_code == 204
    assert count(portal, Group) == 0


def test_members_list_add_replace_get_remove(portal: Portal, a: Tenant, b: Tenant, admin: Api) -> None:
    group = make_group(portal, a.account, "Ops", members=(a.member,))
    members = f"{base(a)}/groups/{group.id}/members"
    response = admin.post(
        members, json=[{"id": str(a.auditor.id)}, {"email": "ADMIN-A@example.com"}, {"id": str(a.member.id)}]
    )
    assert response.status_code == 200
    assert [(m["email"], m["status"]) for m in response.get_json()] == [
        ("auditor-a@example.com", "accepted"),
        ("admin-a@example.com", "accepted"),
    ]  # the member was already in
    listed = admin.get(f"{members}?take=2").get_json()
    assert listed["row_count"] == 3 and len(listed["members"]) == 2 and listed["next"]
    assert set(listed["members"][0]) == {"id", "email", "status"}
    # Any unknown (or another account's) person: 422 and nobody is added.
    refused = admin.post(members, json=[{"id": str(a.owner.id)}, {"id": str(b.member.id)}])
    assert refused.status_code == 422 and codes(refused) == [("InvalidArgument", "members")]
    assert codes(admin.post(members, json=[{"id": str(a.owner.id), "email": "x@example.com"}]))[0][0] == (
        "MissingParameter"
    )
    replaced = admin.put(members, json=[{"email": "owner-a@example.com"}])
    assert [m["email"] for m in replaced.get_json()] == ["owner-a@example.com"]
    assert count(portal, GroupMember, GroupMember.group_id == group.id) == 1
    detail = admin.get(f"{members}/{a.owner.id}").get_json()
    assert detail["user"] == {
        "id": str(a.owner.id),
        "email": "owner-a@example.com",
        "first_name": "",
        "last_name": "",
    } and detail["created_at"].endswith("Z")
    assert admin.get(f"{members}/{a.member.id}").status_code == 404
    removed = admin.delete(f"{members}/{a.owner.id}")
    assert removed.status_code == 200 and removed.get_json()["email"] == "owner-a@example.com"
    assert admin.put(members, json=[]).status_code == 200
    assert [e.action for e in audit_events(portal) if e.via == "api"] == [
        "group.members.add",
        "group.members.replace",
        "group.members.remove",
    ]


def test_foreign_groups_and_roles_are_404(portal: Portal, a: Tenant, b: Tenant, admin: Api) -> None:
    theirs = make_group(portal, b.account, "Theirs", members=(b.member,))
    role = role_named(portal, b.account, "auditor")
    for response in (
        admin.get(f"{base(a)}/groups/{theirs.id}"),
        admin.delete(f"{base(a)}/groups/{theirs.id}"),
        admin.get(f"{base(a)}/groups/{theirs.id}/members"),
        admin.delete(f"{base(a)}/groups/{theirs.id}/members/{b.member.id}"),
        admin.get(f"{base(a)}/roles/{role.id}"),
        admin.delete(f"{base(a)}/roles/{role.id}"),
    ):
        assert response.status_code == 404
    assert count(portal, GroupMember) == 1 and count(portal, RoleAssignment, RoleAssignment.role_id == role.id) == 1


# --- audit ------------------------------------------------------------------------------------------------------------


def test_the_audit_log_shows_how_each_change_came_in(portal: Portal, a: Tenant, admin: Api) -> None:
    portal.client(a.admin).post(f"/accounts/{a.id}/groups", {"name": "From the page"})
    admin.post(f"{base(a)}/groups", json={"name": "From the API"})
    data = api_for(portal, a.auditor).get(f"{base(a)}/audit?action=group.*").get_json()
    events = data["events"]
    assert [(e["action"], e["via"]) for e in events] == [("group.create", "api"), ("group.create", "web")]
    assert events[0]["api_key"]["name"] == "test" and events[1]["api_key"] is None
    assert events[0]["actor"] == {"id": str(a.admin.id), "login": "admin-a"}
    assert events[0]["target"]["label"] == "From the API" and events[0]["at"].endswith("Z")
    assert set(events[0]) == {
        "id",
        "at",
        "action",
        "actor",
        "via",
        "api_key",
        "target",
        "changes",
        "correlation_id",
        "ip",
    }
    page = portal.client(a.admin).get(f"/accounts/{a.id}/audit").get_data(as_text=True)
    assert "via API key test" in page
