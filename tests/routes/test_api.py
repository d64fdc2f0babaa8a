"""The JSON API's frame: keys in a header only (SECURITY K1), scopes, the tenant guard (A3), JSON errors everywhere
under /api/, correlation ids, rate limits, ETags and idempotency keys (API.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from portal import db
from portal.db import utcnow
from portal.models import ApiKey, AuditEvent, Group, IdempotencyKey
from tests.api_client import Api, api_for, codes, key_for
from tests.helpers import Portal, Tenant, make_role


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_key_in_the_query_string_a_cookie_or_a_bad_header_is_401(portal: Portal, a: Tenant) -> None:
    key = key_for(portal, a.admin)
    url = f"/api/v1/accounts/{a.id}/users"
    client = portal.app.test_client()
    for response in (
        client.get(f"{url}?api_key={key}"),
        client.get(f"{url}?api_key={key}", headers=bearer(key)),
        portal.client(a.admin).get(url),
        client.get(url, headers=bearer("ap_not-a-real-key")),
        client.get(url, headers={"Authorization": f"Basic {key}"}),
        client.get(url),
    ):
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
        assert codes(response) == [("Unauthorized", None)]


def test_other_tenants_do_not_exist(portal: Portal, a: Tenant, b: Tenant) -> None:
    api = api_for(portal, a.admin)
    assert api.get(f"/api/v1/accounts/{b.id}/users").status_code == 404
    assert api.get(f"/api/v1/accounts/{b.id}/permissions").status_code == 404
    assert api.get(f"/api/v1/accounts/{a.id}/users/{b.member.id}").status_code == 404


def test_a_key_acts_with_its_scopes_within_its_owners_default_roles(portal: Portal, a: Tenant) -> None:
    url = f"/api/v1/accounts/{a.id}/users"
    assert api_for(portal, a.member).get(url).status_code == 403  # the owner holds no users:read
    scoped = api_for(portal, a.admin, scopes=("groups:read",))
    response = scoped.get(url)
    assert response.status_code == 403 and "users:read" in response.get_json()["errors"][0]["message"]
    assert scoped.get(f"/api/v1/accounts/{a.id}/groups").status_code == 200
    # A role that is not default counts for nothing: keys act with what the owner holds at sign-in.
    helper = make_role(portal, a.account, "Reader", ("users:read",), holders=(a.member,), default=False)
    assert api_for(portal, a.member).get(url).status_code == 403
    with portal.app.app_context():
        db.session.execute(update(ApiKey).values(scopes=["users:read"]))  # and scopes never exceed the owner's
        db.session.commit()
    assert scoped.get(url).status_code == 200 and helper


def test_a_key_never_gets_more_scopes_than_its_maker_holds(portal: Portal, a: Tenant) -> None:
    from portal.errors import Invalid

    with pytest.raises(Invalid):
        key_for(portal, a.auditor, scopes=("users:write",))


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


def test_every_answer_under_api_is_json(portal: Portal, a: Tenant) -> None:
    api = api_for(portal, a.admin)
    for url in (
        "/api/v1/nothing-here",
        "/api/nothing",
        f"/api/v1/accounts/{a.id}/users/x/y/z",
        "/api/v1/accounts/not-a-uuid/users",
    ):
        response = api.get(url)
        assert response.status_code == 404 and response.mimetype == "application/json", url
        assert codes(response) == [("ResourceNotFound", None)]
    response = api.open("PATCH", f"/api/v1/accounts/{a.id}/users", json={})
    assert response.status_code == 405 and response.mimetype == "application/json"
    assert codes(response) == [("MethodNotAllowed", None)]
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_a_500_is_json_without_internals(
    app: Flask, portal: Portal, a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal.api import users

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(users, "user_models", boom)
    response = api_for(portal, a.admin).get(f"/api/v1/accounts/{a.id}/users")
    assert response.status_code == 500 and codes(response) == [("InternalError", None)]
    assert "secret" not in response.get_data(as_text=True) and "Traceback" not in response.get_data(as_text=True)


def test_the_correlation_id_is_echoed_and_kept_in_the_audit_event(portal: Portal, a: Tenant) -> None:
    api = api_for(portal, a.admin)
    response = api.post(
        f"/api/v1/accounts/{a.id}/groups", json={"name": "Ops"}, headers={"X-Correlation-Id": "job-42.step-1"}
    )
    assert response.status_code == 201 and response.headers["X-Correlation-Id"] == "job-42.step-1"
    made = api.get(f"/api/v1/accounts/{a.id}/users").headers["X-Correlation-Id"]
    assert len(made) == 32
    event = portal.scalar(select(AuditEvent).where(AuditEvent.action == "group.create"))
    assert event.correlation_id == "job-42.step-1" and event.via == "api"


def test_rate_limits_per_key_are_announced_and_enforced(
    app: Flask, portal: Portal, a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "RATELIMIT_API", "3 per minute")
    first, second = api_for(portal, a.admin), api_for(portal, a.auditor)
    url = f"/api/v1/accounts/{a.id}/users"
    answers = [first.get(url) for _ in range(3)]
    assert [r.headers["RateLimit-Remaining"] for r in answers] == ["2", "1", "0"]
    assert all(r.headers["RateLimit-Limit"] == "3" and int(r.headers["RateLimit-Reset"]) <= 60 for r in answers)
    refused = first.get(url)
    assert refused.status_code == 429 and codes(refused) == [("RateLimited", None)]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert second.get(url).status_code == 200  # per key
    anonymous = portal.app.test_client().get(url)
    assert "RateLimit-Limit" in anonymous.headers


def test_idempotency_keys_replay_the_first_answer(portal: Portal, a: Tenant) -> None:
    api = api_for(portal, a.admin)
    url = f"/api/v1/accounts/{a.id}/groups"
    first = api.post(url, json={"name": "Ops"}, headers={"Idempotency-Key": "k-1"})
    again = api.post(url, json={"name": "Ops"}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"] and "Idempotent-Replayed" not in first.headers
    assert portal.scalar(select(func.count()).select_from(Group)) == 1
    reused = api.post(url, json={"name": "Other"}, headers={"Idempotency-Key": "k-1"})
    assert reused.status_code == 422 and codes(reused) == [("IdempotencyKeyReused", "Idempotency-Key")]
    # Keys are per API key: another key's k-1 is a new request.
    other = api_for(portal, a.admin, name="second")
    assert other.post(url, json={"name": "Second"}, headers={"Idempotency-Key": "k-1"}).status_code == 201
    # A refused request keeps no key: fixing it and sending it again works.
    bad = api.post(url, json={"name": ""}, headers={"Idempotency-Key": "k-2"})
    assert bad.status_code == 422
    assert api.post(url, json={"name": "Fixed"}, headers={"Idempotency-Key": "k-2"}).status_code == 201
    assert portal.scalar(select(func.count()).select_from(Group)) == 3


def test_idempotency_keys_expire_after_a_day_and_are_cleaned_up(portal: Portal, a: Tenant) -> None:
    api = api_for(portal, a.admin)
    url = f"/api/v1/accounts/{a.id}/groups"
    assert api.post(url, json={"name": "Ops"}, headers={"Idempotency-Key": "old"}).status_code == 201
    with portal.app.app_context():
        db.session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
        db.session.commit()
    response = api.post(url, json={"name": "Ops 2"}, headers={"Idempotency-Key": "new"})
    assert response.status_code == 201
    assert portal.scalar(select(func.count()).select_from(IdempotencyKey)) == 1  # the old one is gone
    # Past the window, the old key is a new request.
    assert api.post(url, json={"name": "Ops 3"}, headers={"Idempotency-Key": "new-2"}).status_code == 201


def test_me_tells_the_key_and_its_owner(portal: Portal, a: Tenant) -> None:
    api = api_for(portal, a.auditor, scopes=("users:read",), name="reporting")
    data = api.get("/api/v1/me").get_json()
    assert data["user"]["login"] == "auditor-a" and data["key"]["name"] == "reporting"
    assert data["key"]["scopes"] == ["users:read"] and data["key"]["expires_at"] is None


def test_permissions_list_the_catalogue(portal: Portal, a: Tenant) -> None:
    data = api_for(portal, a.member).get(f"/api/v1/accounts/{a.id}/permissions").get_json()
    assert [p["name"] for p in data][:2] == ["users:read", "users:write"] and len(data) == 12
    assert all(p["description"] for p in data)


def test_a_bare_api_client_is_usable(app: Flask) -> None:
    assert Api(app, None).get("/api/v1/me").status_code == 401


def test_last_used_is_written_at_most_once_a_minute(portal: Portal, a: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key's last use is bookkeeping: a burst of reads writes it once (the same rule as SCIM's tokens), so a
    GET stays a read and the workers do not queue on one row's write."""
    from portal.me import credentials

    start = utcnow().replace(microsecond=0)
    monkeypatch.setattr(credentials, "utcnow", lambda: start)
    api = api_for(portal, a.admin)
    url = f"/api/v1/accounts/{a.id}/users"
    assert api.get(url).status_code == 200
    assert portal.scalar(select(ApiKey.last_used_at)) == start
    monkeypatch.setattr(credentials, "utcnow", lambda: start + timedelta(seconds=30))
    with portal.count_statements() as burst:
        assert api.get(url).status_code == 200
    assert portal.scalar(select(ApiKey.last_used_at)) == start
    monkeypatch.setattr(credentials, "utcnow", lambda: start + timedelta(minutes=2))
    with portal.count_statements() as due:
        assert api.get(url).status_code == 200
    assert portal.scalar(select(ApiKey.last_used_at)) == start + timedelta(minutes=2)
    assert due.count == burst.count + 1
