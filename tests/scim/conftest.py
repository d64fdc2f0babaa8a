"""SCIM fixtures: an account with a provisioning token, and a client that speaks SCIM to it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal import db
from portal.models import Account, User
from portal.scim import tokens
from tests.helpers import Portal, actor_of

SCIM_JSON = "application/scim+json"


def make_token(app: Flask, account: Account, owner: User) -> str:
    with app.test_request_context():
        token = tokens.make_token(db.session.get(Account, account.id), actor=actor_of(owner.id))
        db.session.commit()
    return token


@dataclass
class Scim:
    """A SCIM client of one account (through the Flask test client)."""

    client: FlaskClient
    account_id: Any
    token: str

    @property
    def base(self) -> str:
        return f"/scim/v2/{self.account_id}"

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> TestResponse:
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        data = json.dumps(body) if body is not None else None
        return self.client.open(
            self.base + path, method=method, data=data, headers=sent, content_type=SCIM_JSON if data else None, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> TestResponse:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any, **kwargs: Any) -> TestResponse:
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def scim(app: Flask, portal: Portal) -> Scim:
    account, owner = portal.account("Acme", login="owner")
    return Scim(app.test_client(), account.id, make_token(app, account, owner))


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list(operations)}
