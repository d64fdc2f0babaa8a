"""Rate limits on the steps a guesser repeats (issue 8, SECURITY L4): sign-in and its MFA step,
password reset, invitation accept, email-change confirmation, sign-up, re-authentication.

Each guarded route gets two limits (flask-limiter, storage RATELIMIT_STORAGE_URI): one per client
address (RATELIMIT_PER_ADDRESS) and one per identity (RATELIMIT_PER_LOGIN): the token in the URL,
else the login or email typed, else the person part-way through sign-in or signed in. Both count
every attempt, right or wrong, before the view runs. Over a limit: 429 with a readable page, or
the message alone for htmx, and a Retry-After header.

A view declares its limits with @rate_limited(methods), as it declares its access rule with
@require: POST by default; a view with a secret in its path (<token>) is limited on GET as well,
since opening the link checks the token. When the app is built the declared views get the limits.
The brute-force lockout (portal.auth.lockout) is separate: it counts failures per login in the database.

The counts live in RATELIMIT_STORAGE_URI (REDIS_URL by default), shared by every worker and
server (issue 19). Production refuses to start without a shared store unless the operator sets
RATELIMIT_STORAGE_URI=memory:// on purpose (then a warning is logged at start). While the store
is unreachable each process counts in its own memory — limits fail open to per-process counts,
never to none — and goes back to the store when it answers (both logged to portal.events).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, request, session
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import parse_many

from portal import tokens
from portal.config import MEMORY_STORAGE
from portal.errors import discard_request_changes, error_page
from portal.extensions import limiter
from portal.request_log import log_event, loggable_path

F = TypeVar("F", bound=Callable[..., Any])
# A path argument that holds a secret: the attempt is about it (identity()).
_SECRET_ARG = re.compile(r"token|secret|code|key", re.I)
# Seconds a request waits for Redis before counting in memory instead: a hung Redis must not hang sign-in.
STORE_TIMEOUT = 0.5


def storage_options(uri: str) -> dict[str, Any]:
    """Client options for the store: short timeouts and one immediate retry (a connection that broke
    when Redis restarted is replaced at once) for Redis; nothing for the others."""
    if uri.split(":", 1)[0] in {"redis", "rediss", "redis+unix", "valkey", "valkeys", "valkey+unix"}:
        from redis.backoff import NoBackoff  # imported only when Redis is used
        from redis.retry import Retry

        return {
            "socket_timeout": STORE_TIMEOUT,
            "socket_connect_timeout": STORE_TIMEOUT,
            "retry": Retry(NoBackoff(), 1),
        }
    return {}


def per_address_limit() -> str:
    """The per-address limit string from the config (read per request: tests lower it)."""
    return str(current_app.config["RATELIMIT_PER_ADDRESS"])


def per_login_limit() -> str:
    """The per-identity limit string from the config."""
    return str(current_app.config["RATELIMIT_PER_LOGIN"])


def _digest(value: str) -> str:
    # Keys may live in Redis: no login, email or token goes there in clear.
    return tokens.keyed_digest("ratelimit", value)[:32]


def identity() -> str:
    """Whom the attempt is about: the URL's token, the login or email typed (in the account named),
    or the person."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and _SECRET_ARG.search(name):
            return "token:" + _digest(value)
    account = str((request.view_args or {}).get("sign_in_name") or request.form.get("account", "")).strip().lower()
    for field in ("login", "email"):
        typed = request.form.get(field, "").strip().lower()
        if typed:  # a login names a person only within its account
            return "login:" + _digest(f"{account}\n{typed}")
    pending = session.get("mfa_pending")
    if isinstance(pending, dict) and pending.get("user_id"):
        return "user:" + str(pending["user_id"])
    if current_user.is_authenticated:
        return "user:" + str(current_user.id)
    return "address:" + get_remote_address()


def rate_limited(*methods: str) -> Callable[[F], F]:
    """Declare that the view's attempts are limited (per address and per identity) on these methods
    (POST when none are named)."""
    limited = frozenset(methods or ("POST",))

    def mark(view: F) -> F:
        view._rate_limited = limited  # type: ignore[attr-defined]
        return view

    return mark


def _limit(view: Callable[..., Any], methods: frozenset[str]) -> Callable[..., Any]:
    for provider, key_func in ((per_address_limit, get_remote_address), (per_login_limit, identity)):
        view = limiter.limit(provider, key_func=key_func, methods=sorted(methods))(view)
    return view


