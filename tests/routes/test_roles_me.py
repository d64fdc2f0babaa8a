"""Default and active roles: /me/roles turns held roles on and off for the session (seed 001)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from portal import db
from portal.models import AuditEvent, LoginSession
from tests.helpers import Portal, make_role, role_named


def _active(portal: Portal, user_id: uuid.UUID) -> list[set[str]]:
    with portal.app.app_context():
        return [
            set(s.active_role_ids)
            for s in db.session.scalars(select(LoginSession).where(LoginSession.user_id == user_id))
        ]


def test_my_roles_lists_held_roles_and_which_are_active(portal: Portal) -> None:
    tenant = portal.tenant()
    make_role(portal, tenant.account, "Support desk", ("users:read",), holders=(tenant.member,), default=False)
    page = portal.client(tenant.member).get("/me/roles")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>My roles</h1>" in body
    assert "member" in body and "Support desk" in body and "<code>users:read</code>" in body
    assert 'aria-label="Deactivate member"' in body and 'aria-label="Activate Support desk"' in body
    fragment = portal.client(tenant.member).get("/me/roles", hx=True).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="my_roles">')


def test_default_roles_are_active_at_sign_in_and_others_on_demand(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Support desk", ("users:read",), holders=(tenant.member,), default=False)
    client = portal.client(tenant.member)
    users = f"/accounts/{tenant.id}/users"
    assert client.get(users).status_code == 403
    response = client.post(f"/me/roles/{role.id}/activate")
    assert response.status_code == 303 and response.headers["Location"] == "/me/roles"
    assert "Support desk is active for this session." in client.get("/me/roles").get_data(as_text=True)
    assert client.get(users).status_code == 200
    # Another session of the same person is not affected.
    elsewhere = portal.client(tenant.member)
    assert elsewhere.get(users).status_code == 403
    response = client.post(f"/me/roles/{role.id}/deactivate", hx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/me/roles"
    assert client.get(users).status_code == 403
    with portal.app.app_context():
        actions = [
            e.action
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("session.role_%")).order_by(AuditEvent.created_at)
            )
        ]
    assert actions == ["session.role_activate", "session.role_deactivate"]


def test_deactivating_a_default_role_drops_its_permissions(portal: Portal) -> None:
    tenant = portal.tenant()
    role = role_named(portal, tenant.account, "user-manager")
    client = portal.client(tenant.user_manager)
    assert client.get(f"/accounts/{tenant.id}/users").status_code == 200
    client.post(f"/me/roles/{role.id}/deactivate")
    assert client.get(f"/accounts/{tenant.id}/users").status_code == 403
    body = client.get("/me/roles").get_data(as_text=True)
    assert 'aria-label="Activate user-manager"' in body and "Users</a>" not in body
    client.post(f"/me/roles/{role.id}/activate")
    client.post(f"/me/roles/{role.id}/activate")  # twice is the same as once
    assert _active(portal, tenant.user_manager.id) == [{str(role.id)}]


def test_only_held_roles_can_be_activated(portal: Portal) -> None:
    tenant, other = portal.tenant("A"), portal.tenant("B")
    admin_role = role_named(portal, tenant.account, "account-admin")
    theirs = role_named(portal, other.account, "account-admin")
    client = portal.client(tenant.member)
    for role_id in (admin_role.id, theirs.id, uuid.uuid4()):
        assert client.post(f"/me/roles/{role_id}/activate").status_code == 404
    assert client.get(f"/accounts/{tenant.id}/users").status_code == 403
    assert _active(portal, tenant.member.id) == [{str(role_named(portal, tenant.account, "member").id)}]


def test_my_roles_needs_sign_in_and_csrf(portal: Portal) -> None:
    tenant = portal.tenant()
    role = role_named(portal, tenant.account, "member")
    anonymous = portal.client()
    response = anonymous.get("/me/roles")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    assert anonymous.post(f"/me/roles/{role.id}/activate").status_code == 302
    client = portal.client(tenant.member)
    assert client.post(f"/me/roles/{role.id}/deactivate", csrf=False).status_code == 400
    assert _active(portal, tenant.member.id) == [{str(role.id)}]


def test_the_owner_is_told_roles_do_not_limit_them(portal: Portal) -> None:
    tenant = portal.tenant()
    role = role_named(portal, tenant.account, "account-admin")
    client = portal.client(tenant.owner)
    client.post(f"/me/roles/{role.id}/deactivate")
    assert "you hold every permission" in client.get("/me/roles").get_data(as_text=True)
    assert client.get(f"/accounts/{tenant.id}/roles").status_code == 200
