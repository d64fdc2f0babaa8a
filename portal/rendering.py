"""render(): a whole page, or one named block of it for htmx. The only reader of HX-* headers."""

from __future__ import annotations

from typing import Any, cast

from flask import Response, make_response, redirect, render_template
from jinja2_fragments.flask import render_block

from portal.extensions import htmx


def wants_fragment() -> bool:
    """Whether the request is htmx swapping part of a page (not a boost or a history restore)."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(template: str, block: str | None = None, *, status: int = 200, **context: Any) -> Response:
    """The named block for an htmx request, the whole page otherwise; varies on HX-Request."""
    if block is not None and wants_fragment():
        # Messages flashed by the action travel with the fragment (out of band), not to the next page.
        body = render_block(template, block, **context) + render_template("_messages_oob.html")
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def redirect_to(location: str, code: int = 302) -> Response:
    """flask.redirect, typed as what it returns: the app's own Response class."""
    return cast(Response, redirect(location, code))


def redirect_after_post(location: str) -> Response:
    """After a successful form: 303 for a plain form; for htmx, a client-side redirect."""
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = location
        return response
    return redirect_to(location, 303)


def client_redirect(location: str) -> Response:
    """Send an htmx request to a full page (sign-in, say) instead of swapping it into a fragment."""
    response = make_response("", 200)
    response.headers["HX-Redirect"] = location
    return response


def retarget_to_messages(response: Response) -> Response:
    """Show an htmx error in the page's message area rather than in the element that asked."""
    response.headers["HX-Retarget"] = "#messages"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


def redirect_or_render(location: str, template: str, block: str, **context: Any) -> Response:
    """After a successful form: 303 for a plain form; for htmx, the changed block in place."""
    if wants_fragment():
        return render(template, block, **context)
    return redirect_to(location, 303)
