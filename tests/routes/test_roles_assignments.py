"""Granting, removing and marking roles default on a user, and the rules that guard it (A4, A5, A6)."""

from __future__ import annotations

import dataclasses
import re
import uuid

import pytest
from sqlalchemy import func, select

from portal import db
from portal.models import LoginSession, RoleAssignment, User
from portal.permissions import Permission
from portal.roles.queries import RolesPanel, user_roles_panel
from tests.helpers import Portal, Tenant, events, make_role, role_named


def _roles_url(tenant: Tenant, user: User, path: str = "") -> str:
    return f"/accounts/{tenant.id}/users/{user.id}/roles{path}"


def _user_page(tenant: Tenant, user: User) -> str:
    return f"/accounts/{tenant.id}/users/{user.id}"


def _held(portal: Portal, user: User) -> dict[str, bool]:
    """The user's roles by name, with their default flag."""
    with portal.app.app_context():
        rows = db.session.execute(select(RoleAssignment).where(RoleAssignment.user_id == user.id)).scalars()
        return {a.role.name: a.is_default for a in rows}


# --- The panel --------------------------------------------------------------------------------


def test_the_panel_page_shows_roles_grants_and_effective_permissions(portal: Portal) -> None:
    tenant = portal.tenant()
    make_role(
        portal,
        tenant.account,
        "Support desk",
        ("users:read", "audit:read"),
        holders=(tenant.group_manager,),
        default=False,
    )
    body = portal.client(tenant.admin).get(_roles_url(tenant, tenant.group_manager)).get_data(as_text=True)
    assert '<section id="user_roles"' in body
    assert "group-manager" in body and "Support desk" in body
    assert re.search(r'aria-checked="true"\s+aria-label="Default role group-manager"', body)
    assert re.search(r'aria-checked="false"\s+aria-label="Default role Support desk"', body)
    # users:read comes from both roles; the non-default one says so.
    assert 'group-manager, Support desk <small class="muted">(when activated)</small>' in body
    assert "<code>audit:read</code>" in body and "<code>account:manage</code>" not in body
    # Roles they do not hold yet are offered.
    for name in ("account-admin", "auditor", "member", "user-manager"):
        assert f">{name}</option>" in body
    assert ">group-manager</option>" not in body


def test_the_panel_explains_what_the_actor_cannot_grant(portal: Portal) -> None:
    tenant = portal.tenant()
    make_role(
        portal,
        tenant.account,
        "Role admin",
        ("roles:read", "roles:write", "users:read", "users:write"),
        holders=(tenant.no_role,),
    )
    body = portal.client(tenant.no_role).get(_roles_url(tenant, tenant.member)).get_data(as_text=True)
    assert ">account-admin</option>" not in body and ">auditor</option>" not in body
    assert "<strong>account-admin</strong>: You need" in body
    assert "to grant the role account-admin." in body
    assert "audit:read" in body  # the auditor role needs it
    assert ">member</option>" not in body  # held already
    assert ">Role admin</option>" in body


def test_the_panel_says_when_the_actor_may_not_act_on_the_user(portal: Portal) -> None:
    tenant = portal.tenant()
    client = portal.client(tenant.admin)
    body = client.get(_roles_url(tenant, tenant.owner)).get_data(as_text=True)
    assert "Only the owner can change the owner." in body
    assert "holds every permission" in body and 'id="add_role"' not in body and ">Remove</button>" not in body
    reader = portal.client(tenant.auditor).get(_roles_url(tenant, tenant.member)).get_data(as_text=True)
    assert 'id="add_role"' not in reader and "<form" not in reader.split('<section id="user_roles"')[1]


