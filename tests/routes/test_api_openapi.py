"""The OpenAPI document (/api/v1/openapi.json) and the reference page (/api/docs): generated, complete, honest.

- Every API route is in the document with every method, and no route exists without a schema.
- schemathesis (https://schemathesis.readthedocs.io) generates requests from the document and sends them to the
  app in-process (WSGI) with an account-admin's key: no answer is a 5xx, every answer's status is documented, and
  every answer matches its schema, content type and headers.
"""

from __future__ import annotations

import io
import re
import secrets
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from tests.api_client import key_for
from tests.helpers import Portal, Tenant, make_group, make_role
from tests.routes.test_api_authorization_matrix import api_routes

MAX_EXAMPLES = 12  # per operation: the whole run stays well under a minute on two cores


def _document(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()  # type: ignore[no-any-return]


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?(\w+)>", r"{\1}", rule)


def test_the_document_is_openapi_3_1_with_every_api_route(app: Flask) -> None:
    document = _document(app)
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from /me/api-keys.",
    }
    missing = []
    for key, rule, method in api_routes(app):
        operation = document["paths"].get(_openapi_path(rule.rule), {}).get(method.lower())
        if operation is None:
            missing.append(key)
            continue
        view = app.view_functions[rule.endpoint]
        assert set(operation["responses"]) == {str(s) for s in view._api_statuses}, key
    assert not missing, "API routes without a schema in the OpenAPI document: " + ", ".join(missing)
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert len(documented) == len(api_routes(app))


def test_the_import_documents_its_multipart_body(app: Flask) -> None:
    """POST /imports takes a file: its body is multipart/form-data with `file` (binary) and the options."""
    operation = _document(app)["paths"]["/api/v1/accounts/{account_id}/imports"]["post"]
    assert list(operation["requestBody"]["content"]) == ["multipart/form-data"]
    ref = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    body = _document(app)["components"]["schemas"][ref]
    assert body["required"] == ["file"] and body["properties"]["file"]["format"] == "binary"
    assert body["properties"]["dry_run"]["default"] is True and "send_invitations" in body["properties"]
    assert "415" in operation["responses"] or "422" in operation["responses"]


def test_a_route_without_a_schema_fails(app: Flask) -> None:
    """The check above is real: an API view that skips @operation is not in the document."""
    from portal.api.core import spec

    bare = [
        key for key, rule, _ in api_routes(app) if spec.get_function_metadata(app.view_functions[rule.endpoint]) is None
    ]
    assert bare == []


def test_the_document_validates_requests_as_the_code_does(app: Flask) -> None:
    """The body schemas are the pydantic models the views read with: same required fields, same limits."""
    from portal.api import schemas
    from portal.field_rules import PROFILE_LIMITS

    component = _document(app)["components"]["schemas"]["UserCreate"]
    model = schemas.UserCreate.model_json_schema()
    assert component["required"] == model["required"] == ["email"]
    assert component["additionalProperties"] is False
    assert component["properties"]["city"]["maxLength"] == PROFILE_LIMITS["city"]
    assert component["properties"].keys() == model["properties"].keys()


def test_the_reference_page_lists_every_operation_without_javascript(app: Flask, portal: Portal) -> None:
    response = portal.app.test_client().get("/api/docs")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'href="/static/vendor/pico-2.1.1.min.css"' in html
    assert "cdn" not in html.lower() and "<script" not in html.replace("<script nonce", "")
    for key, rule, method in api_routes(app):
        assert f"<code>{method} {_openapi_path(rule.rule)}</code>" in html, key
    assert "Example body" in html and "&#34;email&#34;" in html and "If-Match" in html


@pytest.fixture
def world(portal: Portal) -> dict[str, Any]:
    tenant: Tenant = portal.tenant("A")
    portal.tenant("B")
    return {"tenant": tenant, "key": key_for(portal, tenant.admin)}


def _fresh_rows(portal: Portal, tenant: Tenant, key: str) -> dict[str, str]:
    """Real ids for the path: a new user in a new group, a new role held by them, a new invitation (each operation
    gets its own, so that one operation's DELETE leaves the next one something to act on)."""
    tag = secrets.token_hex(4)
    user = portal.user(tenant.account, f"s-{tag}", roles=())
    group = make_group(portal, tenant.account, f"Group {tag}", members=(user,))
    role = make_role(portal, tenant.account, f"Role {tag}", ("users:read",), holders=(user,))
    invited = (
        portal.app.test_client()
        .post(
            f"/api/v1/accounts/{tenant.id}/invitations",
            json={"email": f"i-{tag}@example.com"},
            headers={"Authorization": f"Bearer {key}"},
        )
        .get_json()
    )
    job = (
        portal.app.test_client()
        .post(
            f"/api/v1/accounts/{tenant.id}/imports",
            data={"file": (io.BytesIO(b"email\nx@example.com\n"), "a.csv")},
            headers={"Authorization": f"Bearer {key}"},
            content_type="multipart/form-data",
        )
        .get_json()
    )
    return {
        "account_id": str(tenant.id),
        "user": str(user.id),
        "group_id": str(group.id),
        "role_id": str(role.id),
        "member_id": str(user.id),
        "invitation_id": invited["id"],
        "job_id": job["id"],
    }


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    app: Flask, portal: Portal, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "RATELIMIT_API", "100000 per minute")
    schema = schemathesis.openapi.from_dict(_document(app))
    tenant: Tenant = world["tenant"]
    headers = {"Authorization": f"Bearer {world['key']}"}
    wanted = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
        checks.response_headers_conformance,
    ]
    ran: list[str] = []
    failures: list[str] = []
    statuses: dict[str, set[int]] = {}

    def fuzz(operation: Any, real: dict[str, str]) -> None:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            for name in case.path_parameters or {}:
                # Mostly real ids of the account (so that the operation runs), sometimes the generated ones.
                if name == "account_id" or len(ran) % 4:
                    case.path_parameters[name] = real[name]
            ran.append(operation.label)
            body = case.body if not isinstance(case.body, schemathesis.core.NotSet) else None
            sent: dict[str, Any] = {"json": body}
            if case.media_type == "multipart/form-data" and isinstance(body, dict):  # the import's file and fields
                sent = {
                    "data": {
                        name: (io.BytesIO(value if isinstance(value, bytes) else str(value).encode()), "f.csv")
                        if name == "file"
                        else str(value).lower()
                        for name, value in body.items()
                    },
                    "content_type": "multipart/form-data",
                }
            response = portal.app.test_client().open(
                case.formatted_path,
                method=case.method,
                headers={**(case.headers or {}), **headers},
                query_string=case.query,
                **sent,
            )
            statuses.setdefault(operation.label, set()).add(response.status_code)
            try:
                case.validate_response(response, checks=wanted)
            except Exception as error:  # noqa: BLE001 - collected, reported together
                failures.append(f"{operation.label} {response.status_code}: {str(error)[:300]}")

        run()

    for result in schema.get_all_operations():
        fuzz(result.ok(), _fresh_rows(portal, tenant, world["key"]))
    print(f"schemathesis: {len(ran)} cases over {len({*ran})} operations")  # noqa: T201 - the report quotes it
    assert not failures, "\n".join(dict.fromkeys(failures))
    assert len({*ran}) == len(api_routes(app))
    # The real ids made the operations run: nearly all of them succeeded at least once (random passwords rarely
    # pass the policy, random addresses are rarely new twice: those are covered by the contract tests).
    never = [label for label, seen in statuses.items() if not any(s < 300 for s in seen)]
    assert len(never) <= 6, never
