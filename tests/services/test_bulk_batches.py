"""Bulk actions and imports work a batch at a time in a constant number of statements (issue 20): a batch of
400 users or rows sends as many statements as a batch of 50, whatever the action; the outcomes stay those of
the single services (tests/services/test_bulk_and_actors.py, tests/routes/test_jobs.py, test_import.py)."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal import db
from portal.jobs import services as jobs
from portal.models import ApiKey, AuditEvent, Job, Role, User
from portal.users import bulk, imports
from portal.users import queries as user_queries
from tests.helpers import CallCounter, Portal, Tenant, actor_of, add_many_users, make_group

ACTIONS = ("disable", "enable", "delete", "grant_role", "add_to_group")


def _role_id(tenant: Tenant, name: str) -> str:
    return str(db.session.scalar(select(Role.id).where(Role.account_id == tenant.id, Role.name == name)))


def _bulk_statements(app: Flask, portal: Portal, a: Tenant, action: str, size: int, group_id: str) -> int:
    """The statements one bulk batch over `size` users (and the owner, refused) sends, its flush included."""
    status = "disabled" if action == "enable" else "active"
    ids = add_many_users(portal, a.account, size, prefix=f"b{size}x", status=status)
    with app.app_context():
        db.session.add(ApiKey(user_id=ids[0], name="k", prefix="ap_x", key_hash=uuid.uuid4().hex, scopes=[]))
        db.session.commit()
        admin = actor_of(a.admin.id)
        chosen = bulk.action_for(a.id, action, role_id=_role_id(a, "auditor"), group_id=group_id)
        targets = [db.session.get(User, a.owner.id), *user_queries.users_in_account(a.id, ids)]
        with portal.count_statements() as counter:
            outcomes = bulk.apply(targets, chosen, actor=admin)  # type: ignore[arg-type]
            db.session.flush()
        assert [o.done for o in outcomes] == [False] + [True] * size
        db.session.commit()
        events = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.actor_id == a.admin.id)
        )
        assert events >= size  # one event for each user acted on, as the single actions write
        db.session.execute(AuditEvent.__table__.delete())
        db.session.commit()
        return counter.count


@pytest.mark.parametrize("action", ACTIONS)
def test_a_bulk_batch_of_400_sends_as_many_statements_as_one_of_50(
    app: Flask, portal: Portal, a: Tenant, action: str
) -> None:
    group_id = str(make_group(portal, a.account, "Batch").id)
    small = _bulk_statements(app, portal, a, action, 50, group_id)
    large = _bulk_statements(app, portal, a, action, 400, group_id)
    assert small == large, (action, small, large)


def _import_statements(app: Flask, portal: Portal, a: Tenant, size: int, dry_run: bool) -> int:
    """The statements one batch of an import sends: `size` rows, half updating users (a profile field, a role,
    a group), half inviting new people with a role and a group (and one refused row)."""
    half = size // 2
    add_many_users(portal, a.account, half, prefix=f"i{size}x")
    lines = ["email,first_name,city,roles,groups"]
    lines += [f"i{size}x{i:06d}@example.com,Imp,Town{i},auditor,Imported" for i in range(half)]
    lines += [f"n{size}x{i:06d}@example.com,New,Town{i},auditor,Imported" for i in range(half)]
    lines += [f"{a.owner.email},Not,Owner,,"]  # the owner: refused (only the owner changes the owner)
    with app.app_context():
        admin = actor_of(a.admin.id)
        job = imports.start_import(
            a.id, ("\n".join(lines) + "\n").encode(), dry_run=dry_run, send_invitations=False, actor=admin
        )
        db.session.commit()
        held = jobs.claim()
        assert held is not None and held.job_id == job.id
        assert jobs.run_batch(held, size + 1)  # prepares the items
        db.session.remove()
        with portal.count_statements() as counter:
            jobs.run_batch(held, size + 1)
        db.session.remove()
        done = db.session.get(Job, job.id)
        assert done is not None and done.state == "done", (done and done.state, done and done.error)
        expected = {"created": half, "updated": half, "skipped": 0, "refused": 1}
        assert done.result == expected, done.result
        return counter.count


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry_run", "apply"])
def test_an_import_batch_of_400_rows_sends_as_many_statements_as_one_of_50(
    app: Flask, portal: Portal, a: Tenant, dry_run: bool
) -> None:
    make_group(portal, a.account, "Imported")
    small = _import_statements(app, portal, a, 50, dry_run)
    large = _import_statements(app, portal, a, 400, dry_run)
    assert small == large, (small, large)


def test_a_row_refused_as_the_batch_is_applied_sends_the_batch_row_by_row(
    app: Flask, portal: Portal, a: Tenant
) -> None:
    """The same person on two rows (by id, then by email: two keys) makes the batch's one UPDATE lose its race
    with itself: the batch is undone and applied row by row, as before, each row through the single services."""
    from tests.helpers import run_jobs

    member = a.member
    data = (
        "id,email,first_name,roles\n"
        f"{member.id},{member.email},First,auditor\n"
        f",{member.email},Second,\n"
        ",someone.new@example.com,New,auditor\n"
    ).encode()
    with app.app_context():
        version = db.session.get(User, member.id).version  # type: ignore[union-attr]
        imports.start_import(a.id, data, dry_run=False, send_invitations=False, actor=actor_of(a.admin.id))
        db.session.commit()
    run_jobs(portal)
    with app.app_context():
        job = db.session.scalar(select(Job).order_by(Job.created_at.desc()).limit(1))
        assert job is not None and job.result == {"created": 1, "updated": 2, "skipped": 0, "refused": 0}
        user = db.session.get(User, member.id)
        assert user is not None and (user.first_name, user.version) == ("Second", version + 2)
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.target_id == str(member.id)).order_by(AuditEvent.created_at)
        ).all()
        assert sorted(actions) == ["role.grant", "user.update", "user.update"]
        invited = db.session.scalar(select(User).where(User.email == "someone.new@example.com"))
        assert invited is not None and invited.status == "pending"


def _audit_objects(calls: CallCounter) -> int:
    """How many AuditEvent objects the counted block built (SQLAlchemy's generated __init__ of the class)."""
    return sum(n for name, n in calls.by_function.items() if "AuditEvent" in name and name.endswith(":__init__"))


@pytest.mark.parametrize("action", ACTIONS)
def test_a_bulk_batch_writes_its_audit_events_without_an_orm_object_each(
    app: Flask, portal: Portal, a: Tenant, action: str
) -> None:
    """audit.record_all: a batch's events are one INSERT of plain rows (an ORM object each cost ~40 µs a row)."""
    group_id = str(make_group(portal, a.account, "Batch").id)
    ids = add_many_users(portal, a.account, 30, status="disabled" if action == "enable" else "active")
    with app.app_context():
        admin = actor_of(a.admin.id)
        chosen = bulk.action_for(a.id, action, role_id=_role_id(a, "auditor"), group_id=group_id)
        targets = user_queries.users_in_account(a.id, ids)
        with CallCounter() as calls:
            outcomes = bulk.apply(targets, chosen, actor=admin)
            db.session.flush()
        assert all(o.done for o in outcomes) and len(outcomes) == 30
        db.session.commit()
        written = db.session.scalars(select(AuditEvent).where(AuditEvent.actor_id == a.admin.id)).all()
    assert len(written) == 30 and {e.via for e in written} == {"cli"}
    assert _audit_objects(calls) == 0, calls.by_function


def test_an_import_batch_writes_its_audit_events_without_an_orm_object_each(
    app: Flask, portal: Portal, a: Tenant
) -> None:
    make_group(portal, a.account, "Imported")
    add_many_users(portal, a.account, 20, prefix="ao")
    lines = ["email,first_name,city,roles,groups"]
    lines += [f"ao{i:06d}@example.com,Imp,Town{i},auditor,Imported" for i in range(20)]
    lines += [f"an{i:06d}@example.com,New,Town{i},auditor,Imported" for i in range(20)]
    with app.app_context():
        job = imports.start_import(
            a.id, ("\n".join(lines) + "\n").encode(), dry_run=False, send_invitations=False, actor=actor_of(a.admin.id)
        )
        db.session.commit()
        held = jobs.claim()
        assert held is not None and held.job_id == job.id
        assert jobs.run_batch(held, 100)  # prepares the items
        db.session.remove()
        with CallCounter() as calls:
            jobs.run_batch(held, 100)
        db.session.remove()
        done = db.session.get(Job, job.id)
        assert done is not None and done.result == {"created": 20, "updated": 20, "skipped": 0, "refused": 0}
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == a.admin.id)).all()
    # 20 invited, 20 updated with a role and a group each (and the job's start)
    assert sorted(set(actions)) == ["group.members.add", "invitation.create", "job.start", "role.grant", "user.update"]
    assert len(actions) == 20 + 3 * 20 + 1
    assert _audit_objects(calls) == 0, calls.by_function
