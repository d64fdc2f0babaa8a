"""Who is calling the JSON API, and how much: the API key, its permissions, the tenant guard, the rate limit.

portal.access runs authenticate() before every API view (a view declares its permissions with
@operation, see portal.api.core). A key acts with its scopes ∩ its owner's current default-role
permissions, read on every request (SECURITY A6); cookies count for nothing here, and a key in the URL
is refused outright (K1). Rate limits are per key (per client address before a key is known), with the
portal's one limiter (portal.extensions.limiter, so the same storage), announced on every answer.
"""

from __future__ import annotations

import time

from flask import Flask, Response, current_app, g, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse

from portal.api.errors import ApiError, from_api_error, is_api_request
from portal.extensions import limiter
from portal.me.credentials import authenticate_api_key, scopes_of
from portal.permissions import Permission
from portal.request_log import log_event
from portal.roles.queries import default_role_permissions

_KEY_IN_URL = ("api_key", "key", "access_token", "token")


def _limit() -> RateLimitItem:
    return parse(str(current_app.config["RATELIMIT_API"]))


def _count(identity: str, hit: bool) -> bool:
    """Count one request (hit) or only look (not hit) for the identity; whether it is within the limit.

    The announced figures are kept in g for the answer's headers. A storage outage lets requests through.
    """
    item = _limit()
    try:
        allowed = limiter.limiter.hit(item, "api", identity) if hit else True
        reset, remaining = limiter.limiter.get_window_stats(item, "api", identity)
    except Exception:  # noqa: BLE001 - as the limiter's swallow_errors: never fail a request on the storage
        current_app.logger.exception("The API rate-limit storage failed")
        return True
    g.api_rate = (item.amount, max(0, remaining), max(0, int(reset - time.time())))
    return allowed


def _too_many() -> Response:
    _amount, _remaining, reset = g.api_rate
    log_event("rate_limited", path=request.path, method=request.method, limit=str(_limit()))
    return from_api_error(
        ApiError.one(
            429, "Too many requests for this key. Wait and try again.", headers={"Retry-After": str(max(1, reset))}
        )
    )


def authenticate(needed: frozenset[Permission]) -> Response | None:
    """Check the key, the rate limit, the tenant and the permissions of an API request; an error answer or None."""
    if any(name in request.args for name in _KEY_IN_URL):
        if not _count("address:" + get_remote_address(), hit=True):
            return _too_many()
        return from_api_error(ApiError.one(401, "Send the API key in the Authorization header, never in the URL."))
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    found = authenticate_api_key(key.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        if not _count("address:" + get_remote_address(), hit=True):
            return _too_many()
        return from_api_error(ApiError.one(401, "A valid API key is required: Authorization: Bearer <key>."))
    api_key, user = found
    if not _count(f"key:{api_key.id}", hit=True):
        return _too_many()
    g.api_key, g.api_user = api_key, user
    g.permissions = scopes_of(api_key) & default_role_permissions(user)
    account_id = (request.view_args or {}).get("account_id")
    if account_id is not None and account_id != user.account_id:
        return from_api_error(ApiError.one(404, "No such account."))
    missing = sorted(p.value for p in needed - g.permissions)
    if missing:
        return from_api_error(
            ApiError.one(
                403,
                f"The key may not do this: it needs {', '.join(missing)} (its scopes "
                "and its owner's default roles must both grant it).",
            )
        )
    return None


def _rate_headers(response: Response) -> Response:
    """RateLimit-Limit, -Remaining, -Reset on every answer under /api/ (the caller's key, else their address)."""
    if not is_api_request():
        return response
    if "api_rate" not in g:
        _count("address:" + get_remote_address(), hit=False)
    if "api_rate" in g:
        amount, remaining, reset = g.api_rate
        response.headers["RateLimit-Limit"] = str(amount)
        response.headers["RateLimit-Remaining"] = str(remaining)
        response.headers["RateLimit-Reset"] = str(reset)
    return response


def init_app(app: Flask) -> None:
    """Announce the rate limit on every API answer; check the configured limit parses."""
    parse(str(app.config["RATELIMIT_API"]))
    app.after_request(_rate_headers)
