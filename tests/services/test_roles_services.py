"""Granting and taking roles (portal.roles.services), without HTTP: the rank and grant policy, "keeps
roles:write", and a refused name that leaves the request's transaction usable (a savepoint, no rollback)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal import db
from portal.actors import Actor
from portal.errors import Conflict, Forbidden, Invalid
from portal.models import AuditEvent, Group, Role, RoleAssignment, User
from portal.permissions import Permission
from portal.roles import services
from tests.helpers import Portal, Tenant, actor_of, make_role


@pytest.fixture
def a(a: Tenant, portal: Portal) -> Tenant:
    """Tenant A (tests/conftest.py) plus a role-less user the tests give a custom role-admin role."""
    a.users["role_admin"] = portal.user(a.account, "role-admin-a", roles=())
    return a


def _role(tenant: Tenant, name: str) -> Role:
    role = db.session.scalar(select(Role).where(Role.account_id == tenant.id, Role.name == name))
    assert role is not None
    return role


def _user(user: User) -> User:
    found = db.session.get(User, user.id)
    assert found is not None
    return found


def _holds(user: User, role: Role) -> bool:
    return db.session.get(RoleAssignment, (user.id, role.id)) is not None


def _manager_granting(tenant: Tenant) -> Actor:
    """The user-manager, with roles:write added to their session's permissions."""
    manager = actor_of(tenant.user_manager.id)
    return replace(manager, permissions=manager.permissions | {Permission.ROLES_WRITE})


def test_nobody_grants_a_role_holding_a_permission_they_lack(app: Flask, a: Tenant) -> None:
    with app.app_context():
        with pytest.raises(Forbidden, match="to grant the role account-admin"):
            services.assign_role(
                _user(a.member), _role(a, "account-admin"), is_default=True, actor=_manager_granting(a)
            )
        assert not _holds(a.member, _role(a, "account-admin"))


def test_nobody_acts_on_someone_who_outranks_them(app: Flask, a: Tenant) -> None:
    with app.app_context():
        manager = _manager_granting(a)
        with pytest.raises(Forbidden, match="holds permissions you do not have"):
            services.assign_role(_user(a.admin), _role(a, "member"), is_default=True, actor=manager)
        with pytest.raises(Forbidden, match="Only the owner"):
            services.assign_role(_user(a.owner), _role(a, "member"), is_default=True, actor=actor_of(a.admin.id))


def test_a_grant_within_rank_is_made_and_audited_as_role_grant(app: Flask, a: Tenant) -> None:
    with app.app_context():
        services.assign_role(_user(a.member), _role(a, "auditor"), is_default=False, actor=actor_of(a.admin.id))
        db.session.commit()
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "role.grant"))
        assert event is not None and event.actor_id == a.admin.id and event.via == "cli"  # no request: the CLI
        assert event.changes == {"role": "auditor", "default": False}


def test_an_admin_cannot_take_their_last_roles_write_away(app: Flask, portal: Portal, a: Tenant) -> None:
    """ "Keeps roles:write" (_ensure_keeps_roles_write): not by removing the role, replacing their roles,
    editing the role or deleting it."""
    with app.app_context():
        admin, role = actor_of(a.admin.id), _role(a, "account-admin")
        with pytest.raises(Invalid, match="roles:write permission away from you"):
            services.remove_role(admin.user, role, actor=admin)
        with pytest.raises(Invalid, match="roles:write permission away from you"):
            services.replace_roles(admin.user, [_role(a, "auditor")], set(), actor=admin)
        assert _holds(a.admin, role)
    custom = make_role(portal, a.account, "Role admin", ("roles:read", "roles:write"), holders=(a.role_admin,))
    with app.app_context():
        actor, role = actor_of(a.role_admin.id), db.session.get(Role, custom.id)
        assert role is not None
        with pytest.raises(Invalid, match="roles:write permission away from you"):
            services.update_role(
                role,
                name=role.name,
                description="",
                permissions=frozenset({Permission.ROLES_READ}),
                expected_version=role.version,
                actor=actor,
            )
        with pytest.raises(Invalid, match="roles:write permission away from you"):
            services.delete_role(role, actor=actor)
        # Another source of roles:write keeps them able to: then the edit goes through.
        make_role(portal, a.account, "Second", ("roles:write",), holders=(a.role_admin,))
        services.update_role(
            role,
            name=role.name,
            description="",
            permissions=frozenset({Permission.ROLES_READ}),
            expected_version=role.version,
            actor=actor_of(a.role_admin.id),
        )


def test_the_owner_may_drop_roles_write_they_hold_anyway(app: Flask, a: Tenant) -> None:
    with app.app_context():
        owner = actor_of(a.owner.id)
        services.assign_role(owner.user, _role(a, "account-admin"), is_default=True, actor=owner)
        services.remove_role(owner.user, _role(a, "account-admin"), actor=owner)  # no error


def test_a_name_taken_meanwhile_is_a_conflict_and_the_request_goes_on(app: Flask, a: Tenant) -> None:
    """The service used to roll the whole request back; now a savepoint: what came before stays."""
    with app.app_context():
        admin = actor_of(a.admin.id)
        db.session.add(Group(account_id=a.id, name="Made earlier in the request", description=""))
        with pytest.raises(Conflict, match="a moment ago"):  # the form's check passed; the database's did not
            services.create_role(a.id, name="auditor", description="", permissions=frozenset(), actor=admin)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Group)) == 1


def test_an_edit_that_loses_the_race_is_a_conflict_and_the_request_goes_on(app: Flask, a: Tenant) -> None:
    """portal.users.services.update_profile: the version column catches a save made since the read; the
    refusal no longer rolls the request back (a savepoint)."""
    from sqlalchemy import update

    from portal.users.services import update_profile
    from portal.versioning import StaleEdit

    with app.app_context():
        member = _user(a.member)
        seen = member.version
        db.session.execute(
            update(User)
            .where(User.id == member.id)
            .values(version=User.version + 1)
            .execution_options(synchronize_session=False)
        )  # someone else saved meanwhile
        db.session.add(Group(account_id=a.id, name="Made earlier in the request", description=""))
        with pytest.raises(StaleEdit):
            update_profile(member, {"first_name": "Changed"}, seen, actor=actor_of(a.admin.id))
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Group)) == 1
        assert db.session.scalar(select(User.first_name).where(User.id == member.id)) == "Member-A"
