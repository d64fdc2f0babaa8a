"""Helpers for the JSON API's tests: keys with scopes, and a client that sends them."""

from __future__ import annotations

import json as jsonlib
import re
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs
from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from portal import actors, db
from portal.me.credentials import create_api_key
from portal.models import AuditEvent, User
from portal.permissions import Permission
from tests.helpers import Portal


def key_for(portal: Portal, user: User, scopes: tuple[str, ...] | None = None, name: str = "test") -> str:
    """A new API key of the user (scopes: default all they hold)."""
    with portal.app.app_context():
        chosen = frozenset(Permission(s) for s in scopes) if scopes is not None else None
        maker = db.session.get(User, user.id)
        key = create_api_key(maker, name, None, chosen, actor=actors.person(maker))
        db.session.commit()
        return key


_DOCUMENTS: dict[int, dict[str, Any]] = {}


def _document(app: Flask) -> dict[str, Any]:
    if id(app) not in _DOCUMENTS:
        _DOCUMENTS[id(app)] = app.test_client().get("/api/v1/openapi.json").get_json()
    return _DOCUMENTS[id(app)]


def assert_documented(app: Flask, method: str, url: str, response: TestResponse) -> None:
    """The answer is one the OpenAPI document promises: its status is listed for the operation, and its body
    matches the schema listed for that status (every contract test checks the document this way)."""
    document = _document(app)
    path = urlsplit(url).path
    for template, item in document["paths"].items():
        pattern = "^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            operation = item[method.lower()]
            break
    else:
        return  # not an operation of the API (an unknown path, another method): 404 or 405, checked by tests
    responses = operation["responses"]
    assert str(response.status_code) in responses, (method, template, response.status_code, responses.keys())
    schema = responses[str(response.status_code)].get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        assert not response.get_data(), (method, template, response.status_code)
        return
    validator = jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})
    errors = [str(error) for error in validator.iter_errors(response.get_json())]
    assert not errors, (method, template, response.status_code, errors[:3])


class Api:
    """A test client that sends an API key and JSON: api.get(url), api.post(url, json=…), … Every answer is
    checked against the OpenAPI document (assert_documented)."""

    def __init__(self, app: Flask, key: str | None) -> None:
        self.raw = app.test_client()
        self.key = key

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**headers, **(extra or {})}

    def open(
        self,
        method: str,
        url: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
        **kwargs: Any,
    ) -> TestResponse:
        if json is not None:
            data, headers = jsonlib.dumps(json), {"Content-Type": "application/json", **(headers or {})}
        response = self.raw.open(url, method=method, headers=self.headers(headers), data=data, **kwargs)
        assert_documented(self.raw.application, method, url, response)
        return response

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.open("GET", url, **kwargs)

    def post(self, url: str, json: Any = None, **kwargs: Any) -> TestResponse:
        return self.open("POST", url, json=json, **kwargs)

    def patch(self, url: str, json: Any = None, **kwargs: Any) -> TestResponse:
        return self.open("PATCH", url, json=json, **kwargs)

    def put(self, url: str, json: Any = None, **kwargs: Any) -> TestResponse:
        return self.open("PUT", url, json=json, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> TestResponse:
        return self.open("DELETE", url, **kwargs)


def api_for(portal: Portal, user: User, scopes: tuple[str, ...] | None = None, name: str = "test") -> Api:
    """A client holding a new key of the user."""
    return Api(portal.app, key_for(portal, user, scopes, name))


def codes(response: TestResponse) -> list[tuple[str, str | None]]:
    """The (code, field) of each error in an error answer."""
    return [(e["code"], e.get("field")) for e in response.get_json()["errors"]]


def audit_events(portal: Portal, action: str | None = None) -> list[AuditEvent]:
    """The audit events (of one action; the tests' own key creations aside), oldest first, read fresh."""
    with portal.app.app_context():
        statement = select(AuditEvent).where(AuditEvent.action != "me.api_key_create").order_by(AuditEvent.created_at)
        if action:
            statement = statement.where(AuditEvent.action == action)
        return list(db.session.scalars(statement))
