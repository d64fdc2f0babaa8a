"""The JSON API's users operations (API.md): the contract, with the rules of the pages, on what is stored."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from portal.models import AuditEvent, EmailChange, GroupMember, Invitation, LoginSession, OutboxEmail, Role, User
from tests.api_client import Api, api_for, audit_events, codes
from tests.helpers import PASSWORD, CallCounter, Portal, Tenant, count, emails_to, make_group, make_role

USER_FIELDS = {
    "id",
    "login",
    "email",
    "first_name",
    "last_name",
    "company_name",
    "address",
    "postal_code",
    "city",
    "state",
    "country",
    "phone",
    "status",
    "is_owner",
    "mfa_enabled",
    "is_sso_user",
    "invitation_status",
    "roles",
    "default_roles",
    "group_memberships",
    "last_sign_in_at",
    "created_at",
    "updated_at",
    "version",
}
NEW = {
    "email": "grace@example.com",
    "login": "grace",
    "first_name": "Grace",
    "last_name": "Hopper",
    "city": "Arlington",
    "password": "violet-harbor-lantern-42",
    "password_confirmation": "violet-harbor-lantern-42",
}


@pytest.fixture
def admin(portal: Portal, a: Tenant) -> Api:
    return api_for(portal, a.admin, name="deploy-bot")


def users(a: Tenant, rest: str = "") -> str:
    return f"/api/v1/accounts/{a.id}/users{rest}"


def only_api_event(portal: Portal, action: str, key_name: str = "deploy-bot") -> AuditEvent:
    """The one event the request wrote: marked via=api with the key's id and name."""
    [event] = [e for e in audit_events(portal) if e.via == "api"]
    assert event.action == action and event.via == "api" and event.api_key_name == key_name
    assert event.api_key_id is not None
    return event


# --- list and read -------------------------------------------------------------------------------------------


def test_list_the_owner_apart_and_a_page_of_the_others_in_snake_case(portal: Portal, a: Tenant, admin: Api) -> None:
    make_role(portal, a.account, "Helpdesk", holders=(a.member,), default=False)
    response = admin.get(users(a, "?take=4"))
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = response.get_json()
    assert set(data) == {
        "owner",
        "users",
        "current_page",
        "page_count",
        "page_size",
        "row_count",
        "row_count_exact",
        "next",
    }
    assert data["owner"]["login"] == "owner-a" and data["owner"]["is_owner"] is True
    assert (data["current_page"], data["page_count"], data["page_size"], data["row_count"]) == (0, 2, 4, 6)
    assert data["row_count_exact"] is True
    assert [u["email"] for u in data["users"]] == sorted(u["email"] for u in data["users"])
    assert all(set(u) == USER_FIELDS for u in [data["owner"], *data["users"]])
    member = next(u for u in data["users"] if u["login"] == "member-a")
    # The list's roles are names, never the page's labels such as "Helpdesk (not default)" (the old bug).
    assert member["roles"] == ["Helpdesk", "member"] and member["default_roles"] == ["member"]
    assert member["created_at"].endswith("Z") and member["invitation_status"] is None
    # `next` carries the keyset cursor; following it gives the rest, and no next.
    rest = admin.get(data["next"]).get_json()
    assert "after=" in data["next"] and rest["current_page"] == 1 and rest["next"] is None
    assert len(rest["users"]) == 2 and {u["id"] for u in rest["users"]}.isdisjoint({u["id"] for u in data["users"]})


def test_list_filters_by_email_status_and_role(portal: Portal, a: Tenant, admin: Api) -> None:
    assert [u["login"] for u in admin.get(users(a, "?email=member-a")).get_json()["users"]] == ["member-a"]
    assert [u["login"] for u in admin.get(users(a, "?role=auditor")).get_json()["users"]] == ["auditor-a"]
    assert admin.get(users(a, "?status=disabled")).get_json()["users"] == []
    response = admin.get(users(a, "?role=nope"))
    assert response.status_code == 422 and codes(response) == [("InvalidArgument", "role")]
    for bad in ("take=0", "take=101", "take=x", "from=-1", "status=gone"):
        response = admin.get(users(a, f"?{bad}"))
        assert response.status_code == 422 and codes(response)[0][0] == "InvalidArgument", bad