def test_user_roles_panel_contract(portal: Portal) -> None:
    """The function the user page calls: a frozen RolesPanel, and one statement whatever the roles (two before
    issue 20, and the page read the rank a third time)."""
    tenant = portal.tenant()
    for n in range(5):
        make_role(portal, tenant.account, f"Role {n}", ("users:read",), holders=(tenant.member,))
    with portal.app.test_request_context():
        actor = db.session.get(User, tenant.admin.id)
        user = db.session.get(User, tenant.member.id)
        with portal.count_statements() as counter:
            panel = user_roles_panel(tenant.id, user, actor, frozenset(Permission))
    assert counter.count == 1
    assert isinstance(panel, RolesPanel)
    with pytest.raises(dataclasses.FrozenInstanceError):
        panel.error = "x"  # type: ignore[misc]
    assert panel.may_act and panel.may_write and panel.refusal is None and panel.rank_refusal is None
    assert panel.user_id == user.id and not panel.is_owner and panel.notice is None and panel.error is None
    assert [h.role.name for h in panel.assignments] == ["member"] + [f"Role {n}" for n in range(5)]
    assert [p.permission for p in panel.permissions] == [Permission.USERS_READ]
    assert len(panel.permissions[0].roles) == 5 and panel.permissions[0].at_sign_in
    assert {r.name for r in panel.grantable} == {"account-admin", "user-manager", "group-manager", "auditor"}


# --- Add ----------------------------------------------------------------------------------------


def test_add_a_role_with_a_plain_form(portal: Portal) -> None:
    tenant = portal.tenant()
    auditor = role_named(portal, tenant.account, "auditor")
    client = portal.client(tenant.admin)
    response = client.post(_roles_url(tenant, tenant.member), {"role_id": str(auditor.id), "default": "y"})
    assert response.status_code == 303
    assert response.headers["Location"] == _user_page(tenant, tenant.member)
    assert _held(portal, tenant.member) == {"member": True, "auditor": True}
    [event] = events(portal, "role.grant")
    assert event.target_id == str(tenant.member.id) and event.changes == {"role": "auditor", "default": True}


