"""The bearer check of every SCIM request: the account's provisioning token, its rate limit, and the
request log of the provisioning page (written after the answer, whatever it was)."""

from __future__ import annotations

from flask import Response, g, request

from portal import db
from portal.scim import tokens
from portal.scim.errors import ScimError, from_scim_error


def authenticate() -> Response | None:
    """401 unless `Authorization: Bearer <token>` holds a working token of the URL's account; 429 over its limit."""
    account_id = (request.view_args or {}).get("account_id")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    found = tokens.authenticate(account_id, token.strip()) if scheme.lower() == "bearer" and account_id else None
    if found is None:
        response = from_scim_error(
            ScimError(401, "A valid provisioning token of this account is required: Authorization: Bearer <token>.")
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="SCIM"'
        return response
    row, account = found
    g.scim_token_id = row.id
    g.scim_account_id = row.account_id
    g.scim_token_last_used = row.last_used_at
    g.audit_via = "scim"
    state = tokens.count_request(row.id)
    if not state.allowed:
        return from_scim_error(
            ScimError(
                429,
                "Too many requests for this provisioning token. Wait and try again.",
                headers={"Retry-After": str(state.retry_after)},
            )
        )
    g.account = account
    return None


_READS = frozenset({"GET", "HEAD"})


def log_answer(response: Response) -> Response:
    """Keep the request for the provisioning page (method, path, status, time) and the token's last use."""
    token_id = g.get("scim_token_id")
    if token_id is None:
        return response
    try:
        if request.method not in _READS or response.status_code >= 400:
            # Whatever the view left uncommitted was not meant to be kept. A read that succeeded left nothing:
            # its log row goes in on the connection it used (not returned to the pool, checked out and pinged
            # again on PostgreSQL).
            db.session.rollback()
        tokens.log_request(g.scim_account_id, request.method, request.path, response.status_code)
        tokens.mark_used(token_id, g.get("scim_token_last_used"))
        db.session.commit()
    except Exception:  # noqa: BLE001 - the log must never turn an answer into an error
        db.session.rollback()
    return response