def test_get_a_user_by_id_or_login_with_an_etag(portal: Portal, a: Tenant, admin: Api) -> None:
    group = make_group(portal, a.account, "Ops", members=(a.auditor,))
    by_id = admin.get(users(a, f"/{a.auditor.id}?membership=true"))
    by_login = admin.get(users(a, "/AUDITOR-A"))
    assert by_id.status_code == by_login.status_code == 200
    assert by_id.get_json() == by_login.get_json()
    data = by_id.get_json()
    assert data["roles"] == ["auditor"] and data["default_roles"] == ["auditor"]
    assert data["group_memberships"] == [
        {
            "group_id": str(group.id),
            "name": "Ops",
            "status": "accepted",
            "created_at": data["group_memberships"][0]["created_at"],
        }
    ]
    assert by_id.headers["ETag"] == f'"{data["version"]}"'


def test_unknown_and_foreign_users_and_accounts_are_404(portal: Portal, a: Tenant, b: Tenant, admin: Api) -> None:
    for url in (
        users(a, f"/{b.member.id}"),
        users(a, "/member-b"),
        users(a, "/nobody"),
        f"/api/v1/accounts/{b.id}/users",
        f"/api/v1/accounts/{b.id}/users/{b.member.id}",
    ):
        response = admin.get(url)
        assert response.status_code == 404 and codes(response) == [("ResourceNotFound", None)], url
    assert admin.delete(users(a, f"/{b.member.id}")).status_code == 404
    assert portal.get(User, b.member.id) is not None


# --- create ---------------------------------------------------------------------------------------------------


def test_create_with_a_password_makes_an_active_user(portal: Portal, a: Tenant, admin: Api) -> None:
    group = make_group(portal, a.account, "Ops")
    response = admin.post(users(a), json={**NEW, "roles": ["auditor"], "groups": ["Ops"]})
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert set(data) == USER_FIELDS and data["status"] == "active" and data["login"] == "grace"
    assert data["roles"] == ["auditor"] and data["group_memberships"][0]["group_id"] == str(group.id)
    assert response.headers["Location"] == users(a, f"/{data['id']}")
    assert response.headers["ETag"] == f'"{data["version"]}"'
    stored = portal.get(User, uuid.UUID(data["id"]))
    assert stored.password_hash.startswith("$argon2id$") and stored.must_change_password is True
    event = only_api_event(portal, "user.create")
    assert event.actor_id == a.admin.id and event.changes["groups"] == ["Ops"]
    assert NEW["password"] not in str(event.changes)


def test_create_without_a_password_invites_a_pending_user(portal: Portal, a: Tenant, admin: Api) -> None:
    response = admin.post(users(a), json={"email": "Linus@Example.com", "first_name": "Linus", "roles": ["member"]})
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert (data["status"], data["email"], data["first_name"]) == ("pending", "linus@example.com", "Linus")
    assert data["invitation_status"] == "pending" and data["roles"] == ["member"]
    [mail] = emails_to(portal, "linus@example.com")
    assert mail.kind == "invitation" and "/invitations/accept/" in mail.body_text
    only_api_event(portal, "invitation.create")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"login": "x-y"}, [("MissingParameter", "email")]),
        ({"email": "ann@example.com", "password": "violet-harbor-lantern-42"}, [("MissingParameter", "login")]),
        ({**NEW, "login": "owner-a"}, [("InvalidArgument", "login")]),
        ({**NEW, "email": "OWNER-A@example.com"}, [("InvalidArgument", "email")]),
        ({**NEW, "login": "-abc"}, [("InvalidArgument", "login")]),
        ({**NEW, "email": "x" * 80 + "@example.com"}, [("InvalidArgument", "email")]),
        (
            {**NEW, "password": "password1234", "password_confirmation": "password1234"},
            [("InvalidArgument", "password")],
        ),
        ({**NEW, "password_confirmation": "something else entirely"}, [("InvalidArgument", "password_confirmation")]),
        ({**NEW, "is_owner": True}, [("InvalidArgument", "is_owner")]),
        ({**NEW, "city": "x" * 101}, [("InvalidArgument", "city")]),
        ({**NEW, "email": ["a@example.com", "b@example.com"]}, [("InvalidArgument", "email")]),  # E1: scalars only
        ({**NEW, "roles": ["no-such-role"]}, [("InvalidArgument", "roles")]),
        ({"email": "z@example.com", "login": "zed"}, [("InvalidArgument", "login")]),  # invited people choose it
    ],
)
def test_create_refuses_bad_input_per_field_and_saves_nothing(
    portal: Portal, a: Tenant, admin: Api, body: dict, expected: list
) -> None:
    before = count(portal, User)
    response = admin.post(users(a), json=body)
    assert response.status_code == 422 and codes(response) == expected, response.get_json()
    assert count(portal, User) == before and audit_events(portal) == []


