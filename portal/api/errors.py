"""The JSON API's errors: `{"errors": [{"code", "message", "field"}]}` for every failure under /api/ (API.md).

portal.errors hands every error of a request under /api/ here, so that no HTML page is ever sent there:
unknown paths (404), wrong methods (405 with Allow), domain refusals of the services, anything unexpected.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from portal.errors import DomainError
from portal.versioning import StaleEdit

API_PREFIX = "/api/"

CODES = {
    400: "MalformedJson",
    401: "Unauthorized",
    403: "Forbidden",
    404: "ResourceNotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Conflict",
    412: "PreconditionFailed",
    415: "UnsupportedMediaType",
    422: "InvalidArgument",
    429: "RateLimited",
}
MESSAGES = {
    400: "The request could not be read.",
    401: "A valid API key is required in the Authorization header.",
    403: "The key may not do this.",
    404: "There is no such resource here.",
    405: "This resource does not take this method.",
    413: "The request is too large.",
    429: "Too many requests for this key. Wait and try again.",
    500: "Something went wrong on our side. It has been logged; try again.",
}


def is_api_request() -> bool:
    """Whether the request is one of the JSON API's (everything under /api/)."""
    return request.path.startswith(API_PREFIX)


class ApiError(Exception):
    """An API answer with errors; raised anywhere in an API request."""

    def __init__(self, status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None) -> None:
        super().__init__(errors[0]["message"] if errors else str(status))
        self.status = status
        self.errors = errors
        self.headers = headers or {}

    @classmethod
    def one(
        cls,
        status: int,
        message: str,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> ApiError:
        """An error with one entry."""
        item: dict[str, Any] = {"code": code or CODES.get(status, "InternalError"), "message": message}
        if field:
            item["field"] = field
        return cls(status, [item], headers)


def error_response(status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None) -> Response:
    """The JSON answer for errors, with WWW-Authenticate on a 401."""
    response = jsonify({"errors": errors})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def from_api_error(error: ApiError) -> Response:
    """The answer of an ApiError."""
    return error_response(error.status, error.errors, error.headers)


def from_validation(error: ValidationError, location: str = "body") -> ApiError:
    """422: one entry per problem pydantic found, MissingParameter or InvalidArgument, naming the field.

    Model-level rules name their field in the error type ("missing:login", "invalid_argument:password").
    """
    errors = []
    for problem in error.errors(include_url=False):
        kind, _, named = problem["type"].partition(":")
        path = ".".join(str(part) for part in problem["loc"]) or named or None
        if kind == "missing":
            code, message = "MissingParameter", problem["msg"] if named else "This field is required."
        elif kind == "extra_forbidden":
            code, message = "InvalidArgument", "Unknown field."
        else:
            code, message = "InvalidArgument", problem["msg"]
        item: dict[str, Any] = {"code": code, "message": message}
        if path:
            item["field"] = path if location == "body" else path
        errors.append(item)
    return ApiError(422, errors)


def from_http(error: HTTPException) -> Response:
    """An HTTP error (unknown path, wrong method, too large …) as JSON."""
    status = error.code or 500
    headers: dict[str, str] = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    if status == 429 and getattr(error, "retry_after", None):
        headers["Retry-After"] = str(error.retry_after)  # type: ignore[attr-defined]
    message = MESSAGES.get(status) or error.description or error.name
    return error_response(
        status,
        [{"code": CODES.get(status, "InvalidArgument" if status < 500 else "InternalError"), "message": message}],
        headers,
    )


STALE = {
    412: "The resource changed since you read it (If-Match does not match its ETag). Read it again, then make "
    "your change.",
    409: "The resource changed while your request ran. Read it again, then make your change.",
}


def from_domain(error: DomainError) -> Response:
    """A service's refusal (404, 403, 409, 422 …) as JSON, naming the field when the service did.

    A stale edit (portal.versioning) is 412 when the request named the version it read in If-Match, else 409."""
    status = 409 if error.status == 410 else error.status
    message = error.message
    if isinstance(error, StaleEdit):
        status = 412 if "If-Match" in request.headers else 409
        message = STALE[status]
    item: dict[str, Any] = {"code": CODES.get(status, "InvalidArgument"), "message": message}
    if error.field:
        item["field"] = error.field
    headers = {"Retry-After": "3600"} if status == 429 else {}
    return error_response(status, [item], headers)


def unexpected() -> Response:
    """500 without internals (SECURITY H3)."""
    return error_response(500, [{"code": "InternalError", "message": MESSAGES[500]}])
