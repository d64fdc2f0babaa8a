"""The roles pages: list, create, show, edit, delete, and their refusals (issue 4, SECURITY A4)."""

from __future__ import annotations

import re
import uuid

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from portal.models import Role, RoleAssignment
from portal.permissions import Permission
from tests.helpers import Portal, Tenant, events, make_role, role_named


def _url(tenant: Tenant, path: str = "") -> str:
    return f"/accounts/{tenant.id}/roles{path}"


def _role_count(portal: Portal, tenant: Tenant) -> int:
    return portal.scalar(select(func.count()).select_from(Role).where(Role.account_id == tenant.id))


def _version(html: str) -> str:
    match = re.search(r'name="version"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="version"', html
    )
    assert match, "the edit form carries no version"
    return match.group(1)


# --- The list -----------------------------------------------------------------------------------


def test_list_shows_every_role_with_member_counts(portal: Portal) -> None:
    tenant = portal.tenant()
    make_role(portal, tenant.account, "Support desk", ("users:read",), holders=(tenant.member, tenant.auditor))
    page = portal.client(tenant.admin).get(_url(tenant))
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "<html" in body and "<h1>Roles</h1>" in body
    rows = dict(re.findall(r'<tr id="role-[^"]+">\s*<td><a [^>]+>([^<]+)</a>.*?<td>(\d+)</td>', body, re.S))
    # The owner and the admin hold account-admin; one user each for the other built-in roles.
    assert rows == {
        "account-admin": "2",
        "user-manager": "1",
        "group-manager": "1",
        "auditor": "1",
        "member": "1",
        "Support desk": "2",
    }
    assert body.count('class="badge builtin"') == 5
    assert "<code>users:read</code>" in body
    # Built-in roles offer neither edit nor delete; the custom one does.
    custom = role_named(portal, tenant.account, "Support desk")
    builtin = role_named(portal, tenant.account, "auditor")
    assert f"/roles/{custom.id}/edit" in body and f"/roles/{custom.id}/delete" in body
    assert f"/roles/{builtin.id}/edit" not in body and f"/roles/{builtin.id}/delete" not in body
    assert 'hx-confirm="Delete the role Support desk? 2 users will lose it. This cannot be undone."' in body
    assert "New role" in body


def test_list_htmx_gets_the_block(portal: Portal) -> None:
    tenant = portal.tenant()
    fragment = portal.client(tenant.admin).get(_url(tenant), hx=True)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert "<html" not in body and body.lstrip().startswith('<section id="roles">')


def test_list_costs_the_same_whatever_the_number_of_roles(portal: Portal) -> None:
    tenant = portal.tenant()
    client = portal.client(tenant.admin)
    client.get(_url(tenant))
    with portal.count_statements() as few:
        client.get(_url(tenant))
    for n in range(15):
        make_role(portal, tenant.account, f"Role {n}", ("users:read",), holders=(tenant.member,))
    with portal.count_statements() as many:
        body = client.get(_url(tenant)).get_data(as_text=True)
    assert "Role 14" in body
    assert many.count == few.count


