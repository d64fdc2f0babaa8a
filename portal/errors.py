"""Domain errors raised by services, and the error pages (full page, or a message for htmx)."""

from __future__ import annotations

from typing import cast

from flask import Flask, Response, current_app, make_response, render_template, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from portal import db
from portal.rendering import render, retarget_to_messages, wants_fragment


class DomainError(Exception):
    """A rule of the domain refused the action; the message is safe to show."""

    status = 400
    title = "Bad request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the one input field at fault, when there is one (the JSON API names it)


class NotFound(DomainError):
    status, title = 404, "Not found"


class Forbidden(DomainError):
    status, title = 403, "Forbidden"


class Conflict(DomainError):
    status, title = 409, "Conflict"


class Invalid(DomainError):
    status, title = 422, "Invalid input"


MESSAGES = {
    400: "The request could not be understood. If you left a page open for a long time, reload it and try again.",
    401: "Please sign in.",
    403: "You do not have permission to do that.",
    404: "There is nothing here, or it is not yours to see.",
    405: "That page does not take this kind of request.",
    409: "Someone else changed this at the same time. Reload to see their change, then try again.",
    422: "Some of what you entered is not valid.",
    429: "Too many attempts. Wait a little and try again.",
    500: "Something went wrong on our side. It has been logged; please try again.",
}


def discard_request_changes() -> None:
    """Roll the request's session back, so that an error page renders on a usable session.

    Every error handler calls this first: the failed request's changes were never committed, and
    after a database error (a unique violation at flush, a lost connection) the session refuses
    every query until it is rolled back, so the page's layout could not even read who is signed in.
    """
    try:
        db.session.rollback()
    except Exception:  # the connection itself is gone: the pool replaces it; the page must still go out
        current_app.logger.exception("Rolling back after an error failed")


def error_page(status: int, title: str, message: str) -> Response:
    """The error in the site's layout, or only its message for an htmx request."""
    try:
        response = render("errors/error.html", "error", status=status, status_code=status, title=title, message=message)
    except Exception:  # the layout needs the database (who is signed in); without it, the bare message
        current_app.logger.exception("Rendering the %s page failed", status)
        response = make_response(
            render_template("errors/bare.html", status_code=status, title=title, message=message), status
        )
    if wants_fragment():
        retarget_to_messages(response)
    return response


def _api() -> bool:
    from portal.api.errors import is_api_request

    return is_api_request()


def _scim() -> bool:
    from portal.scim.errors import is_scim_request

    return is_scim_request()


def _http_error(error: HTTPException) -> Response:
    discard_request_changes()
    status = error.code or 500
    if _scim() and status >= 400:  # SCIM answers with its own error bodies
        from portal.scim.errors import from_http as scim_from_http

        return scim_from_http(error)
    if _api() and status >= 400:  # the JSON API never answers with a page
        from portal.api.errors import from_http

        return from_http(error)
    if status < 400:  # routing redirects (a missing trailing slash) are answers, not errors
        return cast(Response, error.get_response())
    message = MESSAGES.get(status, error.description or "")
    if status == 400 and getattr(error, "description", "").startswith("The CSRF"):
        message = "This form has expired. Reload the page and try again."
    return error_page(status, error.name, message)


def _domain_error(error: DomainError) -> Response:
    discard_request_changes()
    if _scim():
        from portal.scim.errors import from_domain as scim_from_domain

        return scim_from_domain(error)
    if _api():
        from portal.api.errors import from_domain

        return from_domain(error)
    return error_page(error.status, error.title, error.message)


def _schema_missing(error: Exception) -> bool:
    """Whether a database error comes from a schema that was never built (or is behind the code)."""
    if not isinstance(error, DBAPIError):
        return False
    from portal import migrate

    try:
        return migrate.schema_is_behind(current_app)
    except Exception:  # the database itself is out of reach: the plain 500 says enough
        return False


def _not_migrated() -> Response:
    """A page that says what to do, drawn without the database (the layout would ask it who is signed in)."""
    current_app.logger.error("The database schema is missing or out of date: run `flask portal migrate`.")
    return make_response(render_template("errors/not_migrated.html"), 503)


def _unexpected(error: Exception) -> Response:
    discard_request_changes()
    if _schema_missing(error):
        return _not_migrated()
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    if _scim():
        from portal.scim.errors import unexpected as scim_unexpected

        return scim_unexpected()
    if _api():
        from portal.api.errors import unexpected

        return unexpected()
    return error_page(500, "Internal Server Error", MESSAGES[500])


def register_error_handlers(app: Flask) -> None:
    """Every HTTP and domain error, and anything unexpected, gets a page without internals."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(Exception, _unexpected)
