"""Correlation ids (seed 002): taken from X-Correlation-Id when safe, made otherwise, echoed back."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

HEADER = "X-Correlation-Id"
_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _take() -> None:
    given = request.headers.get(HEADER, "")
    g.correlation_id = given if _SAFE.match(given) else uuid.uuid4().hex


def _echo(response: Response) -> Response:
    response.headers[HEADER] = g.get("correlation_id", "")
    return response


def init_app(app: Flask) -> None:
    """Run first on every request, so every log line and audit event can carry the id."""
    app.before_request_funcs.setdefault(None, []).insert(0, _take)
    app.after_request(_echo)