def test_add_a_role_with_htmx_answers_the_panel(portal: Portal) -> None:
    tenant = portal.tenant()
    auditor = role_named(portal, tenant.account, "auditor")
    response = portal.client(tenant.admin).post(
        _roles_url(tenant, tenant.member), {"role_id": str(auditor.id)}, hx=True
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body and body.lstrip().startswith('<section id="user_roles"')
    assert "Member-A holds the role auditor." in body
    assert _held(portal, tenant.member) == {"member": True, "auditor": False}  # no `default`: not default
    assert "<code>audit:read</code>" in body


def test_adding_a_held_role_updates_its_default_flag(portal: Portal) -> None:
    tenant = portal.tenant()
    member_role = role_named(portal, tenant.account, "member")
    client = portal.client(tenant.admin)
    client.post(_roles_url(tenant, tenant.member), {"role_id": str(member_role.id)})
    assert _held(portal, tenant.member) == {"member": False}
    assert [e.changes for e in events(portal, "role.default")] == [{"role": "member", "default": False}]
    assert events(portal, "role.grant") == []


def test_add_without_a_role_is_422_and_changes_nothing(portal: Portal) -> None:
    tenant = portal.tenant()
    client = portal.client(tenant.admin)
    for data in ({}, {"role_id": ""}, {"role_id": "not-a-uuid"}):
        page = client.post(_roles_url(tenant, tenant.member), data)
        assert page.status_code == 422 and "Choose a role." in page.get_data(as_text=True)
        assert "<html" in page.get_data(as_text=True)
        fragment = client.post(_roles_url(tenant, tenant.member), data, hx=True)
        assert fragment.status_code == 422
        assert fragment.get_data(as_text=True).lstrip().startswith('<section id="user_roles"')
    assert _held(portal, tenant.member) == {"member": True}


def test_foreign_users_and_roles_are_404(portal: Portal) -> None:
    """A3: ids in the path and in the body are looked up in the account only."""
    tenant, other = portal.tenant("A"), portal.tenant("B")
    their_role = role_named(portal, other.account, "auditor")
    my_role = role_named(portal, tenant.account, "auditor")
    client = portal.client(tenant.admin)
    assert client.post(_roles_url(tenant, tenant.member), {"role_id": str(their_role.id)}).status_code == 404
    assert client.post(_roles_url(tenant, tenant.member), {"role_id": str(uuid.uuid4())}).status_code == 404
    assert client.post(_roles_url(tenant, other.member), {"role_id": str(my_role.id)}).status_code == 404
    assert client.get(_roles_url(tenant, other.member)).status_code == 404
    their_member_role = role_named(portal, other.account, "member")
    assert client.post(_roles_url(tenant, other.member, f"/{their_member_role.id}/delete")).status_code == 404
    assert client.post(_roles_url(tenant, tenant.member, f"/{their_member_role.id}/default")).status_code == 404
    assert _held(portal, tenant.member) == {"member": True}
    assert _held(portal, other.member) == {"member": True}


def test_assignment_routes_need_roles_write_and_csrf(portal: Portal) -> None:
    tenant = portal.tenant()
    auditor = role_named(portal, tenant.account, "auditor")
    member_role = role_named(portal, tenant.account, "member")
    for who in ("user_manager", "auditor", "group_manager", "member"):
        client = portal.client(getattr(tenant, who))
        assert client.post(_roles_url(tenant, tenant.member), {"role_id": str(auditor.id)}).status_code == 403
        assert client.post(_roles_url(tenant, tenant.member, f"/{member_role.id}/delete")).status_code == 403
        assert client.post(_roles_url(tenant, tenant.member, f"/{member_role.id}/default")).status_code == 403
    admin = portal.client(tenant.admin)
    assert admin.post(_roles_url(tenant, tenant.member), {"role_id": str(auditor.id)}, csrf=False).status_code == 400
    assert _held(portal, tenant.member) == {"member": True}


# --- No escalation (A4) and the owner and admins (A5) -------------------------------------------


def test_nobody_grants_a_role_holding_what_they_lack(portal: Portal) -> None:
    """A4: a role admin without audit:read cannot grant auditor, nor account-admin, even to themselves."""
    tenant = portal.tenant()
    make_role(
        portal, tenant.account, "Role admin", ("roles:read", "roles:write", "users:read"), holders=(tenant.no_role,)
    )
    client = portal.client(tenant.no_role)
    for name in ("auditor", "account-admin", "user-manager"):
        role = role_named(portal, tenant.account, name)
        for target in (tenant.member, tenant.no_role):
            for hx in (False, True):
                response = client.post(_roles_url(tenant, target), {"role_id": str(role.id), "default": "y"}, hx=hx)
                assert response.status_code == 403, (name, target.login)
                assert f"to grant the role {name}" in response.get_data(as_text=True)
    assert _held(portal, tenant.member) == {"member": True}
    assert _held(portal, tenant.no_role) == {"Role admin": True}
    # A role within their own permissions they may grant.
    readers = make_role(portal, tenant.account, "Readers", ("users:read",))
    assert client.post(_roles_url(tenant, tenant.member), {"role_id": str(readers.id)}).status_code == 303


def test_inactive_roles_do_not_count_for_granting(portal: Portal) -> None:
    """Only the permissions active in the actor's session count (least privilege)."""
    tenant = portal.tenant()
    make_role(portal, tenant.account, "Role admin", ("roles:read", "roles:write"), holders=(tenant.no_role,))
    make_role(portal, tenant.account, "Dormant auditor", ("audit:read",), holders=(tenant.no_role,), default=False)
    auditors = make_role(portal, tenant.account, "Audit only", ("audit:read",))
    client = portal.client(tenant.no_role)
    assert client.post(_roles_url(tenant, tenant.member), {"role_id": str(auditors.id)}).status_code == 403


def test_nobody_but_the_owner_acts_on_the_owner(portal: Portal) -> None:
    """A5: an account-admin cannot grant, remove or toggle the owner's roles; the owner can."""
    tenant = portal.tenant()
    admin_role = role_named(portal, tenant.account, "account-admin")
    member_role = role_named(portal, tenant.account, "member")
    client = portal.client(tenant.admin)
    for url, data in [
        (_roles_url(tenant, tenant.owner), {"role_id": str(member_role.id)}),
        (_roles_url(tenant, tenant.owner, f"/{admin_role.id}/delete"), {}),
        (_roles_url(tenant, tenant.owner, f"/{admin_role.id}/default"), {"default": "0"}),
    ]:
        for hx in (False, True):
            response = client.post(url, data, hx=hx)
            assert response.status_code == 403, url
            assert "Only the owner can change the owner." in response.get_data(as_text=True)
    assert _held(portal, tenant.owner) == {"account-admin": True}
    owner = portal.client(tenant.owner)
    assert owner.post(_roles_url(tenant, tenant.owner), {"role_id": str(member_role.id)}).status_code == 303
    assert portal.scalar(select(func.count()).select_from(User).where(User.account_id == tenant.id, User.is_owner)) == 1


def test_only_the_owner_or_an_admin_acts_on_an_admin(portal: Portal) -> None:
    """A5: a custom role with roles:write and everything but account:manage still cannot touch an admin."""
    tenant = portal.tenant()
    almost = tuple(p.value for p in Permission if p is not Permission.ACCOUNT_MANAGE)
    make_role(portal, tenant.account, "Almost admin", almost, holders=(tenant.no_role,))
    admin_role = role_named(portal, tenant.account, "account-admin")
    member_role = role_named(portal, tenant.account, "member")
    client = portal.client(tenant.no_role)
    response = client.post(_roles_url(tenant, tenant.admin, f"/{admin_role.id}/delete"))
    assert response.status_code == 403 and "account:manage" in response.get_data(as_text=True)
    assert client.post(_roles_url(tenant, tenant.admin), {"role_id": str(member_role.id)}).status_code == 403
    assert _held(portal, tenant.admin) == {"account-admin": True}
    # Another account-admin may.
    second_admin = portal.user(tenant.account, "admin-2", roles=("account-admin",))
    other = portal.client(second_admin)
    assert other.post(_roles_url(tenant, tenant.admin), {"role_id": str(member_role.id)}).status_code == 303
    assert other.post(_roles_url(tenant, tenant.admin, f"/{admin_role.id}/delete")).status_code == 303
    assert _held(portal, tenant.admin) == {"member": False}


# --- Remove, default, and taking effect (A6) ----------------------------------------------------


def test_remove_a_role(portal: Portal) -> None:
    tenant = portal.tenant()
    role = role_named(portal, tenant.account, "user-manager")
    client = portal.client(tenant.admin)
    response = client.post(_roles_url(tenant, tenant.user_manager, f"/{role.id}/delete"))
    assert response.status_code == 303 and response.headers["Location"] == _user_page(tenant, tenant.user_manager)
    assert _held(portal, tenant.user_manager) == {}
    [event] = events(portal, "role.revoke")
    assert event.changes == {"role": "user-manager"}
    # Removing a role the user does not hold is 404.
    assert client.post(_roles_url(tenant, tenant.user_manager, f"/{role.id}/delete")).status_code == 404


def test_remove_with_htmx_answers_the_panel(portal: Portal) -> None:
    tenant = portal.tenant()
    role = role_named(portal, tenant.account, "auditor")
    response = portal.client(tenant.admin).post(_roles_url(tenant, tenant.auditor, f"/{role.id}/delete"), hx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith('<section id="user_roles"')
    assert "no longer holds the role auditor" in body and "holds no role" in body


def test_removing_a_role_takes_effect_on_the_next_request(portal: Portal) -> None:
    """A6: the user's live session loses the permission at once; nothing is cached in the cookie."""
    tenant = portal.tenant()
    victim = portal.client(tenant.user_manager)
    assert victim.get(f"/accounts/{tenant.id}/users").status_code == 200
    role = role_named(portal, tenant.account, "user-manager")
    portal.client(tenant.admin).post(_roles_url(tenant, tenant.user_manager, f"/{role.id}/delete"))
    assert victim.get(f"/accounts/{tenant.id}/users").status_code == 403
    assert victim.get(f"/accounts/{tenant.id}/users", hx=True).status_code == 403
    # The removed role is forgotten by the live session: granting it again does not silently reactivate it.
    with portal.app.app_context():
        sessions = db.session.scalars(select(LoginSession).where(LoginSession.user_id == tenant.user_manager.id))
        assert all(str(role.id) not in s.active_role_ids for s in sessions)
    portal.client(tenant.admin).post(_roles_url(tenant, tenant.user_manager), {"role_id": str(role.id), "default": "y"})
    assert victim.get(f"/accounts/{tenant.id}/users").status_code == 403
    assert portal.client(tenant.user_manager).get(f"/accounts/{tenant.id}/users").status_code == 200


def test_deleting_a_role_takes_effect_on_the_next_request(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Readers", ("users:read",), holders=(tenant.member,))
    victim = portal.client(tenant.member)
    assert victim.get(f"/accounts/{tenant.id}/users").status_code == 200
    assert portal.client(tenant.admin).post(f"/accounts/{tenant.id}/roles/{role.id}/delete").status_code == 303
    assert victim.get(f"/accounts/{tenant.id}/users").status_code == 403


def test_editing_a_role_takes_effect_on_the_next_request(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Readers", ("users:read",), holders=(tenant.member,))
    victim = portal.client(tenant.member)
    assert victim.get(f"/accounts/{tenant.id}/users").status_code == 200
    admin = portal.client(tenant.admin)
    edit = admin.get(f"/accounts/{tenant.id}/roles/{role.id}/edit").get_data(as_text=True)
    version = edit.split('name="version" type="hidden" value="')[1].split('"')[0]
    admin.post(
        f"/accounts/{tenant.id}/roles/{role.id}/edit",
        {"name": "Readers", "permissions": ["groups:read"], "version": version},
    )
    assert victim.get(f"/accounts/{tenant.id}/users").status_code == 403


def test_toggle_the_default_flag(portal: Portal) -> None:
    tenant = portal.tenant()
    role = role_named(portal, tenant.account, "auditor")
    client = portal.client(tenant.admin)
    url = _roles_url(tenant, tenant.auditor, f"/{role.id}/default")
    response = client.post(url, {"default": "0"})
    assert response.status_code == 303 and response.headers["Location"] == _user_page(tenant, tenant.auditor)
    assert _held(portal, tenant.auditor) == {"auditor": False}
    client.post(url, {"default": "0"})  # idempotent when the value is given
    assert _held(portal, tenant.auditor) == {"auditor": False}
    fragment = client.post(url, hx=True)  # without a value, it toggles
    assert fragment.status_code == 200 and "auditor is a default role of Auditor-A." in fragment.get_data(as_text=True)
    assert _held(portal, tenant.auditor) == {"auditor": True}
    assert [e.changes["default"] for e in events(portal, "role.default")] == [False, True]
    not_held = role_named(portal, tenant.account, "group-manager")
    assert client.post(_roles_url(tenant, tenant.auditor, f"/{not_held.id}/default")).status_code == 404


def test_nobody_removes_their_own_last_roles_write(portal: Portal) -> None:
    tenant = portal.tenant()
    mine = make_role(
        portal, tenant.account, "Role admin", ("roles:read", "roles:write", "users:read"), holders=(tenant.no_role,)
    )
    client = portal.client(tenant.no_role)
    response = client.post(_roles_url(tenant, tenant.no_role, f"/{mine.id}/delete"))
    assert response.status_code == 422 and "roles:write" in response.get_data(as_text=True)
    assert _held(portal, tenant.no_role) == {"Role admin": True}
    # An admin removing their own account-admin role is refused for the same reason.
    admin_role = role_named(portal, tenant.account, "account-admin")
    assert (
        portal.client(tenant.admin).post(_roles_url(tenant, tenant.admin, f"/{admin_role.id}/delete")).status_code
        == 422
    )
    assert _held(portal, tenant.admin) == {"account-admin": True}
    # The owner always holds everything, so they may drop their roles.
    assert (
        portal.client(tenant.owner).post(_roles_url(tenant, tenant.owner, f"/{admin_role.id}/delete")).status_code
        == 303
    )


def test_granting_is_audited_without_leaking_other_tenants(portal: Portal) -> None:
    tenant = portal.tenant()
    role = role_named(portal, tenant.account, "auditor")
    portal.client(tenant.admin).post(_roles_url(tenant, tenant.member), {"role_id": str(role.id)})
    [event] = events(portal, "role.grant")
    assert event.account_id == tenant.id and event.actor_id == tenant.admin.id
