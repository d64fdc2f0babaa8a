"""The edit-conflict rule (portal.versioning), without HTTP: the services of the four versioned aggregates
(User, Invitation, Role, Group) called directly in an app context.

- An edit drawn from an older version is StaleEdit (409) before anything changes, carrying the object as it
  is now and the fields that differ from what the editor submitted.
- A write that loses the race between its read and its write (someone else committed in between) is
  StaleEdit too, changes nothing, and leaves the transaction usable.
- The current version, or none (an API write without If-Match, SCIM, an import), saves and moves the
  version on by one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text, update

from portal import db
from portal.groups import services as groups
from portal.invitations import services as invitations
from portal.models import Account, AuditEvent, Group, Invitation, InvitationRole, Role, User
from portal.permissions import ALL_PERMISSIONS, Permission
from portal.roles import services as roles
from portal.users import services as users
from portal.versioning import StaleEdit, ensure_version
from tests.helpers import Portal, Tenant, make_group, make_role, role_named


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.test_request_context():
        yield
        db.session.rollback()


def _events(action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)) or 0


def _written_elsewhere(app: Flask, table: str, row_id: uuid.UUID, **values: Any) -> None:
    """Someone else's save, committed on a connection of its own: the row's version moves on."""
    sets = ", ".join([f"{name} = :{name}" for name in values] + ["version = version + 1"])
    with app.extensions["portal.engine"].begin() as connection:
        connection.execute(
            text(f"UPDATE {table} SET {sets} WHERE id = :id"),  # noqa: S608 (names are ours)
            {**values, "id": row_id.hex if connection.dialect.name == "sqlite" else row_id},
        )


# --- the rule itself --------------------------------------------------------------------------------------


def test_ensure_version_names_what_differs_from_the_submitted_values(ctx: None, a: Tenant) -> None:
    member = db.session.get_one(User, a.member.id)
    ensure_version(member, member.version)  # the current version: nothing to say
    ensure_version(member, None)  # none given: the change applies to the current version
    with pytest.raises(StaleEdit) as raised:
        ensure_version(member, member.version - 1, submitted={"city": "Rome", "login": member.login})
    stale = raised.value
    assert stale.status == 409 and stale.fresh is member and stale.noun == "user"
    assert stale.differences == {"city": (member.city, "Rome")}  # the login is the same: not a difference
    assert "Someone else changed this user" in stale.message


# --- stale forms: refused before anything changes ---------------------------------------------------------


def _admin(a: Tenant) -> users.Actor:
    return users.Actor(db.session.get_one(User, a.admin.id), ALL_PERMISSIONS)


def test_a_stale_user_edit_changes_nothing(ctx: None, a: Tenant) -> None:
    member = db.session.get_one(User, a.member.id)
    version, city = member.version, member.city
    with pytest.raises(StaleEdit) as raised:
        users.update_profile(member, {"city": "Rome"}, version - 1, actor=_admin(a))
    assert raised.value.fresh is member and raised.value.differences == {"city": (city, "Rome")}
    db.session.commit()
    db.session.refresh(member)
    assert (member.city, member.version, _events("user.update")) == (city, version, 0)


def test_a_stale_role_edit_changes_nothing(ctx: None, portal: Portal, a: Tenant) -> None:
    role = db.session.get_one(Role, make_role(portal, a.account, "Support", ("users:read",)).id)
    owner = db.session.get_one(User, a.owner.id)
    with pytest.raises(StaleEdit) as raised:
        roles.update_role(
            role,
            name="Helpdesk",
            description="",
            permissions=frozenset({Permission.USERS_READ}),
            expected_version=role.version - 1,
            actor=users.Actor(owner, ALL_PERMISSIONS),
        )
    assert raised.value.differences == {"name": ("Support", "Helpdesk")}
    db.session.commit()
    db.session.refresh(role)
    assert (role.name, role.version, _events("role.update")) == ("Support", 1, 0)


def test_a_stale_group_edit_changes_nothing(ctx: None, portal: Portal, a: Tenant) -> None:
    group = db.session.get_one(Group, make_group(portal, a.account, "Engineering").id)
    with pytest.raises(StaleEdit) as raised:
        groups.update_group(group, "Platform", "", expected_version=group.version + 5, actor=_admin(a))
    assert raised.value.differences == {"name": ("Engineering", "Platform")}
    db.session.commit()
    db.session.refresh(group)
    assert (group.name, group.version, _events("group.update")) == ("Engineering", 1, 0)


def _invitation(a: Tenant, role: Role) -> Invitation:
    account = db.session.get_one(Account, a.id)
    outcome = invitations.invite(account, ["new@example.com"], [role.id], [], send=False, actor=_admin(a))
    db.session.commit()
    return db.session.get_one(Invitation, outcome.invited[0].id)


def test_a_stale_invitation_edit_changes_nothing(ctx: None, portal: Portal, a: Tenant) -> None:
    member, auditor = role_named(portal, a.account, "member"), role_named(portal, a.account, "auditor")
    assert member is not None and auditor is not None
    invitation = _invitation(a, member)
    version = invitation.version
    with pytest.raises(StaleEdit) as raised:
        invitations.update_invitation(invitation, [auditor.id], [], expected_version=version - 1, actor=_admin(a))
    assert raised.value.differences == {"roles": (["member"], ["auditor"])}
    db.session.commit()
    db.session.refresh(invitation)
    assert invitation.version == version and _events("invitation.update") == 0
    assert list(db.session.scalars(select(InvitationRole.role_id))) == [member.id]


# --- the race between read and write: the version column guards it ----------------------------------------


def test_a_user_saved_by_someone_else_after_our_read_is_a_stale_edit(app: Flask, ctx: None, a: Tenant) -> None:
    member = db.session.get_one(User, a.member.id)
    read = member.version
    _written_elsewhere(app, "users", member.id, city="Theirs")
    with pytest.raises(StaleEdit) as raised:
        users.update_profile(member, {"city": "Mine"}, read, actor=_admin(a))
    stale = raised.value
    assert stale.fresh is member and member.version == read + 1 and member.city == "Theirs"
    assert stale.differences == {"city": ("Theirs", "Mine")}
    assert db.session.scalar(select(func.count()).select_from(User)) > 0  # the transaction is still usable
    db.session.commit()
    assert _events("user.update") == 0


def test_a_role_saved_by_someone_else_after_our_read_is_a_stale_edit(
    app: Flask, ctx: None, portal: Portal, a: Tenant
) -> None:
    role = db.session.get_one(Role, make_role(portal, a.account, "Support", ("users:read",)).id)
    owner = db.session.get_one(User, a.owner.id)
    _written_elsewhere(app, "roles", role.id, description="Theirs")
    with pytest.raises(StaleEdit) as raised:
        roles.update_role(
            role,
            name="Support",
            description="Mine",
            permissions=frozenset({Permission.USERS_READ}),
            expected_version=None,
            actor=users.Actor(owner, ALL_PERMISSIONS),
        )
    assert raised.value.differences == {"description": ("Theirs", "Mine")} and role.version == 2
    db.session.commit()
    assert _events("role.update") == 0


def test_a_group_saved_by_someone_else_after_our_read_is_a_stale_edit(
    app: Flask, ctx: None, portal: Portal, a: Tenant
) -> None:
    group = db.session.get_one(Group, make_group(portal, a.account, "Engineering").id)
    _written_elsewhere(app, "groups", group.id, name="Theirs")
    with pytest.raises(StaleEdit):
        groups.update_group(group, "Mine", "", expected_version=1, actor=_admin(a))
    assert (group.name, group.version) == ("Theirs", 2)
    db.session.commit()
    assert _events("group.update") == 0


def test_an_invitation_changed_by_someone_else_after_our_read_is_a_stale_edit(
    app: Flask, ctx: None, portal: Portal, a: Tenant
) -> None:
    member, auditor = role_named(portal, a.account, "member"), role_named(portal, a.account, "auditor")
    assert member is not None and auditor is not None
    invitation = _invitation(a, member)
    read = invitation.version
    _written_elsewhere(app, "invitations", invitation.id, sent_count=2)
    with pytest.raises(StaleEdit):
        invitations.update_invitation(invitation, [auditor.id], [], expected_version=read, actor=_admin(a))
    db.session.commit()
    assert list(db.session.scalars(select(InvitationRole.role_id))) == [member.id]
    assert _events("invitation.update") == 0


# --- the current version (or none) saves, and moves the version on ----------------------------------------


def test_a_current_edit_saves_and_moves_each_version_by_one(ctx: None, portal: Portal, a: Tenant) -> None:
    member = db.session.get_one(User, a.member.id)
    role = db.session.get_one(Role, make_role(portal, a.account, "Support", ("users:read",)).id)
    group = db.session.get_one(Group, make_group(portal, a.account, "Engineering").id)
    auditor = role_named(portal, a.account, "auditor")
    assert auditor is not None
    invitation = _invitation(a, auditor)
    before = (member.version, role.version, group.version, invitation.version)
    users.update_profile(member, {"city": "Oslo"}, member.version, actor=_admin(a))
    roles.update_role(
        role,
        name="Helpdesk",
        description="",
        permissions=frozenset({Permission.USERS_READ}),
        expected_version=role.version,
        actor=users.Actor(db.session.get_one(User, a.owner.id), ALL_PERMISSIONS),
    )
    groups.update_group(group, "Platform", "", expected_version=None, actor=_admin(a))
    invitations.update_invitation(invitation, [], [], expected_version=invitation.version, actor=_admin(a))
    db.session.commit()
    after = (member.version, role.version, group.version, invitation.version)
    assert after == tuple(v + 1 for v in before)
    assert (member.city, role.name, group.name) == ("Oslo", "Helpdesk", "Platform")


def test_versions_of_rows_changed_in_bulk_move_too(ctx: None, portal: Portal, a: Tenant) -> None:
    """A statement outside the ORM (the accept race, revoking a pending user's invitation) moves it by hand."""
    auditor = role_named(portal, a.account, "auditor")
    assert auditor is not None
    invitation = _invitation(a, auditor)
    db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id)
        .values(version=Invitation.version + 1)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(StaleEdit):
        invitations.update_invitation(invitation, [], [], expected_version=None, actor=_admin(a))