def test_readers_see_no_buttons(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Support desk")
    client = portal.client(tenant.auditor)  # roles:read without roles:write
    body = client.get(_url(tenant)).get_data(as_text=True)
    assert "New role" not in body and "/edit" not in body and "/delete" not in body
    show = client.get(_url(tenant, f"/{role.id}")).get_data(as_text=True)
    assert "/edit" not in show and "/delete" not in show


def test_nav_shows_roles_only_to_readers(portal: Portal) -> None:
    tenant = portal.tenant()
    for who, sees in [
        ("admin", True),
        ("auditor", True),
        ("user_manager", True),
        ("group_manager", False),
        ("member", False),
    ]:
        body = portal.client(getattr(tenant, who)).get("/me/roles").get_data(as_text=True)
        assert (f'href="/accounts/{tenant.id}/roles">Roles</a>' in body) is sees, who
        assert 'href="/me/roles">My roles</a>' in body


def test_builtin_roles_are_listed_before_custom_ones(portal: Portal) -> None:
    tenant = portal.tenant()
    make_role(portal, tenant.account, "aaa first by name")
    body = portal.client(tenant.owner).get(_url(tenant)).get_data(as_text=True)
    assert body.index(">member<") < body.index(">aaa first by name<")


# --- Create ------------------------------------------------------------------------------------


def test_new_role_form_offers_permissions_with_descriptions(portal: Portal) -> None:
    tenant = portal.tenant()
    body = portal.client(tenant.admin).get(_url(tenant, "/new")).get_data(as_text=True)
    for permission in Permission:
        assert f'value="{permission.value}"' in body
        assert str(escape(permission.description)) in body
    assert "disabled" not in body  # an account-admin holds every permission
    assert 'name="csrf_token"' in body and 'hx-post="' in body


def test_new_role_form_disables_what_the_actor_does_not_hold(portal: Portal) -> None:
    tenant = portal.tenant()
    make_role(
        portal, tenant.account, "Role admin", ("roles:read", "roles:write", "users:read"), holders=(tenant.no_role,)
    )
    body = portal.client(tenant.no_role).get(_url(tenant, "/new")).get_data(as_text=True)
    assert re.search(r'value="users:read"\s*>', body)  # held: enabled
    assert re.search(r'value="audit:read"\s*disabled>', body)
    assert body.count("You do not hold this permission") == len(Permission) - 3


def test_create_a_role(portal: Portal) -> None:
    tenant = portal.tenant()
    client = portal.client(tenant.admin)
    response = client.post(
        _url(tenant),
        {"name": "  Support desk ", "description": "First line", "permissions": ["users:read", "groups:read"]},
    )
    role = role_named(portal, tenant.account, "Support desk")
    assert response.status_code == 303
    assert response.headers["Location"] == _url(tenant, f"/{role.id}")
    assert role.description == "First line" and role.permissions == ["groups:read", "users:read"]
    assert role.is_builtin is False
    [event] = events(portal, "role.create")
    assert event.actor_id == tenant.admin.id and event.changes["permissions"] == ["groups:read", "users:read"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Role Support desk created." in page and "See the account&#39;s users" in page


def test_create_with_htmx_redirects_the_client(portal: Portal) -> None:
    tenant = portal.tenant()
    response = portal.client(tenant.admin).post(_url(tenant), {"name": "Helpers"}, hx=True)
    role = role_named(portal, tenant.account, "Helpers")
    assert response.status_code == 204 and response.headers["HX-Redirect"] == _url(tenant, f"/{role.id}")
    assert role.permissions == []


def test_invalid_roles_are_refused_and_nothing_is_stored(portal: Portal) -> None:
    tenant = portal.tenant()
    make_role(portal, tenant.account, "Support desk")
    client = portal.client(tenant.admin)
    before = _role_count(portal, tenant)
    cases = [
        ({"name": ""}, "Give the role a name."),
        ({"name": "x"}, "between 2 and 64 characters"),
        ({"name": "y" * 65}, "between 2 and 64 characters"),
        ({"name": "SUPPORT DESK"}, "Another role of the account has this name."),
        ({"name": "Account-Admin"}, "Another role of the account has this name."),
        ({"name": "Fine", "description": "d" * 256}, "cannot be longer than 255"),
        ({"name": "Fine", "permissions": ["users:read", "root:everything"]}, "not a valid choice"),
    ]
    for data, message in cases:
        for hx in (False, True):
            response = client.post(_url(tenant), data, hx=hx)
            body = response.get_data(as_text=True)
            assert response.status_code == 422, data
            assert message.lower() in body.lower(), (data, body[:300])
            assert ("<html" in body) is not hx
            if hx:
                assert body.lstrip().startswith('<form id="role_form"')
    assert _role_count(portal, tenant) == before
    assert events(portal, "role.create") == []


def test_invalid_form_keeps_what_was_entered(portal: Portal) -> None:
    tenant = portal.tenant()
    body = (
        portal.client(tenant.admin)
        .post(_url(tenant), {"name": "x", "description": "Keep me", "permissions": ["audit:read"]})
        .get_data(as_text=True)
    )
    assert 'value="x"' in body and "Keep me" in body
    assert re.search(r'value="audit:read"\s*checked', body)


def test_nobody_creates_a_role_with_a_permission_they_lack(portal: Portal) -> None:
    """A4: a role admin without audit:read cannot create a role that has it."""
    tenant = portal.tenant()
    make_role(
        portal, tenant.account, "Role admin", ("roles:read", "roles:write", "users:read"), holders=(tenant.no_role,)
    )
    client = portal.client(tenant.no_role)
    before = _role_count(portal, tenant)
    for hx in (False, True):
        response = client.post(_url(tenant), {"name": "Sneaky", "permissions": ["users:read", "audit:read"]}, hx=hx)
        assert response.status_code == 403
        assert "audit:read" in response.get_data(as_text=True)
    assert _role_count(portal, tenant) == before
    # What they hold, they may give.
    assert client.post(_url(tenant), {"name": "Fine", "permissions": ["users:read"]}).status_code == 303


def test_create_needs_roles_write_and_csrf(portal: Portal) -> None:
    tenant = portal.tenant()
    before = _role_count(portal, tenant)
    assert portal.client(tenant.auditor).post(_url(tenant), {"name": "Nope"}).status_code == 403
    assert portal.client(tenant.user_manager).get(_url(tenant, "/new")).status_code == 403
    assert portal.client(tenant.admin).post(_url(tenant), {"name": "Nope"}, csrf=False).status_code == 400
    assert _role_count(portal, tenant) == before


# --- Show ---------------------------------------------------------------------------------------


def test_show_lists_permissions_and_members(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(
        portal, tenant.account, "Support desk", ("users:read", "groups:read"), holders=(tenant.member, tenant.auditor)
    )
    body = portal.client(tenant.auditor).get(_url(tenant, f"/{role.id}")).get_data(as_text=True)
    assert "<h1>Support desk" in body
    assert "<code>groups:read</code>" in body and "<code>users:read</code>" in body
    assert "<code>audit:read</code>" not in body
    assert "2 users hold this role." in body
    assert tenant.member.email in body and tenant.auditor.email in body
    assert tenant.admin.email not in body


def test_show_pages_members(portal: Portal) -> None:
    tenant = portal.tenant()
    extra = [portal.user(tenant.account, f"zz-{n:02d}") for n in range(5)]
    role = make_role(portal, tenant.account, "Many", holders=(tenant.member, *extra))
    client = portal.client(tenant.admin)
    logins = sorted([tenant.member.login, *(u.login for u in extra)])

    first = client.get(_url(tenant, f"/{role.id}?take=2")).get_data(as_text=True)
    assert "6 users hold this role." in first and "Page 1 of 3" in first
    assert [login for login in logins if f"<td>{login}</td>" in first] == logins[:2]
    next_url = re.search(
        r'<a href="([^"]+)" hx-get="[^"]+" hx-push-url="true" hx-target="#members"[^>]*>Next ›</a>', first
    )
    assert next_url
    second = client.get(next_url.group(1).replace("&amp;", "&"), hx=True)
    body = second.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<section id="members">')
    assert [login for login in logins if f"<td>{login}</td>" in body] == logins[2:4]
    assert "Page 2 of 3" in body
    # A bookmarked `from` without a cursor gives the same rows.
    third = client.get(_url(tenant, f"/{role.id}?take=2&from=4")).get_data(as_text=True)
    assert [login for login in logins if f"<td>{login}</td>" in third] == logins[4:]
    assert ">Next ›</a>" not in third
    # take is kept between 1 and 100
    assert "Page 1 of 6" in client.get(_url(tenant, f"/{role.id}?take=0")).get_data(as_text=True)
    assert "Page 1 of 1" in client.get(_url(tenant, f"/{role.id}?take=5000")).get_data(as_text=True)


def test_show_of_a_missing_or_foreign_role_is_404(portal: Portal) -> None:
    tenant, other = portal.tenant("A"), portal.tenant("B")
    theirs = make_role(portal, other.account, "Theirs")
    client = portal.client(tenant.admin)
    for role_id in (theirs.id, uuid.uuid4()):
        for path in ("", "/edit", "/delete"):
            assert client.get(_url(tenant, f"/{role_id}{path}")).status_code == 404
        assert client.post(_url(tenant, f"/{role_id}/edit"), {"name": "Mine"}).status_code == 404
        assert client.post(_url(tenant, f"/{role_id}/delete")).status_code == 404
    assert role_named(portal, other.account, "Theirs") is not None
    assert client.get(f"/accounts/{tenant.id}/roles/not-a-uuid").status_code == 404


# --- Edit ---------------------------------------------------------------------------------------


def test_edit_a_role(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Support desk", ("users:read",), description="Old")
    client = portal.client(tenant.admin)
    page = client.get(_url(tenant, f"/{role.id}/edit"))
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'value="Support desk"' in body and re.search(r'value="users:read"\s*checked', body)
    response = client.post(
        _url(tenant, f"/{role.id}/edit"),
        {
            "name": "Help desk",
            "description": "New",
            "permissions": ["users:read", "users:write"],
            "version": _version(body),
        },
    )
    assert response.status_code == 303 and response.headers["Location"] == _url(tenant, f"/{role.id}")
    stored = portal.get(Role, role.id)
    assert (stored.name, stored.description, stored.permissions) == ("Help desk", "New", ["users:read", "users:write"])
    [event] = events(portal, "role.update")
    assert event.changes == {
        "name": ["Support desk", "Help desk"],
        "description": ["Old", "New"],
        "permissions": [["users:read"], ["users:read", "users:write"]],
    }


def test_edit_keeps_its_own_name_and_refuses_others(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Support desk")
    make_role(portal, tenant.account, "Other")
    client = portal.client(tenant.admin)
    version = _version(client.get(_url(tenant, f"/{role.id}/edit")).get_data(as_text=True))
    same = client.post(_url(tenant, f"/{role.id}/edit"), {"name": "SUPPORT desk", "version": version})
    assert same.status_code == 303
    version = _version(client.get(_url(tenant, f"/{role.id}/edit")).get_data(as_text=True))
    taken = client.post(_url(tenant, f"/{role.id}/edit"), {"name": "other", "version": version}, hx=True)
    assert taken.status_code == 422 and "Another role of the account has this name." in taken.get_data(as_text=True)
    assert taken.get_data(as_text=True).lstrip().startswith('<form id="role_form"')
    assert portal.get(Role, role.id).name == "SUPPORT desk"


def test_a_stale_edit_is_a_conflict(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Support desk")
    first, second = portal.client(tenant.admin), portal.client(tenant.owner)
    version = _version(first.get(_url(tenant, f"/{role.id}/edit")).get_data(as_text=True))
    stale = _version(second.get(_url(tenant, f"/{role.id}/edit")).get_data(as_text=True))
    assert first.post(_url(tenant, f"/{role.id}/edit"), {"name": "First", "version": version}).status_code == 303
    response = second.post(_url(tenant, f"/{role.id}/edit"), {"name": "Second", "version": stale})
    assert response.status_code == 409 and "Someone else changed this role" in response.get_data(as_text=True)
    assert portal.get(Role, role.id).name == "First"


def test_builtin_roles_cannot_be_edited_or_deleted(portal: Portal) -> None:
    tenant = portal.tenant()
    builtin = role_named(portal, tenant.account, "auditor")
    client = portal.client(tenant.owner)
    for method, path, data in [
        ("get", "/edit", None),
        ("post", "/edit", {"name": "auditors", "version": "x"}),
        ("get", "/delete", None),
        ("post", "/delete", {}),
    ]:
        for hx in (False, True):
            response = getattr(client, method)(
                _url(tenant, f"/{builtin.id}{path}"), hx=hx, **({"data": data} if data is not None else {})
            )
            assert response.status_code == 403, (method, path)
            assert "Built-in roles cannot be changed or deleted." in response.get_data(as_text=True)
    stored = portal.get(Role, builtin.id)
    assert stored.name == "auditor" and stored.is_builtin
    show = client.get(_url(tenant, f"/{builtin.id}")).get_data(as_text=True)
    assert "/edit" not in show and "hx-confirm" not in show
    assert "Built-in roles cannot be changed or deleted." in show


def test_nobody_edits_a_role_to_hold_what_they_lack(portal: Portal) -> None:
    """A4, through editing a custom role."""
    tenant = portal.tenant()
    make_role(
        portal, tenant.account, "Role admin", ("roles:read", "roles:write", "users:read"), holders=(tenant.no_role,)
    )
    target = make_role(portal, tenant.account, "Readers", ("users:read",), holders=(tenant.member,))
    client = portal.client(tenant.no_role)
    version = _version(client.get(_url(tenant, f"/{target.id}/edit")).get_data(as_text=True))
    response = client.post(
        _url(tenant, f"/{target.id}/edit"),
        {"name": "Readers", "permissions": ["users:read", "roles:write", "audit:read"], "version": version},
    )
    assert response.status_code == 403 and "audit:read" in response.get_data(as_text=True)
    assert portal.get(Role, target.id).permissions == ["users:read"]


def test_nobody_changes_a_role_that_outranks_them(portal: Portal) -> None:
    tenant = portal.tenant()
    make_role(portal, tenant.account, "Role admin", ("roles:read", "roles:write"), holders=(tenant.no_role,))
    strong = make_role(portal, tenant.account, "Auditors plus", ("audit:read", "users:read"))
    client = portal.client(tenant.no_role)
    assert client.get(_url(tenant, f"/{strong.id}/edit")).status_code == 403
    # Removing audit:read would weaken its holders: refused too.
    response = client.post(_url(tenant, f"/{strong.id}/edit"), {"name": "Auditors plus", "version": "x"})
    assert response.status_code == 403 and "holds permissions you do not have" in response.get_data(as_text=True)
    assert client.post(_url(tenant, f"/{strong.id}/delete")).status_code == 403
    assert portal.get(Role, strong.id).permissions == ["audit:read", "users:read"]
    body = client.get(_url(tenant)).get_data(as_text=True)
    assert f"/roles/{strong.id}/edit" not in body


def test_a_role_edit_cannot_take_roles_write_from_the_actor(portal: Portal) -> None:
    """The lock-out rule: the actor's last held role with roles:write keeps it."""
    tenant = portal.tenant()
    mine = make_role(portal, tenant.account, "Role admin", ("roles:read", "roles:write"), holders=(tenant.no_role,))
    client = portal.client(tenant.no_role)
    version = _version(client.get(_url(tenant, f"/{mine.id}/edit")).get_data(as_text=True))
    response = client.post(
        _url(tenant, f"/{mine.id}/edit"),
        {"name": "Role admin", "permissions": ["roles:read"], "version": version},
        hx=True,
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "would take the roles:write permission away from you" in body and 'id="role_form"' in body
    assert portal.get(Role, mine.id).permissions == ["roles:read", "roles:write"]
    assert client.post(_url(tenant, f"/{mine.id}/delete")).status_code == 422
    assert portal.get(Role, mine.id) is not None
    # With another held role that carries roles:write (even an inactive one), the edit is fine.
    make_role(portal, tenant.account, "Backup", ("roles:write",), holders=(tenant.no_role,), default=False)
    response = client.post(
        _url(tenant, f"/{mine.id}/edit"), {"name": "Role admin", "permissions": ["roles:read"], "version": version}
    )
    assert response.status_code == 303
    assert portal.get(Role, mine.id).permissions == ["roles:read"]


def test_the_owner_may_change_any_custom_role(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Everything", tuple(p.value for p in Permission), holders=(tenant.owner,))
    client = portal.client(tenant.owner)
    version = _version(client.get(_url(tenant, f"/{role.id}/edit")).get_data(as_text=True))
    assert client.post(_url(tenant, f"/{role.id}/edit"), {"name": "Nothing", "version": version}).status_code == 303
    assert portal.get(Role, role.id).permissions == []


def test_edit_needs_roles_write_and_csrf(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Support desk")
    assert portal.client(tenant.auditor).get(_url(tenant, f"/{role.id}/edit")).status_code == 403
    assert portal.client(tenant.auditor).post(_url(tenant, f"/{role.id}/edit"), {"name": "X1"}).status_code == 403
    response = portal.client(tenant.admin).post(_url(tenant, f"/{role.id}/edit"), {"name": "X1"}, csrf=False)
    assert response.status_code == 400
    assert portal.get(Role, role.id).name == "Support desk"


# --- Delete -------------------------------------------------------------------------------------


def test_delete_asks_first_without_javascript(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Support desk", holders=(tenant.member,))
    client = portal.client(tenant.admin)
    page = client.get(_url(tenant, f"/{role.id}/delete"))
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Delete the role Support desk?" in body and "1 user holds this role" in body
    assert f'action="{_url(tenant, f"/{role.id}/delete")}"' in body
    response = client.post(_url(tenant, f"/{role.id}/delete"))
    assert response.status_code == 303 and response.headers["Location"] == _url(tenant)
    assert portal.get(Role, role.id) is None
    assert portal.scalar(select(func.count()).select_from(RoleAssignment).where(RoleAssignment.role_id == role.id)) == 0
    [event] = events(portal, "role.delete")
    assert event.changes["holders"] == 1 and event.target_label == "Support desk"
    listing = client.get(_url(tenant)).get_data(as_text=True)
    assert "Role Support desk deleted; 1 user no longer hold it." in listing


def test_delete_with_htmx_redirects_the_client(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Support desk")
    response = portal.client(tenant.owner).post(_url(tenant, f"/{role.id}/delete"), hx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == _url(tenant)
    assert portal.get(Role, role.id) is None


def test_delete_needs_roles_write_and_csrf(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Support desk")
    assert portal.client(tenant.auditor).post(_url(tenant, f"/{role.id}/delete")).status_code == 403
    assert portal.client(tenant.auditor).get(_url(tenant, f"/{role.id}/delete")).status_code == 403
    assert portal.client(tenant.admin).post(_url(tenant, f"/{role.id}/delete"), csrf=False).status_code == 400
    assert portal.get(Role, role.id) is not None


def test_a_name_taken_at_the_same_moment_is_a_conflict(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    """The form checks the name first; two saves racing past that check meet the unique constraint."""
    from portal.roles import queries

    tenant = portal.tenant()
    monkeypatch.setattr(queries, "role_name_taken", lambda *_args: False)
    before = _role_count(portal, tenant)
    for hx in (False, True):
        response = portal.client(tenant.admin).post(_url(tenant), {"name": "auditor"}, hx=hx)
        assert response.status_code == 409
        assert "Another role was named auditor a moment ago." in response.get_data(as_text=True)
    assert _role_count(portal, tenant) == before
    assert events(portal, "role.create") == []
