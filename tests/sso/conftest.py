"""A local OpenID provider on loopback (oidc-provider-mock) and helpers to sign in through it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask

from portal import db
from portal.models import Account, SsoConnection
from portal.sso import oidc
from portal.sso import services as sso
from tests.helpers import Client

CLIENT_ID = "portal-test-client"
CLIENT_SECRET = "portal-test-secret"


@dataclass
class Provider:
    issuer: str

    def set_user(self, sub: str, **claims: Any) -> None:
        """Create or change a user at the provider (an email change there, say)."""
        response = requests.put(f"{self.issuer}/users/{sub}", json=claims, timeout=5)
        assert response.status_code == 204, response.text


@pytest.fixture
def provider() -> Iterator[Provider]:
    from tests.sso.mock_provider import running_provider

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    oidc.clear_cache()
    with running_provider() as (issuer, _server):
        yield Provider(issuer)
    oidc.clear_cache()


def connect(app: Flask, account: Account, issuer: str, *, active: bool = True, **fields: Any) -> None:
    """Give the account an SSO connection to the provider (tested and active unless told otherwise)."""
    with app.test_request_context():
        connection = SsoConnection(
            account_id=account.id,
            display_name="Mock IdP",
            discovery_url=issuer,
            client_id=fields.pop("client_id", CLIENT_ID),
            client_secret_sealed=sso.seal(CLIENT_SECRET),
            settings_version=1,
            tested_version=1 if active else None,
            active=active,
            **fields,
        )
        db.session.add(connection)
        db.session.commit()


def authorize_url(client: Client, sign_in_name: str) -> str:
    """Press "Continue with …": the provider's authorization URL the portal redirects to."""
    response = client.post(f"/a/{sign_in_name}/sso")
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    return response.headers["Location"]


def at_provider(url: str, sub: str | None = None, deny: bool = False) -> str:
    """The person at the provider: signs in as `sub` (or declines); returns the portal callback's path+query."""
    data = {"action": "deny"} if deny else {"sub": sub}
    response = requests.post(url, data=data, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text[:500]
    parts = urlsplit(response.headers["Location"])
    return f"{parts.path}?{parts.query}"


def sso_sign_in(client: Client, sign_in_name: str, sub: str) -> Any:
    """The whole flow; returns the portal's answer to the callback."""
    return client.raw.get(at_provider(authorize_url(client, sign_in_name), sub))


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
