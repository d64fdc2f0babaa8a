"""The JSON API: API keys in a header only, never cookies (SECURITY K1), tenant-scoped (A3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from portal import db
from portal.db import utcnow
from portal.me.credentials import create_api_key
from portal.models import ApiKey, User
from tests.helpers import Portal, Tenant


@pytest.fixture
def a(portal: Portal) -> Tenant:
    return portal.tenant("A")


@pytest.fixture
def b(portal: Portal) -> Tenant:
    return portal.tenant("B")


def key_for(portal: Portal, user: User) -> str:
    with portal.app.app_context():
        key = create_api_key(db.session.get(User, user.id), "test", None)
        db.session.commit()
        return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_list_users_with_a_key(portal: Portal, a: Tenant) -> None:
    key = key_for(portal, a.admin)
    response = portal.app.test_client().get(f"/api/v1/accounts/{a.id}/users?take=3", headers=bearer(key))
    assert response.status_code == 200
    data = response.get_json()
    assert data["owner"]["login"] == "owner-a"
    assert len(data["users"]) == 3 and data["rowCount"] == 6 and data["pageCount"] == 2 and data["pageSize"] == 3
    assert all(u["login"] != "owner-a" for u in data["users"])
    one = portal.app.test_client().get(f"/api/v1/accounts/{a.id}/users?email=member-a", headers=bearer(key))
    assert [u["email"] for u in one.get_json()["users"]] == ["member-a@example.com"]


def test_get_one_user_with_roles_and_groups(portal: Portal, a: Tenant) -> None:
    key = key_for(portal, a.admin)
    response = portal.app.test_client().get(f"/api/v1/accounts/{a.id}/users/{a.auditor.id}", headers=bearer(key))
    data = response.get_json()
    assert response.status_code == 200
    assert data["roles"] == ["auditor"] and data["default_roles"] == ["auditor"] and data["group_memberships"] == []


def test_key_in_the_query_string_or_a_cookie_is_refused(portal: Portal, a: Tenant) -> None:
    key = key_for(portal, a.admin)
    url = f"/api/v1/accounts/{a.id}/users"
    assert portal.app.test_client().get(f"{url}?api_key={key}").status_code == 401
    assert portal.app.test_client().get(f"{url}?api_key={key}", headers=bearer(key)).status_code == 401
    signed_in = portal.client(a.admin)  # a session cookie is not a key
    response = signed_in.get(url)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert portal.app.test_client().get(url, headers=bearer("ap_not-a-real-key")).status_code == 401


def test_other_tenants_do_not_exist(portal: Portal, a: Tenant, b: Tenant) -> None:
    key = key_for(portal, a.admin)
    client = portal.app.test_client()
    assert client.get(f"/api/v1/accounts/{b.id}/users", headers=bearer(key)).status_code == 404
    assert client.get(f"/api/v1/accounts/{a.id}/users/{b.member.id}", headers=bearer(key)).status_code == 404


def test_a_key_acts_with_its_owners_permissions(portal: Portal, a: Tenant) -> None:
    key = key_for(portal, a.member)
    response = portal.app.test_client().get(f"/api/v1/accounts/{a.id}/users", headers=bearer(key))
    assert response.status_code == 403 and "users:read" in response.get_json()["errors"][0]["message"]


def test_revoked_expired_and_disabled_keys_stop_working(portal: Portal, a: Tenant) -> None:
    url = f"/api/v1/accounts/{a.id}/users"
    client = portal.app.test_client()
    key = key_for(portal, a.admin)
    assert client.get(url, headers=bearer(key)).status_code == 200
    with portal.app.app_context():
        db.session.execute(update(ApiKey).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert client.get(url, headers=bearer(key)).status_code == 401
    other = key_for(portal, a.user_manager)
    assert client.get(url, headers=bearer(other)).status_code == 200
    portal.client(a.admin).post(f"/accounts/{a.id}/users/{a.user_manager.id}/disable")
    assert client.get(url, headers=bearer(other)).status_code == 401
