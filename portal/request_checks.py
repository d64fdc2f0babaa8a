"""Checks every request passes before anything reads it: no NUL character anywhere, no nameless form field.

PostgreSQL text cannot hold a NUL (\\0) byte: a NUL reaching a query is a database error, a 500. No
address, header, parameter or form field of ours has a use for one (RFC 9110 calls a NUL in a header
"invalid and dangerous"), so a request carrying one is refused once, here, before any view or query
runs: 400 with a clear message, nothing read or changed.

A multipart form part without a name is read as a field named None, which the CSRF check (it looks
through the field names for a token) fails on with a 500; no browser sends one, so it is refused too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from flask import request

from portal.errors import DomainError

NUL = "\x00"
# Requests whose bodies are not forms: reading one as a form would consume the body its view reads (the JSON
# API answers a non-JSON body with 415 and checks every JSON field itself).
JSON_ONLY_PREFIX = "/api/"
NAMELESS = "The form is malformed: one of its fields has no name. Reload the page and try again."
MESSAGE = (
    "The request contains a NUL character (\\0), which no address, parameter or form field may hold. "
    "Remove it and try again."
)


def _request_strings() -> Iterator[str]:
    """The parts of the request that views, forms and queries read. JSON bodies are the JSON API's to check:
    it refuses a NUL in a field as that field's InvalidArgument (422), like any other bad value."""
    yield request.path
    yield from _pairs(request.args.items(multi=True))
    yield from (value for _name, value in request.headers.items())
    if _has_form():
        yield from _pairs(request.form.items(multi=True))
        for name, upload in request.files.items(multi=True):
            yield name
            yield upload.filename or ""


def _has_form() -> bool:
    """Whether the request carries a body that views read as a form."""
    return request.method not in {"GET", "HEAD", "OPTIONS"} and not request.path.startswith(JSON_ONLY_PREFIX)


def _pairs(pairs: Iterable[tuple[str, str]]) -> Iterator[str]:
    for key, value in pairs:
        yield key
        yield value


def check_request() -> None:
    """400 when a form field has no name, or the path, a header, a parameter or a field holds a NUL character.

    Raised, not answered here, so that the error handlers answer in the request's own form: the error page,
    the htmx message, or the JSON API's error body under /api/.
    """
    if _has_form() and (None in request.form or None in request.files):
        raise DomainError(NAMELESS)
    if any(NUL in text for text in _request_strings()):
        raise DomainError(MESSAGE)