def guarded_endpoints(app: Flask) -> dict[str, frozenset[str]]:
    """The endpoints that get limits, with the methods limited."""
    endpoints: dict[str, frozenset[str]] = {}
    for rule in app.url_map.iter_rules():
        declared: frozenset[str] = getattr(app.view_functions[rule.endpoint], "_rate_limited", frozenset())
        methods = declared & (rule.methods or set())
        if methods:
            endpoints[rule.endpoint] = endpoints.get(rule.endpoint, frozenset()) | methods
    return endpoints


def _wait_words(seconds: int) -> str:
    if seconds <= 60:
        return "a minute"
    if seconds < 3600:
        return f"{(seconds + 59) // 60} minutes"
    return "an hour"


def _too_many(error: RateLimitExceeded) -> Response:
    discard_request_changes()  # the page's layout reads who is signed in: on a clean session
    seconds = int(error.limit.limit.get_expiry())
    log_event("rate_limited", path=loggable_path(), method=request.method, limit=str(error.limit.limit))
    response = error_page(429, "Too many attempts", f"Too many attempts. Wait {_wait_words(seconds)} and try again.")
    response.headers["Retry-After"] = str(seconds)
    return response


class _StoreOutage(logging.Filter):
    """flask-limiter's notes about its store going away and coming back, as portal.events lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Rate limit storage unreachable"):
            log_event("rate_limit_store_unreachable", counting="per process until it answers")
            return False
        if message.startswith("Rate limit storage recovered"):
            log_event("rate_limit_store_recovered", level=logging.INFO)
            return False
        return record.levelno >= logging.WARNING  # its INFO lines repeat what _too_many logs


def _watch_the_store() -> None:
    flask_limiter_logger = logging.getLogger("flask-limiter")
    flask_limiter_logger.setLevel(logging.INFO)  # "recovered" is an INFO line
    if not any(isinstance(f, _StoreOutage) for f in flask_limiter_logger.filters):
        flask_limiter_logger.addFilter(_StoreOutage())


# flask-limiter's settings that work through its hooks on every request: limits for every view (checked before each
# request) and the rate-limit headers (added after). The portal declares each limit on its view (@rate_limited) and
# sends no such headers, so none may be set.
PER_REQUEST_SETTINGS = (
    "RATELIMIT_DEFAULT",
    "RATELIMIT_APPLICATION",
    "RATELIMIT_META",
    "RATELIMIT_IN_MEMORY_FALLBACK",
    "RATELIMIT_HEADERS_ENABLED",
)


def _without_per_request_hooks(app: Flask) -> None:
    """Keep flask-limiter's hooks (before and after every request, and at its teardown) out of the app.

    With no app-wide limit and its headers off they check and add nothing (the limited views' own wrappers
    check their limits and notice the store's return), yet cost every page ~0.2 ms (issue 20). init_app adds
    them only to an app that does not hold the limiter yet, so the app is marked as holding it first."""
    if set_anyway := [key for key in PER_REQUEST_SETTINGS if app.config.get(key)]:
        raise RuntimeError(
            f"{', '.join(set_anyway)} would need flask-limiter's hooks on every request: "
            "declare limits on the views with @rate_limited"
        )
    app.extensions.setdefault("limiter", set()).add(limiter)


def init_app(app: Flask) -> None:
    """Bind the limiter and put the limits on the views that declare them (call after the blueprints)."""
    for key in ("RATELIMIT_PER_ADDRESS", "RATELIMIT_PER_LOGIN"):
        parse_many(app.config[key])  # a typo in a limit fails at start, not at the first sign-in
    guarded = guarded_endpoints(app)
    for endpoint, view in app.view_functions.items():
        # A limit declared on a method the view does not answer would protect nothing: fail at start.
        declared: frozenset[str] = getattr(view, "_rate_limited", frozenset())
        if declared - guarded.get(endpoint, frozenset()):
            raise RuntimeError(f"{endpoint} declares a rate limit on {sorted(declared)} but does not answer them all")
    uri = str(app.config["RATELIMIT_STORAGE_URI"])
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", storage_options(uri))
    if app.config.get("PORTAL_ENV") == "production" and uri.startswith(MEMORY_STORAGE):
        log_event(
            "rate_limits_per_process",
            reason="RATELIMIT_STORAGE_URI=memory:// was set on purpose",
            effect="each worker process counts on its own: limits are looser by the number of processes",
        )
    _watch_the_store()
    _without_per_request_hooks(app)
    limiter.init_app(app)
    for endpoint, methods in guarded.items():
        app.view_functions[endpoint] = _limit(app.view_functions[endpoint], methods)
    app.register_error_handler(RateLimitExceeded, _too_many)
