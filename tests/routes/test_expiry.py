"""Time-bound access (issue 18): role grants and memberships with an expiry."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select, update

from portal import db, expiry
from portal.db import utcnow
from portal.models import AuditEvent, GroupMember, OutboxEmail, Role, RoleAssignment
from tests.api_client import Api, key_for
from tests.helpers import account_url, make_group


def _expire(portal, **where):
    with portal.app.app_context():
        db.session.execute(update(RoleAssignment).filter_by(**where).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def test_a_grant_that_expires_between_two_requests_stops_counting_at_once(portal):
    tenant = portal.tenant()
    user = tenant.user_manager
    role_id = portal.scalar(select(Role.id).where(Role.account_id == tenant.id, Role.name == "user-manager"))
    with portal.app.app_context():
        db.session.execute(
            update(RoleAssignment)
            .where(RoleAssignment.user_id == user.id)
            .values(expires_at=utcnow() + timedelta(hours=1))
        )
        db.session.commit()
    client = portal.client(user)
    api = Api(portal.app, key_for(portal, user))
    assert client.get(account_url(tenant.account, "/users")).status_code == 200
    assert api.get(f"/api/v1/accounts/{tenant.id}/users").status_code == 200
    _expire(portal, user_id=user.id, role_id=role_id)  # time passes; the worker has not swept yet
    assert client.get(account_url(tenant.account, "/users")).status_code == 403
    assert api.get(f"/api/v1/accounts/{tenant.id}/users").status_code == 403


def test_the_sweep_removes_each_expired_grant_with_one_event_and_a_notice(portal):
    tenant = portal.tenant()
    group = make_group(portal, tenant.account, "Support", members=(tenant.member,))
    with portal.app.app_context():
        db.session.execute(update(GroupMember).values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    _expire(portal, user_id=tenant.auditor.id)
    with portal.app.app_context():
        assert expiry.sweep_batch() == 2
        assert expiry.sweep_batch() == 0
        events = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.action.in_(["role.expire", "group.members.expire"])))
        )
        assert sorted(e.action for e in events) == ["group.members.expire", "role.expire"]
        assert (
            db.session.scalar(
                select(func.count()).select_from(RoleAssignment).where(RoleAssignment.user_id == tenant.auditor.id)
            )
            == 0
        )
        assert (
            db.session.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group.id))
            == 0
        )
        subjects = set(db.session.scalars(select(OutboxEmail.subject)))
    assert "Your role auditor has ended" in subjects and "Your membership of Support has ended" in subjects
    log = portal.client(tenant.owner).get(account_url(tenant.account, "/audit")).get_data(as_text=True)
    assert "role.expire" in log


def test_grant_until_a_day_in_the_page_and_filter_the_list_by_it(portal):
    tenant = portal.tenant()
    client = portal.client(tenant.owner)
    auditor_role = portal.scalar(select(Role.id).where(Role.account_id == tenant.id, Role.name == "auditor"))
    day = date.today() + timedelta(days=5)
    answer = client.post(
        account_url(tenant.account, f"/users/{tenant.member.id}/roles"),
        {"role_id": str(auditor_role), "default": "y", "expires_on": day.isoformat()},
    )
    assert answer.status_code == 303
    page = client.get(account_url(tenant.account, f"/users/{tenant.member.id}")).get_data(as_text=True)
    assert f"until {day.day} {day:%b}" in page
    past = client.post(
        account_url(tenant.account, f"/users/{tenant.no_role.id}/roles"),
        {"role_id": str(auditor_role), "expires_on": "2001-01-01"},
        hx=True,
    )
    assert past.status_code == 422 and "from today on" in past.get_data(as_text=True)
    listed = client.get(account_url(tenant.account, "/users?expiring=7")).get_data(as_text=True)
    assert f"auditor (until {day.day} {day:%b})" in listed  # beside the grant in the list too
    assert tenant.member.email in listed and tenant.auditor.email not in listed
    assert tenant.member.email not in client.get(account_url(tenant.account, "/users?expiring=7&q=nobody")).get_data(
        as_text=True
    )
