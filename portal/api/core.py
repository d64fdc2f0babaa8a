"""The JSON API's blueprint and the one decorator every operation wears (@operation).

@operation declares the permissions (portal.access checks them before the view, with the key: see
portal.api.auth), documents the operation in the OpenAPI document (spectree, from the same pydantic
models), reads the query string and the body with those models (400 MalformedJson, 415, 422 per field),
handles Idempotency-Key on POST, and commits once when the answer is a success. Views only load, call
one service and answer with answer().
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, g, request, url_for
from pydantic import BaseModel, RootModel, ValidationError
from spectree import Response as Responses
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType

from portal import db
from portal.api import idempotency
from portal.api.errors import ApiError, from_validation
from portal.api.schemas import Error, Paging
from portal.extensions import csrf
from portal.pagination import Page
from portal.permissions import Permission, require_api_key
from portal.versioning import Versioned, ensure_version

ApiView = Callable[..., Response]
M = TypeVar("M", bound=BaseModel)

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # session cookies count for nothing here, so there is nothing to forge

spec = SpecTree(
    "flask",
    title="Account Portal JSON API",
    version="1",
    description="Everything an account admin does in the portal's pages, for programs (see /api/docs).",
    mode="strict",  # only the operations declared with @operation
    annotations=False,  # @operation passes the parsed query and body itself
    path="api/v1/_spectree",  # never served: /api/v1/openapi.json serves the document (portal.api.docs)
    naming_strategy=lambda model: model.__name__,
    security_schemes=[
        SecurityScheme(
            name="bearer",
            data=SecuritySchemeData(type=SecureType.HTTP, scheme="bearer", description="An API key from /me/api-keys."),
        )
    ],
    security={"bearer": []},
)

# The errors every operation may answer (API.md), by when they can happen (422: text with NUL in a path;
# 500: the last resort, as JSON without internals).
ALWAYS = (401, 403, 404, 422, 429, 500)
WITH_BODY = (400, 415, 422)


def operation(
    *permissions: Permission,
    answers: dict[int, type[BaseModel] | None],
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: Iterable[int] = (),
    tags: Iterable[str] = (),
    form: type[BaseModel] | None = None,
) -> Callable[[ApiView], ApiView]:
    """Declare an API operation: the key must hold `permissions`; `answers` maps each success status to its
    model (None: no body); `errors` adds statuses beyond 401/403/404/429 (and 400/415/422 with a body).
    `form` documents a multipart/form-data body, which the view reads itself (a file is no JSON value)."""
    statuses = {*ALWAYS, *errors, *(WITH_BODY if body is not None else ())}

    def decorate(view: ApiView) -> ApiView:
        codes: dict[str, Any] = {f"HTTP_{status}": model for status, model in answers.items()}
        codes.update({f"HTTP_{status}": Error for status in sorted(statuses)})
        documented = spec.validate(
            query=query,
            json=body,
            form=form,
            resp=Responses(**codes),
            tags=list(tags),
            operation_id=view.__name__,
            skip_validation=True,
        )(view)

        @wraps(documented)
        def run(**path: Any) -> Response:
            _refuse_nul(path.values())
            kwargs: dict[str, Any] = dict(path)
            raw: object = None
            if query is not None:
                kwargs["query"] = read(query, request.args.to_dict(), location="query")
            if body is not None:
                raw = _json_body(body)
                kwargs["body"] = read(body, raw)
            reserved = idempotency.begin(g.api_key, raw) if request.method == "POST" else None
            if isinstance(reserved, Response):
                return reserved
            response: Response = view(**kwargs)  # spectree's wrapper only documents (run.__wrapped__)
            if response.status_code < 400:
                if reserved is not None:
                    idempotency.finish(reserved, response)
                db.session.commit()  # the request's one commit
            return response

        run._api_statuses = frozenset({*answers, *statuses})  # type: ignore[attr-defined]
        return require_api_key(*permissions)(run)

    return decorate


def _json_body(model: type[BaseModel]) -> object:
    """The body as JSON: 415 when it is not JSON, 400 when it does not parse; no body reads as {} (or [])."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return [] if issubclass(model, RootModel) else {}
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise ApiError.one(415, "Send the body as JSON, with Content-Type: application/json.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError.one(400, "The body is not valid JSON.") from None


def _refuse_nul(values: Iterable[object], where: str | None = None) -> None:
    """Text with NUL or unpaired surrogates is no one's name or address (and PostgreSQL cannot store it)."""
    for value in values:
        if isinstance(value, dict):
            _refuse_nul(value.keys(), where)
            _refuse_nul(value.values(), where)
        elif isinstance(value, list):
            _refuse_nul(value, where)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ApiError.one(422, "Text must be valid Unicode.", code="InvalidArgument", field=where) from None
            if "\x00" in value:
                raise ApiError.one(422, "Text must not contain NUL characters.", code="InvalidArgument", field=where)


def read(model: type[M], data: object, location: str = "body") -> M:
    """The data read with the model: 422 with one entry per problem (MissingParameter or InvalidArgument)."""
    _refuse_nul([data])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise from_validation(error, location) from None


def answer(
    model: BaseModel | None, status: int = 200, *, version: str | None = None, location: str | None = None
) -> Response:
    """An answer: the model as JSON (or no body), its version as ETag, and a Location for what was created."""
    if model is None:
        response = Response(status=status)
    else:
        response = Response(model.model_dump_json(), status=status, mimetype="application/json")
    if version is not None:
        response.set_etag(version)
    if location is not None:
        response.headers["Location"] = location
    return response


def if_match(current: Versioned) -> int | None:
    """The version the request's If-Match names, for portal.versioning.ensure_version: None without If-Match
    (the write applies to the current version), the current one when it is among the tags (or "*"), else a
    version no row has (the request read an older one: StaleEdit, which the API answers 412)."""
    if "If-Match" not in request.headers:
        return None
    return current.version if request.if_match.contains(str(current.version)) else -1


def check_version(current: Versioned) -> None:
    """412 when the request's If-Match names another version than the resource's (no If-Match: the write
    applies to the current); for writes whose service takes no expected version (deletes, role sets)."""
    ensure_version(current, if_match(current))


def paging(page: Page[Any], *, capped: bool = False, next_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """The list fields of API.md: current_page (0-based), page_count, page_size, row_count, row_count_exact,
    next (this list's URL with the next page's `from` and cursor, or None)."""
    next_url = None
    if next_args is not None:
        args = {k: v for k, v in request.args.items() if k not in {"from", "after"}}
        args.update({k: v for k, v in next_args.items() if v is not None})
        next_url = url_for(request.endpoint or "", **{**(request.view_args or {}), **args})
    return {
        "current_page": page.current_page - 1,
        "page_count": page.page_count,
        "page_size": page.take,
        "row_count": page.total,
        "row_count_exact": not capped,
        "next": next_url,
    }


__all__ = ["Paging", "answer", "bp", "check_version", "if_match", "operation", "paging", "read", "spec"]
