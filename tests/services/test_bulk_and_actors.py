"""Bulk actions are the single actions (portal.users.bulk), and every change records who made it
(portal.actors): a person, a job of the worker (its starter), the worker's own sweep (the system)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from portal import actors, db
from portal.audit.services import record
from portal.db import utcnow
from portal.models import AuditEvent, Group, Role, RoleAssignment, User
from portal.users import bulk
from tests.helpers import Portal, Tenant, actor_of, make_group, run_jobs


def _events(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.created_at))
    )


def _role(tenant: Tenant, name: str) -> Role:
    role = db.session.scalar(select(Role).where(Role.account_id == tenant.id, Role.name == name))
    assert role is not None
    return role


def test_bulk_grants_and_adds_are_audited_as_the_single_actions(app: Flask, portal: Portal, a: Tenant) -> None:
    """An auditor filtering by "role.grant" or "group.members.add" sees the bulk changes too."""
    group = make_group(portal, a.account, "Ops")
    with app.app_context():
        admin = actor_of(a.admin.id)
        targets = [db.session.get(User, a.member.id), db.session.get(User, a.no_role.id)]
        grant = bulk.action_for(a.id, "grant_role", role_id=str(_role(a, "auditor").id))
        add = bulk.action_for(a.id, "add_to_group", group_id=str(group.id))
        assert all(o.done for o in bulk.apply(targets, grant, actor=admin))  # type: ignore[arg-type]
        assert all(o.done for o in bulk.apply(targets, add, actor=admin))  # type: ignore[arg-type]
        db.session.commit()
        assert [e.target_label for e in _events("role.grant")] == ["member-a", "no-role-a"]
        assert len(_events("group.members.add")) == 2
        assert not _events("user.grant_role") and not _events("user.add_to_group")


def test_a_bulk_refusal_is_reported_and_the_rest_is_done(app: Flask, a: Tenant) -> None:
    with app.app_context():
        manager = actor_of(a.user_manager.id)
        targets = [db.session.get(User, a.admin.id), db.session.get(User, a.member.id)]
        outcomes = bulk.apply(targets, bulk.BulkAction("disable"), actor=manager)  # type: ignore[arg-type]
        assert [o.done for o in outcomes] == [False, True]
        assert "holds permissions you do not have" in outcomes[0].message


def test_a_change_made_by_the_worker_records_the_person_who_started_the_job(
    app: Flask, portal: Portal, a: Tenant
) -> None:
    with app.app_context():
        action = bulk.action_for(a.id, "grant_role", role_id=str(_role(a, "auditor").id))
        bulk.start_job(a.id, action, {"q": "member-a"}, 1, actor=actor_of(a.admin.id, via="api"))
        db.session.commit()
    run_jobs(portal)
    with app.app_context():
        [event] = _events("role.grant")
        assert (event.actor_id, event.actor_label, event.via) == (a.admin.id, "admin-a", "api")
        assert event.target_id == str(a.member.id)


def test_the_expiry_sweep_records_the_system(app: Flask, a: Tenant) -> None:
    from portal import expiry

    with app.app_context():
        db.session.add(
            RoleAssignment(
                user_id=a.member.id,
                role_id=_role(a, "auditor").id,
                is_default=True,
                expires_at=utcnow() - timedelta(seconds=1),
            )
        )  # as if granted until then
        db.session.commit()
        assert expiry.sweep_batch() == 1
        [event] = _events("role.expire")
        assert (event.actor_id, event.actor_label, event.via) == (None, actors.SYSTEM_LABEL, "cli")


def test_record_takes_an_actor_not_a_user(app: Flask, a: Tenant) -> None:
    with app.app_context():
        user = db.session.get(User, a.member.id)
        with pytest.raises(AssertionError):
            record("user.update", user, actor=user)  # type: ignore[arg-type]
        event = record("user.update", user, actor=actors.person(user))  # type: ignore[arg-type]
        assert (event.actor_id, event.via) == (a.member.id, "cli")


def test_bulk_actions_name_their_role_or_group_in_the_account(app: Flask, portal: Portal, a: Tenant) -> None:
    from portal.errors import Forbidden, NotFound

    other = portal.tenant("B")
    with app.app_context():
        foreign = db.session.scalar(select(Group.id).where(Group.account_id == other.id))
        with pytest.raises(NotFound):
            bulk.action_for(a.id, "grant_role", role_id=str(_role(other, "member").id))
        with pytest.raises(NotFound):
            bulk.action_for(a.id, "add_to_group", group_id=str(foreign) if foreign else "nope")
        with pytest.raises(Forbidden):
            bulk.ensure_may_start("grant_role", actor=actor_of(a.user_manager.id))
