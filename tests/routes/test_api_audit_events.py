"""Every change made through the JSON API writes exactly one audit event, marked via=api with the key's id and
name (issue 15), as the same change on the pages writes one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from portal import db
from portal.models import AuditEvent
from tests.api_client import Api, api_for
from tests.helpers import Portal, Tenant, make_group, make_role

Step = Callable[[Api, Tenant, dict[str, Any]], Any]


def _invitation(api: Api, a: Tenant) -> dict[str, Any]:
    return api.post(f"/api/v1/accounts/{a.id}/invitations", json={"email": "inv@example.com"}).get_json()


WRITES: dict[str, tuple[str, Step]] = {
    "create user": (
        "user.create",
        lambda api, a, _w: api.post(
            f"/api/v1/accounts/{a.id}/users",
            json={
                "email": "n@example.com",
                "login": "newbie",
                "password": "violet-harbor-lantern-42",
                "roles": ["auditor"],
                "groups": ["Ops"],
            },
        ),
    ),
    "invite user": (
        "invitation.create",
        lambda api, a, _w: api.post(
            f"/api/v1/accounts/{a.id}/users", json={"email": "p@example.com", "roles": ["member"]}
        ),
    ),
    "patch user": (
        "user.update",
        lambda api, a, _w: api.patch(f"/api/v1/accounts/{a.id}/users/member-a", json={"city": "Oslo", "phone": "1"}),
    ),
    "patch user and email": (
        "user.email_change_requested",
        lambda api, a, _w: api.patch(
            f"/api/v1/accounts/{a.id}/users/member-a", json={"city": "Oslo", "email": "m2@example.com"}
        ),
    ),
    "replace roles": (
        "role.replace",
        lambda api, a, _w: api.put(
            f"/api/v1/accounts/{a.id}/users/member-a/roles",
            json={"roles": ["auditor", "Helpdesk"], "default_roles": ["auditor"]},
        ),
    ),
    "set password": (
        "user.set_password",
        lambda api, a, _w: api.post(
            f"/api/v1/accounts/{a.id}/users/member-a/password",
            json={"password": "violet-harbor-lantern-42", "password_confirmation": "violet-harbor-lantern-42"},
        ),
    ),
    "reset mfa": ("user.reset_mfa", lambda api, a, _w: api.post(f"/api/v1/accounts/{a.id}/users/member-a/reset-mfa")),
    "disable": ("user.disable", lambda api, a, _w: api.post(f"/api/v1/accounts/{a.id}/users/member-a/disable")),
    "delete user": ("user.delete", lambda api, a, _w: api.delete(f"/api/v1/accounts/{a.id}/users/member-a")),
    "invite": ("invitation.create", lambda api, a, _w: _invitation(api, a)),
    "patch invitation": (
        "invitation.update",
        lambda api, a, w: api.patch(
            f"/api/v1/accounts/{a.id}/invitations/{w['invitation']['id']}", json={"roles": ["auditor"]}
        ),
    ),
    "resend": (
        "invitation.resend",
        lambda api, a, w: api.post(f"/api/v1/accounts/{a.id}/invitations/{w['invitation']['id']}/resend"),
    ),
    "resend by user": (
        "invitation.resend",
        lambda api, a, w: api.post(
            f"/api/v1/accounts/{a.id}/invitations/resend", json={"user_id": w["invitation"]["user_id"]}
        ),
    ),
    "revoke": (
        "invitation.revoke",
        lambda api, a, w: api.delete(f"/api/v1/accounts/{a.id}/invitations/{w['invitation']['id']}"),
    ),
    "create role": (
        "role.create",
        lambda api, a, _w: api.post(
            f"/api/v1/accounts/{a.id}/roles", json={"name": "Desk", "permissions": ["users:read"]}
        ),
    ),
    "patch role": (
        "role.update",
        lambda api, a, w: api.patch(
            f"/api/v1/accounts/{a.id}/roles/{w['role'].id}", json={"name": "Helpdesk 2", "permissions": []}
        ),
    ),
    "delete role": ("role.delete", lambda api, a, w: api.delete(f"/api/v1/accounts/{a.id}/roles/{w['role'].id}")),
    "create group": (
        "group.create",
        lambda api, a, _w: api.post(f"/api/v1/accounts/{a.id}/groups", json={"name": "Dev"}),
    ),
    "patch group": (
        "group.update",
        lambda api, a, w: api.patch(
            f"/api/v1/accounts/{a.id}/groups/{w['group'].id}", json={"name": "Ops 2", "description": "x"}
        ),
    ),
    "delete group": ("group.delete", lambda api, a, w: api.delete(f"/api/v1/accounts/{a.id}/groups/{w['group'].id}")),
    "add members": (
        "group.members.add",
        lambda api, a, w: api.post(
            f"/api/v1/accounts/{a.id}/groups/{w['group'].id}/members",
            json=[{"email": "auditor-a@example.com"}, {"id": str(a.admin.id)}],
        ),
    ),
    "replace members": (
        "group.members.replace",
        lambda api, a, w: api.put(
            f"/api/v1/accounts/{a.id}/groups/{w['group'].id}/members", json=[{"email": "auditor-a@example.com"}]
        ),
    ),
    "remove member": (
        "group.members.remove",
        lambda api, a, w: api.delete(f"/api/v1/accounts/{a.id}/groups/{w['group'].id}/members/{a.member.id}"),
    ),
}


@pytest.mark.parametrize("name", list(WRITES))
def test_one_change_one_event_via_the_api(portal: Portal, name: str) -> None:
    a = portal.tenant("A")
    world: dict[str, Any] = {
        "group": make_group(portal, a.account, "Ops", members=(a.member,)),
        "role": make_role(portal, a.account, "Helpdesk", ("users:read",)),
    }
    api = api_for(portal, a.admin, name="ops-bot")
    action, step = WRITES[name]
    if "invitation" in name or name in {"resend", "resend by user", "revoke"}:
        world["invitation"] = _invitation(api, a)
    with portal.app.app_context():
        seen = set(db.session.scalars(select(AuditEvent.id)))
    response = step(api, a, world)
    status = getattr(response, "status_code", 201)
    assert status < 300, getattr(response, "get_json", lambda: response)()
    with portal.app.app_context():
        new = [e for e in db.session.scalars(select(AuditEvent)) if e.id not in seen]
    assert [(e.action, e.via, e.api_key_name, e.actor_id) for e in new] == [(action, "api", "ops-bot", a.admin.id)]
    assert new[0].api_key_id is not None
