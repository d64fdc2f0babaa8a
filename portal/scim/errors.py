"""SCIM error answers (RFC 7644 §3.12): `{"schemas": [Error], "status": "409", "scimType": …, "detail": …}`."""

from __future__ import annotations

import json

from flask import Response, request
from werkzeug.exceptions import HTTPException

from portal.errors import DomainError
from portal.versioning import StaleEdit

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MEDIA_TYPE = "application/scim+json"
PREFIX = "/scim/"


def is_scim_request() -> bool:
    """Whether the request is one of SCIM's (everything under /scim/)."""
    return request.path.startswith(PREFIX)


class ScimError(Exception):
    """An error answer, raised anywhere in a SCIM request."""

    def __init__(
        self, status: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type
        self.headers = headers or {}


def answer(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A SCIM answer: JSON as application/scim+json."""
    response = Response(json.dumps(body, separators=(",", ":")), status=status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_scim_error(error: ScimError) -> Response:
    body: dict[str, object] = {"schemas": [ERROR_SCHEMA], "status": str(error.status), "detail": error.detail}
    if error.scim_type:
        body["scimType"] = error.scim_type
    return answer(body, error.status, error.headers)


# A domain error's status in SCIM terms: the portal's 422 (a value refused) is SCIM's 400 invalidValue.
_DOMAIN: dict[int, tuple[int, str | None]] = {
    400: (400, "invalidValue"),
    403: (403, None),
    404: (404, None),
    409: (409, "uniqueness"),
    422: (400, "invalidValue"),
    429: (429, None),
}


def from_domain(error: DomainError) -> Response:
    """A service's refusal (Forbidden, NotFound, Conflict, Invalid) as a SCIM error; a stale edit
    (portal.versioning) is 412 when the request named the version it read in If-Match, else 409."""
    if isinstance(error, StaleEdit):
        if request.headers.get("If-Match"):
            return from_scim_error(
                ScimError(412, "The resource changed since you read it (If-Match does not match its version).")
            )
        return from_scim_error(ScimError(409, "The resource changed while your request ran. Read it again."))
    status, scim_type = _DOMAIN.get(error.status, (error.status, None))
    return from_scim_error(ScimError(status, error.message, scim_type))


def from_http(error: HTTPException) -> Response:
    """404, 405 and the like as SCIM errors, never as a page."""
    status = error.code or 500
    response = from_scim_error(ScimError(status, error.description or error.name))
    if status == 405 and error.get_response().headers.get("Allow"):
        response.headers["Allow"] = error.get_response().headers["Allow"]
    return response


def unexpected() -> Response:
    return from_scim_error(ScimError(500, "Something went wrong on our side. It has been logged."))
