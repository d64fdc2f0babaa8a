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
from typing import Any

from flask import request

from portal.errors import DomainError

NUL = "\x00"
NAMELESS = "The form is malformed: one of its fields has no name. Reload the page and try again."
MESSAGE = ("The request contains a NUL character (\\0), which no address, parameter or form field may hold. "
           "Remove it and try again.")


def _json_strings(value: Any) -> Iterator[str]:
    """Every key and string inside a parsed JSON document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


def _request_strings() -> Iterator[str]:
    """The parts of the request that views, forms and queries read."""
    yield request.path
    yield from _pairs(request.args.items(multi=True))
    yield from (value for _name, value in request.headers.items())
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        yield from _pairs(request.form.items(multi=True))
        for name, upload in request.files.items(multi=True):
            yield name
            yield upload.filename or ""
        if request.is_json:
            yield from _json_strings(request.get_json(silent=True))


def _pairs(pairs: Iterable[tuple[str, str]]) -> Iterator[str]:
    for key, value in pairs:
        yield key
        yield value


def check_request() -> None:
    """400 when a form field has no name, or the path, a header, a parameter or a field holds a NUL character.

    Raised, not answered here, so that the error handlers answer in the request's own form: the error page,
    the htmx message, or the JSON API's error body under /api/.
    """
    if request.method not in {"GET", "HEAD", "OPTIONS"} and (None in request.form or None in request.files):
        raise DomainError(NAMELESS)
    if any(NUL in text for text in _request_strings()):
        raise DomainError(MESSAGE)

