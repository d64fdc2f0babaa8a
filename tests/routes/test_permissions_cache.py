"""The sign-in check reads session, person, account and the session's cached permissions in one
statement (issue 20); the cache is emptied by database triggers, so no path that changes a grant,
a role or the active roles — a service, a bulk statement, raw SQL — can leave it stale (A6)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, select, update

from portal import db
from portal.auth import login_sessions
from portal.db import utcnow
from portal.models import LoginSession, Role, RoleAssignment, User
from portal.roles.queries import effective_permissions
from tests.helpers import Portal, make_role


def _cached(portal: Portal, user: User) -> list[str | None]:
    with portal.app.app_context():
        return list(db.session.scalars(select(LoginSession.permissions).where(LoginSession.user_id == user.id)))


def _run(portal: Portal, statement: Any) -> None:
    with portal.app.app_context():
        db.session.execute(statement)
        db.session.commit()


def test_a_signed_in_page_caches_the_permissions_and_then_checks_sign_in_with_one_statement(portal: Portal) -> None:
    tenant = portal.tenant()
    client = portal.client(tenant.user_manager)
    assert client.get("/me/roles").status_code == 200
    with portal.app.app_context():
        user = db.session.get(User, tenant.user_manager.id)
        assert user is not None
        held = effective_permissions(
            user, db.session.scalar(select(LoginSession).where(LoginSession.user_id == user.id))
        )
    assert _cached(portal, tenant.user_manager) == [",".join(sorted(p.value for p in held))]
    sent: list[str] = []
    engine = portal.app.extensions["portal.engine"]

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get("/me/roles").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    sign_in = [s for s in sent if "login_sessions" in s]
    assert len(sign_in) == 1 and "users" in sign_in[0] and "accounts" in sign_in[0] and "jobs" in sign_in[0]
    assert not any("FROM jobs" in s for s in sent if s not in sign_in)  # no finished job: no notice query


@pytest.mark.parametrize("change", ["revoke", "edit", "delete role", "deactivate", "expire"])
def test_any_change_in_the_database_takes_effect_on_the_very_next_request(portal: Portal, change: str) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Readers", ("users:read",), holders=(tenant.member,))
    victim = portal.client(tenant.member)
    url = f"/accounts/{tenant.id}/users"
    assert victim.get(url).status_code == 200
    assert victim.get(url).status_code == 200  # served from the cache now
    assert all(c == "users:read" for c in _cached(portal, tenant.member))
    if change == "revoke":
        _run(portal, delete(RoleAssignment).where(RoleAssignment.role_id == role.id))
    elif change == "edit":
        _run(portal, update(Role).where(Role.id == role.id).values(permissions=["groups:read"]))
    elif change == "delete role":
        _run(portal, delete(Role).where(Role.id == role.id))
    elif change == "deactivate":
        _run(portal, update(LoginSession).where(LoginSession.user_id == tenant.member.id).values(active_role_ids=[]))
    else:
        _run(
            portal,
            update(RoleAssignment)
            .where(RoleAssignment.role_id == role.id)
            .values(expires_at=utcnow() - timedelta(seconds=1)),
        )
    assert _cached(portal, tenant.member) == [None]
    assert victim.get(url).status_code == 403
    assert victim.get(url).status_code == 403


def test_a_grant_counts_on_the_next_request_too(portal: Portal) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Readers", ("users:read",))
    victim = portal.client(tenant.member)
    url = f"/accounts/{tenant.id}/users"
    assert victim.get(url).status_code == 403
    _run(
        portal,
        update(Role).where(Role.name == "member", Role.account_id == tenant.id).values(permissions=["users:read"]),
    )
    assert victim.get(url).status_code == 200
    assert role.id is not None


def test_a_grant_that_expires_with_no_write_stops_counting_at_once(portal: Portal) -> None:
    """Time alone ends a grant: the cache holds only until the first grant in force expires."""
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Readers", ("users:read",), holders=(tenant.member,))
    _run(
        portal,
        update(RoleAssignment)
        .where(RoleAssignment.role_id == role.id)
        .values(expires_at=utcnow() + timedelta(seconds=1.5)),
    )
    victim = portal.client(tenant.member)
    url = f"/accounts/{tenant.id}/users"
    assert victim.get(url).status_code == 200
    assert _cached(portal, tenant.member) == ["users:read"]
    time.sleep(1.6)
    assert victim.get(url).status_code == 403


def test_a_computation_that_raced_with_a_change_is_never_written_back(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = portal.tenant()
    role = make_role(portal, tenant.account, "Readers", ("users:read",), holders=(tenant.member,))
    victim = portal.client(tenant.member)
    url = f"/accounts/{tenant.id}/users"
    real = login_sessions.permissions_until

    def computed_then_revoked(*args: Any) -> Any:
        result = real(*args)  # read the grants before the revoke commits…
        with portal.app.extensions["portal.engine"].begin() as other:  # …which another request commits now
            other.execute(delete(RoleAssignment).where(RoleAssignment.role_id == role.id))
        return result

    monkeypatch.setattr(login_sessions, "permissions_until", computed_then_revoked)
    assert victim.get(url).status_code == 200  # this request began before the revoke
    monkeypatch.setattr(login_sessions, "permissions_until", real)
    assert _cached(portal, tenant.member) == [None]  # the stale set was not cached
    assert victim.get(url).status_code == 403


def test_the_sign_in_statement_renders_no_parameter_again_on_each_request() -> None:
    """An expanding parameter (`IN (…)` of a list) is rendered into the SQL on every execution: the sign-in
    check runs on every request, so its statement has none (issue 20)."""
    compiled = login_sessions._SIGNED_IN.compile()
    assert not compiled.post_compile_params and not compiled.literal_execute_params


@pytest.mark.parametrize(("state", "told"), [("queued", False), ("running", False), ("done", True), ("failed", True)])
def test_the_sign_in_check_tells_of_a_finished_job(portal: Portal, state: str, told: bool) -> None:
    from portal.models import Job

    account, owner = portal.account()
    client = portal.client(owner)
    with portal.app.app_context():
        db.session.add(Job(account_id=account.id, kind="bulk_users", title="T", started_by_id=owner.id, state=state))
        db.session.commit()
        (token,) = db.session.scalars(select(LoginSession.token_hash)).all()
    with portal.app.app_context():
        row = db.session.execute(login_sessions._SIGNED_IN, {"token_hash": token}).one()
    assert bool(row[3]) is told
    page = client.get("/me").get_data(as_text=True)
    assert ("its report is on the Jobs page" in page) is told