def test_create_cannot_grant_more_than_the_key_holds(portal: Portal, a: Tenant, b: Tenant) -> None:
    manager = api_for(portal, a.user_manager)
    response = manager.post(users(a), json={**NEW, "roles": ["account-admin"]})
    assert response.status_code == 403 and codes(response) == [("Forbidden", None)]
    foreign = portal.scalar(select(Role.id).where(Role.account_id == b.id, Role.name == "member"))
    admin = api_for(portal, a.admin)
    assert codes(admin.post(users(a), json={**NEW, "roles": [str(foreign)]})) == [("InvalidArgument", "roles")]
    assert count(portal, User, User.login == "grace") == 0


def test_bodies_must_be_json_objects(portal: Portal, a: Tenant, admin: Api) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = admin.post(users(a), data="email=x@example.com", headers=form)
    assert response.status_code == 415 and codes(response) == [("UnsupportedMediaType", None)]
    response = admin.post(users(a), data='{"email": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and codes(response) == [("MalformedJson", None)]
    response = admin.post(users(a), json=["not", "an", "object"])
    assert response.status_code == 422 and codes(response)[0][0] == "InvalidArgument"
    response = admin.post(users(a), json={**NEW, "email": "nul\u0000@example.com"})
    assert response.status_code == 422
    assert count(portal, User, User.login == "grace") == 0


# --- update -----------------------------------------------------------------------------------------------------


def test_patch_changes_profile_fields_and_an_email_stays_pending(portal: Portal, a: Tenant, admin: Api) -> None:
    url = users(a, f"/{a.member.id}")
    etag = admin.get(url).headers["ETag"]
    response = admin.patch(url, json={"city": "Paris", "email": "new@example.com"}, headers={"If-Match": etag})
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["city"] == "Paris" and data["email"] == "member-a@example.com"  # pending until confirmed
    assert response.headers["ETag"] != etag
    assert portal.scalar(select(EmailChange.new_email).where(EmailChange.user_id == a.member.id)) == "new@example.com"
    assert [m.kind for m in emails_to(portal, "new@example.com")] == ["email_change_confirm"]
    event = only_api_event(portal, "user.email_change_requested")
    assert event.changes["city"] == ["", "Paris"]


@pytest.mark.parametrize("field", ["password", "status", "is_owner", "password_confirmation"])
def test_patch_refuses_password_status_and_owner(portal: Portal, a: Tenant, admin: Api, field: str) -> None:
    response = admin.patch(users(a, f"/{a.member.id}"), json={field: "x", "city": "Rome"})
    assert response.status_code == 422 and codes(response) == [("InvalidArgument", field)]
    assert portal.get(User, a.member.id).city == ""


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(portal: Portal, a: Tenant, admin: Api) -> None:
    url = users(a, f"/{a.member.id}")
    etag = admin.get(url).headers["ETag"]
    assert admin.patch(url, json={"city": "Oslo"}).status_code == 200
    response = admin.patch(url, json={"city": "Rome"}, headers={"If-Match": etag})
    assert response.status_code == 412 and codes(response) == [("PreconditionFailed", None)]
    assert admin.delete(url, headers={"If-Match": etag}).status_code == 412
    assert portal.get(User, a.member.id).city == "Oslo"


def test_patch_a_taken_login_and_a_higher_ranked_user(portal: Portal, a: Tenant, admin: Api) -> None:
    response = admin.patch(users(a, f"/{a.member.id}"), json={"login": "auditor-a"})
    assert response.status_code == 422 and codes(response) == [("InvalidArgument", "login")]
    manager = api_for(portal, a.user_manager)
    response = manager.patch(users(a, f"/{a.admin.id}"), json={"city": "Rome"})
    assert response.status_code == 403
    assert manager.patch(users(a, "/owner-a"), json={"city": "Rome"}).status_code == 403


# --- roles ------------------------------------------------------------------------------------------------------


def test_put_roles_replaces_the_whole_set(portal: Portal, a: Tenant, admin: Api) -> None:
    helpdesk = make_role(portal, a.account, "Helpdesk", ("users:read",))
    response = admin.put(
        users(a, f"/{a.member.id}/roles"), json={"roles": ["auditor", str(helpdesk.id)], "default_roles": ["Helpdesk"]}
    )
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["roles"] == ["Helpdesk", "auditor"] and data["default_roles"] == ["Helpdesk"]  # byte order
    event = only_api_event(portal, "role.replace")
    assert event.changes["granted"] == ["Helpdesk", "auditor"] and event.changes["revoked"] == ["member"]


def test_put_roles_refuses_escalation_with_nothing_changed(portal: Portal, a: Tenant) -> None:
    helpdesk = make_role(
        portal, a.account, "Helpdesk", ("users:read", "roles:write", "roles:read"), holders=(a.user_manager,)
    )
    manager = api_for(portal, a.user_manager)
    response = manager.put(users(a, f"/{a.member.id}/roles"), json={"roles": ["account-admin"]})
    assert response.status_code == 403
    response = manager.put(
        users(a, f"/{a.member.id}/roles"), json={"roles": ["member", str(helpdesk.id)], "default_roles": ["auditor"]}
    )
    assert response.status_code == 422 and codes(response) == [("InvalidArgument", "default_roles")]
    assert api_for(portal, a.admin).get(users(a, f"/{a.member.id}")).get_json()["roles"] == ["member"]
    assert audit_events(portal) == []


# --- password, MFA, status, delete -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["password", "change_password"])
def test_set_a_password_ends_the_sessions_and_tells_the_person(
    portal: Portal, a: Tenant, admin: Api, path: str
) -> None:
    signed_in = portal.client(a.member)
    response = admin.post(
        users(a, f"/{a.member.id}/{path}"), json={"password": NEW["password"], "password_confirmation": NEW["password"]}
    )
    assert response.status_code == 204 and response.get_data() == b""
    assert count(portal, LoginSession, LoginSession.user_id == a.member.id) == 0
    assert signed_in.get("/me").status_code == 302
    assert portal.get(User, a.member.id).must_change_password is True
    assert [m.subject for m in emails_to(portal, "member-a@example.com")] == ["An administrator set your password"]
    only_api_event(portal, "user.set_password")


def test_set_a_password_needs_both_fields_alike_and_a_good_one(portal: Portal, a: Tenant, admin: Api) -> None:
    url = users(a, f"/{a.member.id}/password")
    assert codes(admin.post(url, json={"password": "violet-harbor-lantern-42"})) == [
        ("MissingParameter", "password_confirmation")
    ]
    assert codes(admin.post(url, json={"password": "violet-harbor-lantern-42", "password_confirmation": "x"})) == [
        ("InvalidArgument", "password_confirmation")
    ]
    assert codes(admin.post(url, json={"password": "member-a-1234", "password_confirmation": "member-a-1234"})) == [
        ("InvalidArgument", "password")
    ]
    assert audit_events(portal) == []


def test_reset_mfa_and_never_the_owners(portal: Portal, a: Tenant, admin: Api) -> None:
    assert admin.post(users(a, f"/{a.member.id}/reset-mfa")).status_code == 204
    assert admin.post(users(a, f"/{a.member.id}/reset-mfa"), json={"reason": "lost phone"}).status_code == 204
    response = admin.post(users(a, "/owner-a/reset-mfa"), json={})
    assert response.status_code == 422 and codes(response)[0][0] == "InvalidArgument"
    assert [e.action for e in audit_events(portal)] == ["user.reset_mfa", "user.reset_mfa"]


def test_disable_and_enable(portal: Portal, a: Tenant, admin: Api) -> None:
    response = admin.post(users(a, f"/{a.member.id}/disable"))
    assert response.status_code == 200 and response.get_json()["status"] == "disabled"
    assert admin.post(users(a, f"/{a.member.id}/enable")).get_json()["status"] == "active"
    assert admin.post(users(a, "/admin-a/disable")).status_code == 422  # oneself
    assert admin.post(users(a, "/owner-a/disable")).status_code == 403  # only the owner acts on the owner
    assert api_for(portal, a.owner).post(users(a, "/owner-a/disable")).status_code == 422  # and never this
    assert [e.via for e in audit_events(portal)] == ["api", "api"]


def test_delete_and_never_the_owner_or_oneself(portal: Portal, a: Tenant, admin: Api) -> None:
    assert admin.delete(users(a, f"/{a.member.id}")).status_code == 204
    assert portal.get(User, a.member.id) is None
    only_api_event(portal, "user.delete")
    for api, target in ((admin, "admin-a"), (api_for(portal, a.owner), "owner-a")):
        response = api.delete(users(a, f"/{target}"))
        assert response.status_code == 422 and codes(response)[0][0] == "InvalidArgument"
    assert admin.delete(users(a, "/owner-a")).status_code == 403
    assert admin.get(users(a, f"/{a.member.id}")).status_code == 404


def test_a_pending_user_changes_only_through_their_invitation(portal: Portal, a: Tenant, admin: Api) -> None:
    pending = admin.post(users(a), json={"email": "pat@example.com"}).get_json()
    response = admin.patch(users(a, f"/{pending['id']}"), json={"city": "Rome"})
    assert response.status_code == 409 and codes(response) == [("Conflict", None)]
    assert admin.put(users(a, f"/{pending['id']}/roles"), json={"roles": []}).status_code == 409
    assert count(portal, Invitation) == 1 and count(portal, OutboxEmail, OutboxEmail.kind == "invitation") == 1
    assert count(portal, GroupMember) == 0 and PASSWORD


def test_the_list_costs_a_constant_number_of_statements(portal: Portal, a: Tenant, admin: Api) -> None:
    """As the users page: one page of the list is a fixed set of statements, however long the page or the list
    (roles, invitations and groups of all its users are read at once), by offset or by keyset cursor."""
    from tests.helpers import add_many_members

    group = make_group(portal, a.account, "Everyone")
    add_many_members(portal, a.account, group, 120)
    assert admin.get(users(a, "?take=1")).status_code == 200  # the key's last use: written once a minute, now
    counts = []
    for query in ("?take=5", "?take=100", "?take=100&from=50"):
        with portal.count_statements() as counter:
            assert admin.get(users(a, query)).status_code == 200
        counts.append(counter.count)
    following = admin.get(users(a, "?take=10")).get_json()["next"]
    with portal.count_statements() as counter:
        assert len(admin.get(following).get_json()["users"]) == 10
    assert len(set(counts)) == 1 and counter.count == counts[0] and counts[0] <= 12, (counts, counter.count)
    with CallCounter() as calls:  # issue 20: every statement built once, bound per call (3 select() before)
        assert admin.get(following).status_code == 200
    assert not calls.statements_built
