"""How a sign-in completes, whichever way the person proved who they are (a password, the two-step
code, an identity provider, an accepted invitation): a fresh session, the sign-in recorded, home.
The sign-in, MFA, SSO and invitation pages all finish here."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import Response, current_app, g, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_user

from portal import actors, db
from portal.audit.services import record
from portal.auth import login_sessions, services
from portal.db import utcnow
from portal.models import Account, User
from portal.permissions import Permission
from portal.rendering import redirect_after_post
from portal.roles.queries import effective_permissions
from portal.sso import services as sso

# The account this browser last signed in to, to pre-fill the sign-in form (a name, not a secret).
ACCOUNT_COOKIE = "portal_account"
ACCOUNT_COOKIE_AGE = 400 * 24 * 3600
MFA_STEP_TIME = timedelta(minutes=5)
METHODS = ("password", "sso", "break_glass")


def home_for(user: User) -> str:
    """The users page for those who may read it; everyone else starts on their own profile."""
    if Permission.USERS_READ in effective_permissions(user, g.get("login_session")):
        return url_for("accounts.users.index", account_id=user.account_id)
    return url_for("me.profile")


def start_session(user: User, method: str = "password") -> None:
    """A fresh session: the pre-sign-in cookie (and its CSRF token) is never reused. An SSO session
    ends when the account's SSO session length says (then back to the provider)."""
    session.clear()
    g.user_account = db.session.get(Account, user.account_id)
    session.permanent = True
    expires_at = sso.session_end(user.account_id) if method == "sso" else None
    token, g.login_session = login_sessions.start(
        user, request.remote_addr or "", request.user_agent.string, auth_method=method, expires_at=expires_at
    )
    user.session_token = token
    login_user(user)


def remember_account(response: Response, account: Account | None) -> Response:
    """Let this browser pre-fill the account it last signed in to (a plain cookie: a name, no secret)."""
    if account is not None:
        response.set_cookie(
            ACCOUNT_COOKIE,
            account.sign_in_name,
            max_age=ACCOUNT_COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        )
    return response


def start_mfa_step(user: User, target: str | None, method: str) -> None:
    """The first factor passed: the session waits for the second (and remembers how the first was given)."""
    session.clear()
    session["mfa_pending"] = {
        "user_id": str(user.id),
        "account_id": str(user.account_id),
        "since": utcnow().isoformat(),
        "next": target,
        "method": method,
    }


def pending_mfa_user() -> tuple[User, str | None, str] | None:
    """The user who gave the right password for this browser less than MFA_STEP_TIME ago, where they were
    going, and how the first factor was given."""
    pending = session.get("mfa_pending")
    if not isinstance(pending, dict):
        return None
    try:
        since = datetime.fromisoformat(pending["since"])
        user = db.session.get(User, uuid.UUID(pending["user_id"]))
        account_id = uuid.UUID(pending["account_id"])
    except (KeyError, ValueError, TypeError):
        return None
    if user is None or user.account_id != account_id or not user.is_active_user or utcnow() - since > MFA_STEP_TIME:
        return None
    method = pending.get("method")
    return user, pending.get("next"), method if method in METHODS else "password"


def complete_sign_in(user: User, target: str | None, method: str = "password") -> ResponseReturnValue:
    """The person proved who they are: a new session (of that method), the sign-in recorded, then home."""
    services.record_sign_in(user)
    start_session(user, method)
    actor = actors.person(user)  # signed in only now: they act on their own sign-in
    record("auth.sign_in", user, actor=actor, changes={"method": method} if method != "password" else None)
    if method == "break_glass":
        sso.record_break_glass(user, g.get("break_glass_how", "password and two-step code"), actor=actor)
    db.session.commit()
    return remember_account(redirect_after_post(target or home_for(user)), g.user_account)
