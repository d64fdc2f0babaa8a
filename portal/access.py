"""The one access check, run before every request: sign-in, tenant guard, permission.

Views declare their rule with portal.permissions (@require, @signed_in, @public); a view
with no rule is refused, so forgetting one fails closed.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, current_app, g, request, url_for
from flask_login import current_user

from portal.auth import login_sessions
from portal.errors import Forbidden, NotFound
from portal.extensions import htmx, login_manager
from portal.models import User
from portal.permissions import API_KEY, PUBLIC, SCIM_TOKEN
from portal.rendering import client_redirect, redirect_to


def _load_user(token: str) -> User | None:
    config = current_app.config
    signed_in = login_sessions.resolve(
        token,
        idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
        absolute=timedelta(hours=config["SESSION_MAX_HOURS"]),
    )
    if signed_in is None:
        return None
    g.login_session = signed_in.login_session
    g.user_account = signed_in.account
    g.session_permissions = signed_in.permissions
    g.job_notice = signed_in.job_notice
    signed_in.user.session_token = token
    return signed_in.user


def _sign_in_first() -> Response:
    target = url_for("auth.login", next=request.full_path.rstrip("?"))
    if htmx:
        return client_redirect(target)
    return redirect_to(target)


# Pages a person may open while they must first choose a password, or set up MFA.
PASSWORD_SETUP = {"me.password", "auth.logout"}
MFA_SETUP = {"me.mfa_page", "me.mfa_confirm", "me.reauth", "me.reauth_sso", "auth.logout"}


def _setup_first() -> Response | None:
    """Someone with an admin-set temporary password (P6), or without MFA in an account that requires
    it, is sent to that page first."""
    if current_user.must_change_password and request.endpoint not in PASSWORD_SETUP:
        target = url_for("me.password")
    elif (
        g.user_account.require_mfa
        and not current_user.mfa_enabled
        and request.endpoint not in MFA_SETUP
        and g.login_session.auth_method != "sso"
    ):  # the identity provider's sign-in is the second factor
        target = url_for("me.mfa_page")
    else:
        return None
    return client_redirect(target) if htmx else redirect_to(target)


def enforce_access() -> Response | None:
    """Refuse the request unless the view's declared rule allows it (deny by default)."""
    if request.endpoint is None or request.endpoint == "static":
        return None  # 404 and 405 follow; static files are public
    rule = getattr(current_app.view_functions[request.endpoint], "_access", None)
    if rule is None:
        raise Forbidden("This page declares no access rule.")
    if rule == PUBLIC:
        return None
    if isinstance(rule, tuple) and rule[0] == API_KEY:
        from portal.api.auth import authenticate  # the API's own check: a key, never a cookie

        return authenticate(rule[1])
    if rule == SCIM_TOKEN:
        from portal.scim.auth import authenticate as authenticate_scim  # the provisioning token, never a cookie

        return authenticate_scim()
    if not current_user.is_authenticated:
        return _sign_in_first()
    if (setup := _setup_first()) is not None:
        return setup
    g.permissions = g.session_permissions  # read with the session in one statement (login_sessions.resolve)
    if "account_id" in g:
        # The tenant guard: a person only ever sees their own account; others do not exist.
        if g.account_id != current_user.account_id:
            raise NotFound("No such account.")
        g.account = g.user_account
    if isinstance(rule, frozenset):
        missing = sorted(p.value for p in rule - g.permissions)
        if missing or "account" not in g:
            raise Forbidden(
                f"You need the {', '.join(missing)} permission for this page."
                if missing
                else "This page belongs to an account."
            )
    return None


def init_app(app: Flask) -> None:
    """Connect Flask-Login to server-side sessions and run the check before each request."""
    login_manager.init_app(app)
    login_manager.user_loader(_load_user)
    login_manager.session_protection = None  # server-side sessions and the tenant guard decide
    app.before_request(enforce_access)
