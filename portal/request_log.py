"""Structured logging (issue 8, SECURITY H4): one JSON line per request, one per security event.

A request's line carries its method, path, status, duration in milliseconds, the signed-in user
and account, the client address and the correlation id. Each line is one JSON object with every
value JSON-encoded (ASCII only), so a newline or a quote in a path cannot forge a line or a
field. Never logged: query strings, bodies, headers, and path segments that are secrets (a view
argument named like `token`, e.g. /invitations/accept/<token>, shows as "[redacted]").

The lines go to stderr through the loggers "portal.requests" and "portal.events" (configure
those loggers to send them elsewhere). Werkzeug's own access lines, which print the raw path
with its tokens, are dropped. Views marked @unlogged (the probes /healthz, /readyz, /metrics)
write no request line and are not counted in the request metrics.

Every request line is also counted in the Prometheus metrics (portal.ops.metrics), and so is
every event.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy import inspect

from portal.ops import metrics

REQUEST_LOGGER = "portal.requests"
EVENT_LOGGER = "portal.events"
MAX_PATH = 1000
_SECRET_ARG = re.compile(r"token|secret|password|code|key", re.I)

requests_logger = logging.getLogger(REQUEST_LOGGER)
events_logger = logging.getLogger(EVENT_LOGGER)
F = TypeVar("F", bound=Callable[..., Any])


def unlogged(view: F) -> F:
    """Mark a view whose requests are neither logged nor counted (health probes, the metrics scrape)."""
    view._unlogged = True  # type: ignore[attr-defined]
    return view


def _is_unlogged() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "_unlogged", False))


def json_line(fields: dict[str, Any]) -> str:
    """One log line: a JSON object, ASCII only (no raw newline or control character can appear)."""
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":"), default=str)


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def loggable_path() -> str:
    """The request path with secret view arguments replaced by "[redacted]", shortened if huge."""
    secrets = {
        value
        for name, value in (request.view_args or {}).items()
        if isinstance(value, str) and value and _SECRET_ARG.search(name)
    }
    path = request.path
    if secrets:  # a secret is a whole path segment (the default converter stops at "/")
        path = "/".join("[redacted]" if segment in secrets else segment for segment in path.split("/"))
    return path if len(path) <= MAX_PATH else path[:MAX_PATH] + "…"


def _row_id(row: Any) -> str:
    """A loaded row's primary key, read without a query: after an error page's rollback the row's
    columns are expired, and the database may be unreachable by then."""
    state = inspect(row, raiseerr=False) if row is not None else None
    return str(state.identity[0]) if state is not None and state.identity else ""


def _who() -> dict[str, str]:
    """The signed-in user and the account, when the request loaded them (never loads them itself)."""
    user_id = _row_id(g.get("_login_user"))  # the anonymous user is no row: ""
    ended = g.get("login_session")
    if not user_id and ended is not None:  # signed out during this request: who it was
        user_id = str(inspect(ended).dict.get("user_id") or "")
    account_id = _row_id(g.get("account")) or (_row_id(g.get("user_account")) if user_id else "")
    return {"user_id": user_id, "account_id": account_id}


def _start() -> None:
    g.request_started = time.perf_counter()


def _log_request(response: Response) -> Response:
    if _is_unlogged():
        return response
    started = g.get("request_started")
    seconds = time.perf_counter() - started if started is not None else None
    duration = round(seconds * 1000, 1) if seconds is not None else None
    metrics.observe_request(request.endpoint, request.method, request.path, response.status_code, seconds)
    requests_logger.info(
        json_line(
            {
                "ts": _timestamp(),
                "event": "request",
                "method": request.method,
                "path": loggable_path(),
                "status": response.status_code,
                "duration_ms": duration,
                **_who(),
                "ip": request.remote_addr or "",
                "correlation_id": g.get("correlation_id", ""),
            }
        )
    )
    return response


def log_event(event: str, level: int = logging.WARNING, **fields: Any) -> None:
    """A security event (a lockout, say) as one JSON line, with the request's correlation id and address."""
    context: dict[str, Any] = {}
    if has_request_context():
        context = {**_who(), "ip": request.remote_addr or "", "correlation_id": g.get("correlation_id", "")}
    events_logger.log(level, json_line({"ts": _timestamp(), "event": event, **fields, **context}))
    metrics.count_event(event)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _drop_werkzeug_access_lines(record: logging.LogRecord) -> bool:
    # Werkzeug's dev server logs '<addr> - - [<date>] "GET /path?query HTTP/1.1" 200 -': tokens included.
    return not (record.levelno == logging.INFO and " - - [" in str(record.msg))


def _configure(logger: logging.Logger) -> None:
    if not logger.handlers:  # an operator's logging config, when there is one, is left alone
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # one line, not a second copy through Flask's "portal" logger


def init_app(app: Flask) -> None:
    """Time every request from its first moment and log it when the response is ready."""
    _configure(requests_logger)
    _configure(events_logger)
    werkzeug = logging.getLogger("werkzeug")
    if _drop_werkzeug_access_lines not in werkzeug.filters:
        werkzeug.addFilter(_drop_werkzeug_access_lines)
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_log_request)
