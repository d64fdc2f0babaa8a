"""Security headers on every response: CSP with a per-request nonce, and the rest of H2."""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request


def csp_nonce() -> str:
    """The nonce for this request's <script> tags (made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return str(g.csp_nonce)


# The same on every response, in this order after the CSP (whose nonce is the request's own).
_FIXED = (
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
_CSP = (
    "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action {form_action}"
)


def _set_headers(response: Response) -> Response:
    # A page whose form redirects to the account's identity provider names that origin (portal.sso).
    form_action = " ".join(["'self'", *g.get("form_action_sources", ())])
    headers = [("Content-Security-Policy", _CSP.format(nonce=csp_nonce(), form_action=form_action)), *_FIXED]
    if request.endpoint != "static":
        # Pages depend on who is signed in and on HX-Request; neither may be cached.
        headers.append(("Cache-Control", "no-store"))
    # Appended where the response does not have them yet, replacing its own where it does (as headers[key] =
    # value would, but without scanning every header for each of the eight: ~0.1 ms a page, issue 20).
    present = {key.lower() for key, _value in response.headers}
    for key, value in headers:
        if key.lower() in present:
            response.headers[key] = value
        else:
            response.headers.add(key, value)
    if request.endpoint != "static":
        response.vary.update(("HX-Request", "Cookie"))  # one parse and one write of Vary
    return response


def init_app(app: Flask) -> None:
    """Add the headers after every request and expose csp_nonce() to templates."""
    app.after_request(_set_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
