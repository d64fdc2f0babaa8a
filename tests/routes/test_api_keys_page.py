"""Scoped API keys on /me/api-keys (issue 15): the maker chooses the key's permissions, at most what they hold."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.models import ApiKey
from tests.api_client import Api
from tests.helpers import Portal, Tenant


def _new_key(html: str) -> str:
    return re.search(r'<code id="new_api_key">(ap_[\w-]+)</code>', html).group(1)  # type: ignore[union-attr]


def test_the_form_offers_what_the_maker_holds_ticked(portal: Portal, a: Tenant) -> None:
    html = portal.client(a.auditor).get("/me/api-keys").get_data(as_text=True)
    offered = re.findall(r'name="scopes" value="([a-z_:]+)"( checked)?', html)
    assert [value for value, _ in offered] == [
        "users:read",
        "invitations:read",
        "roles:read",
        "groups:read",
        "audit:read",
    ]
    assert all(checked for _, checked in offered)
    assert 'name="scopes" value=""' in html  # the empty value: unticking every box is an answer too


def test_a_key_gets_the_permissions_ticked_and_the_list_shows_them(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.auditor)
    response = client.post("/me/api-keys", {"name": "reports", "scopes": ["", "users:read", "audit:read"]})
    assert response.status_code == 200
    key = _new_key(response.get_data(as_text=True))
    assert sorted(portal.scalar(select(ApiKey.scopes))) == ["audit:read", "users:read"]
    listed = client.get("/me/api-keys").get_data(as_text=True)
    assert "<code>users:read</code> <code>audit:read</code>" in listed or (
        "<code>audit:read</code> <code>users:read</code>" in listed
    )
    api = Api(portal.app, key)
    assert api.get(f"/api/v1/accounts/{a.id}/users").status_code == 200
    assert api.get(f"/api/v1/accounts/{a.id}/groups").status_code == 403  # not ticked


def test_never_more_than_the_maker_holds_and_never_none(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.auditor)
    response = client.post("/me/api-keys", {"name": "sneaky", "scopes": ["", "users:read", "users:write"]})
    assert response.status_code == 422 and "users:write" in response.get_data(as_text=True)
    response = client.post("/me/api-keys", {"name": "empty", "scopes": [""]})
    assert response.status_code == 422 and "Choose at least one permission." in response.get_data(as_text=True)
    response = client.post("/me/api-keys", {"name": "bogus", "scopes": ["", "root"]})
    assert response.status_code == 422
    assert portal.scalar(select(func.count()).select_from(ApiKey)) == 0


def test_a_client_that_sends_no_scopes_gets_what_the_maker_holds(portal: Portal, a: Tenant) -> None:
    response = portal.client(a.group_manager).post("/me/api-keys", {"name": "ci"})
    assert response.status_code == 200
    assert sorted(portal.scalar(select(ApiKey.scopes))) == ["groups:read", "groups:write", "users:read"]


def test_the_key_acts_within_the_owners_current_default_roles(portal: Portal, a: Tenant) -> None:
    key = _new_key(portal.client(a.user_manager).post("/me/api-keys", {"name": "ci"}).get_data(as_text=True))
    api = Api(portal.app, key)
    url = f"/api/v1/accounts/{a.id}/users"
    assert api.get(url).status_code == 200
    # An admin takes the role away: the key loses it on its next request (SECURITY A6).
    role_id = api.get(f"/api/v1/accounts/{a.id}/roles").get_json()["roles"]
    manager_role = next(r["id"] for r in role_id if r["name"] == "user-manager")
    admin = portal.client(a.admin)
    assert admin.post(f"/accounts/{a.id}/users/{a.user_manager.id}/roles/{manager_role}/delete").status_code == 303
    assert api.get(url).status_code == 403
