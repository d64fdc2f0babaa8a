"""What ends a user's access for good (issue 13 §4): disabling revokes their API keys."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import db
from portal.me.credentials import create_api_key
from portal.models import ApiKey, AuditEvent, User
from tests.helpers import Portal, Tenant


@pytest.fixture
def a(portal: Portal) -> Tenant:
    return portal.tenant("A")


def users_url(tenant: Tenant, rest: str = "") -> str:
    return f"/accounts/{tenant.id}/users{rest}"


def _key_for(portal: Portal, user: User, name: str = "script") -> str:
    with portal.app.app_context():
        key = create_api_key(db.session.get(User, user.id), name, None)
        db.session.commit()
        return key


def _api_status(portal: Portal, tenant: Tenant, key: str) -> int:
    response = portal.app.test_client().get(f"/api/v1/accounts/{tenant.id}/users",
                                            headers={"Authorization": f"Bearer {key}"})
    return response.status_code


@pytest.mark.parametrize("how", ["one", "bulk"])
def test_disabling_revokes_api_keys_for_good(portal: Portal, a: Tenant, how: str) -> None:
    """K1: a disabled user's keys stay dead when the user is enabled again."""
    keys = [_key_for(portal, a.user_manager, "first"), _key_for(portal, a.user_manager, "second")]
    assert [_api_status(portal, a, key) for key in keys] == [200, 200]
    admin = portal.client(a.admin)
    if how == "one":
        assert admin.post(users_url(a, f"/{a.user_manager.id}/disable")).status_code == 303
    else:
        assert admin.post(users_url(a, "/bulk"), {"action": "disable", "user_ids": [str(a.user_manager.id)]}
                          ).status_code == 200
    assert [_api_status(portal, a, key) for key in keys] == [401, 401]
    assert admin.post(users_url(a, f"/{a.user_manager.id}/enable")).status_code == 303
    assert portal.get(User, a.user_manager.id).status == "active"
    assert [_api_status(portal, a, key) for key in keys] == [401, 401]
    with portal.app.app_context():
        revoked = db.session.scalars(select(ApiKey.revoked_at).where(ApiKey.user_id == a.user_manager.id)).all()
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.disable")).one()
    assert len(revoked) == 2 and all(at is not None for at in revoked)
    assert event.target_id == str(a.user_manager.id) and event.changes["revoked_api_access"] == ["first", "second"]


def test_other_users_keys_are_untouched(portal: Portal, a: Tenant) -> None:
    theirs = _key_for(portal, a.auditor)
    assert portal.client(a.admin).post(users_url(a, f"/{a.user_manager.id}/disable")).status_code == 303
    assert _api_status(portal, a, theirs) == 200
