"""The OpenAPI 3.1 document (/api/v1/openapi.json) and the readable reference (/api/docs), both from one source.

spectree builds the document from the routes declared with @operation and their pydantic models (the
models that read requests and write answers); this module adds what every operation shares (the
Idempotency-Key, If-Match and X-Correlation-Id headers, the answers' headers) and renders the same document
as a page in the portal's layout: every operation with its parameters, body fields and an example, no
JavaScript, nothing from a CDN.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue

from portal.api.core import spec
from portal.permissions import public
from portal.rendering import render

bp = Blueprint("api_docs", __name__, url_prefix="/api")

HEADER_PARAMETERS = {
    "X-Correlation-Id": (
        "Your id for the request (letters, digits, `._:-`, up to 64); echoed back, and kept in "
        "the log and the audit events. One is made when absent.",
        None,
    ),
    "Idempotency-Key": (
        "On POST: the same key and body within 24 hours replay the first answer (with "
        "Idempotent-Replayed: true) and change nothing; the same key with another body is 422.",
        {"POST"},
    ),
    "If-Match": (
        "The ETag of the version you read: the write is refused (412) when the resource changed since.",
        {"PATCH", "PUT", "DELETE"},
    ),
}
ANSWER_HEADERS = {
    "X-Correlation-Id": "The request's correlation id.",
    "RateLimit-Limit": "Requests allowed per window for this key.",
    "RateLimit-Remaining": "Requests left in the window.",
    "RateLimit-Reset": "Seconds until the window frees up.",
}
OPTIONAL_BODIES = {"reset_mfa"}  # operations whose body may be left out


def _with_shared_parts(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    schemas = document.get("components", {}).get("schemas", {})
    for name in [n for n in schemas if n.split(".")[0] == "ValidationError"]:  # spectree's own, never answered
        del schemas[name]
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            parameters = operation.setdefault("parameters", [])
            for name, (description, methods) in HEADER_PARAMETERS.items():
                if methods is None or method.upper() in methods:
                    parameters.append(
                        {
                            "name": name,
                            "in": "header",
                            "required": False,
                            "description": description,
                            "schema": {"type": "string", "maxLength": 255},
                        }
                    )
            for parameter in parameters:
                if parameter.get("in") == "path" and parameter["name"] == "user":
                    parameter["description"] = "The user's id or login (seed 001)."
            if operation.get("operationId") in OPTIONAL_BODIES and "requestBody" in operation:
                operation["requestBody"]["required"] = False
            for status, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                for name, description in ANSWER_HEADERS.items():
                    headers[name] = {"description": description, "schema": {"type": "string"}}
                if status == "401":
                    headers["WWW-Authenticate"] = {"description": "Bearer", "schema": {"type": "string"}}
                if status == "429":
                    headers["Retry-After"] = {"description": "Seconds to wait.", "schema": {"type": "string"}}
                if status in {"200", "201"} and "ETag" in _single(operation):
                    headers["ETag"] = {
                        "description": "The resource's version, for If-Match.",
                        "schema": {"type": "string"},
                    }
    return document


def _single(operation: dict[str, Any]) -> set[str]:
    """{"ETag"} when the operation answers one versioned resource (a User, Role, Group or Invitation)."""
    for response in operation.get("responses", {}).values():
        ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
        if ref.rsplit("/", 1)[-1] in {"User", "Role", "Group", "Invitation"}:
            return {"ETag"}
    return set()


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the JSON API (built once per app)."""
    cached: dict[str, Any] | None = current_app.extensions.get("portal.openapi")
    if cached is None:
        cached = _with_shared_parts(spec.spec)
        current_app.extensions["portal.openapi"] = cached
    return cached


@bp.get("/v1/openapi.json")
@public
def openapi() -> ResponseReturnValue:
    """The OpenAPI document (public: it says what exists, not what anyone holds)."""
    response: Response = jsonify(document())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# --- the reference page ---------------------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return _resolve(components.get(ref.rsplit("/", 1)[-1], {}), components)
    return schema


def example(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """An example value for a schema: its own example, else one made from its type."""
    schema = _resolve(schema, components)
    if "examples" in schema and schema["examples"]:
        return schema["examples"][0]
    if "default" in schema and schema["default"] not in (None, "", []):
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, components).get("type") != "null"]
            return example(options[0], components, depth) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if depth > 4:
        return None
    if kind == "object" or "properties" in schema:
        return {name: example(sub, components, depth + 1) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        item = example(schema.get("items", {}), components, depth + 1)
        return [item] if item is not None else []
    if kind == "integer":
        return 0
    if kind == "boolean":
        return True
    if kind == "string":
        return {
            "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "date-time": "2026-12-01T09:30:00Z",
            "email": "ada@example.com",
            "date": "2026-12-01",
        }.get(schema.get("format", ""), "string")
    return None


def _fields(schema: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields of an object schema (or of the items of an array), for the page's tables."""
    schema = _resolve(schema, components)
    if schema.get("type") == "array":
        schema = _resolve(schema.get("items", {}), components)
    required = set(schema.get("required", []))
    fields = []
    for name, sub in schema.get("properties", {}).items():
        resolved = _resolve(sub, components)
        options = [_resolve(option, components) for option in sub.get("anyOf", [])]
        description = resolved.get("description") or next(
            (o["description"] for o in options if o.get("description")), ""
        )
        fields.append(
            {
                "name": name,
                "type": _type_name(sub, components),
                "required": name in required,
                "description": description,
            }
        )
    return fields


def _type_name(schema: dict[str, Any], components: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if ref:
        return str(ref).rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_type_name(s, components) for s in schema[key])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if schema.get("type") == "array":
        return f"[{_type_name(schema.get('items', {}), components)}]"
    return str(schema.get("format") or schema.get("type", "any"))


def reference() -> list[dict[str, Any]]:
    """Every operation of the document, in path order, with what the page shows of it."""
    doc = document()
    components = doc.get("components", {}).get("schemas", {})
    operations = []
    for path, item in sorted(doc["paths"].items()):
        for method, op in item.items():
            content_types = op.get("requestBody", {}).get("content", {})
            multipart = "multipart/form-data" in content_types
            body = (content_types.get("application/json") or content_types.get("multipart/form-data") or {}).get(
                "schema"
            )
            answers = []
            for status, response in sorted(op.get("responses", {}).items()):
                content = response.get("content", {}).get("application/json", {}).get("schema")
                success = status.startswith("2")
                answers.append(
                    {
                        "status": status,
                        "description": response.get("description", ""),
                        "type": _type_name(content, components) if content else "",
                        "example": json.dumps(example(content, components), indent=2) if content and success else None,
                    }
                )
            operations.append(
                {
                    "id": op.get("operationId", f"{method}-{path}"),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tag": (op.get("tags") or ["other"])[0],
                    "parameters": [p for p in op.get("parameters", []) if p["in"] != "header"],
                    "body_fields": _fields(body, components) if body else [],
                    "body_example": json.dumps(example(body, components), indent=2) if body and not multipart else None,
                    "body_type": "multipart/form-data" if multipart else "application/json",
                    "answers": answers,
                }
            )
    return operations


@bp.get("/docs")
@public
def docs() -> ResponseReturnValue:
    """The JSON API's reference, readable without JavaScript."""
    return render("api/docs.html", operations=reference(), headers=HEADER_PARAMETERS)
