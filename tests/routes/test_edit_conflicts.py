"""A stale edit of each versioned aggregate (User, Role, Group, Invitation), on the pages and in the JSON API
(portal.versioning): 409 with the other person's values on a page, 412 in the API when If-Match names the
version read; nothing changes either way, and saving again with the fresh version is a deliberate overwrite."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from portal import db
from portal.actors import Actor
from portal.invitations import services as invitations
from portal.models import Account, Group, InvitationRole, Role, User
from portal.permissions import ALL_PERMISSIONS
from tests.api_client import api_for, codes
from tests.helpers import Portal, Tenant, make_group, make_role, role_named

PROFILE = (
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
)


@dataclass
class Case:
    noun: str
    table: str
    id: uuid.UUID
    page: str  # the edit page, under /accounts/<id>
    api: str  # the resource, under /api/v1/accounts/<id>
    form: Callable[[str], dict[str, Any]]  # the page's form with "mine" in it
    body: dict[str, Any]  # the API's PATCH body
    theirs: dict[str, Any]  # someone else's save, column -> value
    stored: Callable[[], Any]  # what is stored now, to compare


def _invitation(app: Flask, a: Tenant, role: Role) -> uuid.UUID:
    with app.test_request_context():
        outcome = invitations.invite(
            db.session.get_one(Account, a.id),
            ["new@example.com"],
            [role.id],
            [],
            send=False,
            actor=Actor(db.session.get_one(User, a.admin.id), ALL_PERMISSIONS),
        )
        db.session.commit()
        return outcome.invited[0].id


def _case(kind: str, portal: Portal, a: Tenant) -> Case:
    if kind == "user":
        user = portal.get(User, a.member.id)
        return Case(
            "user",
            "users",
            user.id,
            f"/users/{user.id}/edit",
            f"/users/{user.id}",
            lambda mine: {**{f: getattr(user, f) for f in PROFILE}, "city": mine},
            {"city": "Mine"},
            {"city": "Theirs"},
            lambda: portal.get(User, user.id).city,
        )
    if kind == "role":
        role = make_role(portal, a.account, "Support", ("users:read",))
        return Case(
            "role",
            "roles",
            role.id,
            f"/roles/{role.id}/edit",
            f"/roles/{role.id}",
            lambda mine: {"name": "Support", "description": mine, "permissions": ["users:read"]},
            {"description": "Mine"},
            {"description": "Theirs"},
            lambda: portal.get(Role, role.id).description,
        )
    if kind == "group":
        group = make_group(portal, a.account, "Engineering")
        return Case(
            "group",
            "groups",
            group.id,
            f"/groups/{group.id}/edit",
            f"/groups/{group.id}",
            lambda mine: {"name": "Engineering", "description": mine},
            {"description": "Mine"},
            {"description": "Theirs"},
            lambda: portal.get(Group, group.id).description,
        )
    member, auditor = role_named(portal, a.account, "member"), role_named(portal, a.account, "auditor")
    assert member is not None and auditor is not None
    invitation_id = _invitation(portal.app, a, member)
    return Case(
        "invitation",
        "invitations",
        invitation_id,
        f"/invitations/{invitation_id}/edit",
        f"/invitations/{invitation_id}",
        lambda _mine: {"roles": [str(auditor.id)]},
        {"roles": ["auditor"]},
        {"sent_count": 2},
        lambda: _roles_of(portal, invitation_id),
    )


def _roles_of(portal: Portal, invitation_id: uuid.UUID) -> list[uuid.UUID]:
    with portal.app.app_context():
        return sorted(
            db.session.scalars(select(InvitationRole.role_id).where(InvitationRole.invitation_id == invitation_id))
        )


KINDS = ["user", "role", "group", "invitation"]


def _written_elsewhere(portal: Portal, case: Case) -> None:
    """Someone else's save, committed on a connection of its own: the version moves on."""
    sets = ", ".join([f"{name} = :{name}" for name in case.theirs] + ["version = version + 1"])
    engine = portal.app.extensions["portal.engine"]
    with engine.begin() as connection:
        row_id: Any = case.id.hex if connection.dialect.name == "sqlite" else case.id
        connection.execute(
            text(f"UPDATE {case.table} SET {sets} WHERE id = :id"),  # noqa: S608 (names are ours)
            {**case.theirs, "id": row_id},
        )


def _version_in(html: str) -> str:
    match = re.search(r'name="version" type="hidden" value="(\d+)"', html)
    assert match, "the edit form carries no version"
    return match.group(1)


@pytest.mark.parametrize("hx", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_a_stale_page_edit_is_409_shows_theirs_and_changes_nothing(
    portal: Portal, a: Tenant, kind: str, hx: bool
) -> None:
    case = _case(kind, portal, a)
    client = portal.client(a.owner)
    page = f"/accounts/{a.id}{case.page}"
    read = _version_in(client.get(page).get_data(as_text=True))
    _written_elsewhere(portal, case)
    stored = case.stored()
    response = client.post(page, {**case.form("Mine"), "version": read}, hx=hx)
    body = response.get_data(as_text=True)
    assert response.status_code == 409, body
    assert f"Someone else changed this {case.noun}" in body
    assert case.stored() == stored
    # Their value beside mine (an invitation's roles: theirs are the stored ones, its sent_count changed)
    assert ("Theirs" in body and "Mine" in body) if kind != "invitation" else ("member" in body and "auditor" in body)
    fresh = _version_in(body)
    assert int(fresh) == int(read) + 1
    again = client.post(page, {**case.form("Mine"), "version": fresh}, hx=hx)
    assert again.status_code in (204, 303), again.get_data(as_text=True)  # htmx: 204 and HX-Location
    assert case.stored() != stored


@pytest.mark.parametrize("kind", KINDS)
def test_a_stale_api_edit_is_412_and_changes_nothing(portal: Portal, a: Tenant, kind: str) -> None:
    case = _case(kind, portal, a)
    api = api_for(portal, a.owner)
    url = f"/api/v1/accounts/{a.id}{case.api}"
    read = api.get(url)
    assert read.status_code == 200
    _written_elsewhere(portal, case)
    stored = case.stored()
    stale = api.patch(url, json=case.body, headers={"If-Match": read.headers["ETag"]})
    assert stale.status_code == 412 and codes(stale) == [("PreconditionFailed", None)], stale.get_json()
    assert case.stored() == stored
    delete = api.delete(url, headers={"If-Match": read.headers["ETag"]})
    assert delete.status_code == 412 and codes(delete) == [("PreconditionFailed", None)]
    fresh = api.get(url)
    assert int(fresh.headers["ETag"].strip('"')) == int(read.headers["ETag"].strip('"')) + 1
    saved = api.patch(url, json=case.body, headers={"If-Match": fresh.headers["ETag"]})
    assert saved.status_code == 200, saved.get_json()
    assert saved.headers["ETag"] != fresh.headers["ETag"]


def test_an_edit_form_without_its_version_is_refused_for_every_kind(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.owner)
    for kind in KINDS:
        case = _case(kind, portal, a)
        stored = case.stored()
        for version in ("", "x", "-1", "99999999999"):
            response = client.post(f"/accounts/{a.id}{case.page}", {**case.form("Mine"), "version": version})
            assert response.status_code == 422, (kind, version)
            assert "reload the page" in response.get_data(as_text=True)
        assert case.stored() == stored
