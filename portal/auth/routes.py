"""Sign-up, sign-in and sign-out."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, logout_user

from portal import actors, db
from portal.accounts import sign_in_names
from portal.accounts.services import OwnerDetails, create_account
from portal.audit.services import record
from portal.auth import account_finder, lockout, login_sessions, mfa, services, sign_in
from portal.auth import password_reset as password_reset_service
from portal.auth.forms import (
    FindAccountsForm,
    LoginForm,
    MfaStepForm,
    PasswordResetForm,
    PasswordResetRequestForm,
    SignupForm,
)
from portal.auth.redirects import safe_next
from portal.mail.outbox import external_url
from portal.models import Account
from portal.permissions import Permission, public, signed_in
from portal.rate_limits import rate_limited
from portal.rendering import redirect_after_post, render
from portal.roles.policy import held_permissions
from portal.sso import services as sso

bp = Blueprint("auth", __name__)

SIGN_IN_FAILED = "Invalid login or password."
SSO_REQUIRED = (
    "This account signs in through its identity provider: use the button below. "
    "The owner signs in with a password at the break-glass link."
)
MFA_FAILED = "That code is not valid. Use the current code from your app, or an unused recovery code."


@bp.get("/")
@public
def index() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(sign_in.home_for(current_user))
    return redirect(url_for(".login"))


@bp.route("/login", methods=["GET", "POST"])
@public
@rate_limited()
def login() -> ResponseReturnValue:
    return _login(None)


@bp.route("/a/<sign_in_name>/login", methods=["GET", "POST"])
@public
@rate_limited()
def account_login(sign_in_name: str) -> ResponseReturnValue:
    return _login(sign_in_name)


def _login(sign_in_name: str | None) -> ResponseReturnValue:
    """The sign-in form: the account (fixed by the URL, else typed, pre-filled with the last one
    used in this browser), the login or email, the password."""
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(sign_in.home_for(current_user))
        form.account.data = sign_in_name or request.args.get("account", request.cookies.get(sign_in.ACCOUNT_COOKIE, ""))
        return render("auth/login.html", form=form, **_login_context(sign_in_name))
    form.validate_on_submit()  # CSRF was checked before the view; fields have no rules
    if sign_in_name is not None:
        form.account.data = sign_in_name
    typed_account, typed_login = form.account.data or "", form.login.data or ""
    local = request.args.get("local") == "1"
    named = sign_in_names.account_named(typed_account)
    enforced = named is not None and sso.requires_sso(named.id)
    if enforced and not local:  # the same answer for everyone: this account signs in through its provider
        assert named is not None  # enforced names an account
        return render(
            "auth/login.html",
            "login_form",
            status=403,
            form=form,
            error=SSO_REQUIRED,
            **_login_context(sign_in_name or named.sign_in_name, named),
        )
    attempt = lockout.authenticate(typed_account, typed_login, form.password.data or "", request.remote_addr or "")
    method = "password"
    if enforced and attempt.succeeded and attempt.user is not None:
        method, attempt = _break_glass(attempt, form.sso_recovery_code.data or "")
    if not attempt.succeeded or attempt.user is None:
        if attempt.account is not None:  # seen only by the account the attempt named (nowhere when none)
            record(
                "auth.sign_in_failed",
                attempt.user,
                account_id=attempt.account.id,
                actor=actors.from_request(),
                changes={"login": typed_login[:100]},
            )
        db.session.commit()
        return render(
            "auth/login.html", "login_form", status=401, form=form, error=SIGN_IN_FAILED, **_login_context(sign_in_name)
        )
    user = attempt.user
    services.rehash_if_needed(user, form.password.data or "")
    target = safe_next(form.next.data)
    if user.mfa_enabled:
        # The password was right; the session is not signed in until the second factor is too.
        session.clear()
        sign_in.start_mfa_step(user, target, method)
        db.session.commit()
        return sign_in.remember_account(redirect_after_post(url_for(".login_mfa")), attempt.account)
    return sign_in.complete_sign_in(user, target, method)


def _break_glass(attempt: services.Attempt, recovery_code: str) -> tuple[str, services.Attempt]:
    """A right password while the account requires SSO: the owner goes on to their TOTP step (or gives one of
    the account's recovery codes); an admin needs a recovery code; anyone else fails like a wrong password."""
    user = attempt.user
    assert user is not None and attempt.account is not None
    if user.is_owner and user.mfa_enabled and not recovery_code:
        return "break_glass", attempt
    may_break_glass = user.is_owner or Permission.ACCOUNT_MANAGE in held_permissions([user.id])[user.id]
    if recovery_code and may_break_glass and sso.use_recovery_code(attempt.account.id, recovery_code, user):
        g.break_glass_how = "recovery code"
        return "break_glass", attempt
    return "password", services.Attempt(attempt.account, user, False)


def _login_context(sign_in_name: str | None, account: Account | None = None) -> dict[str, Any]:
    """Where the form posts, the account's name when the URL names one that exists, and its SSO connection."""
    local = request.args.get("local") == "1"
    if sign_in_name is None:
        return {
            "action": url_for(".login"),
            "fixed_account": None,
            "sso_connection": None,
            "local": False,
            "sso_required": False,
        }
    account = account or sign_in_names.account_named(sign_in_name)
    connection = sso.connection_of(account.id) if account is not None else None
    active = connection if connection is not None and connection.active else None
    if active is not None:
        sso.allow_form_redirect(active)
    kept: dict[str, Any] = {"local": "1"} if local else {}
    return {
        "action": url_for(".account_login", sign_in_name=sign_in_name, **kept),
        "fixed_account": account,
        "sign_in_name": sign_in_name,
        "sso_connection": active,
        "local": local,
        "sso_required": bool(active and active.require_sso),
    }


@bp.route("/login/mfa", methods=["GET", "POST"])
@public
@rate_limited()
def login_mfa() -> ResponseReturnValue:
    pending = sign_in.pending_mfa_user()
    if pending is None:
        session.pop("mfa_pending", None)
        flash("Please sign in again.", "info")
        return redirect(url_for(".login"))
    user, target, method = pending
    form = MfaStepForm()
    if request.method == "GET":
        return render("auth/login_mfa.html", form=form)
    form.validate_on_submit()
    code, recovery = (form.code.data or "").strip(), (form.recovery_code.data or "").strip()
    if lockout.check_second_factor(
        user,
        lambda: bool(
            (code and mfa.accept_code(user, code)) or (recovery and not code and mfa.use_recovery_code(user, recovery))
        ),
    ):
        if recovery and not code:
            record("auth.recovery_code_used", user, actor=actors.person(user))
        return sign_in.complete_sign_in(user, target, method)
    record("auth.mfa_failed", user, actor=actors.person(user))
    db.session.commit()
    return render("auth/login_mfa.html", "mfa_form", status=401, form=form, error=MFA_FAILED)


@bp.route("/signup", methods=["GET", "POST"])
@public
@rate_limited()
def signup() -> ResponseReturnValue:
    form = SignupForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("auth/signup.html", "signup_form", status=status, form=form)
    account, owner = create_account(
        form.account_name.data,
        OwnerDetails(
            login=form.login.data,
            email=form.email.data,
            password=form.password.data,
            first_name=form.first_name.data,
            last_name=form.last_name.data,
        ),
        sign_in_name=form.sign_in_name.data or None,
    )
    sign_in.start_session(owner)
    services.record_sign_in(owner)
    record(
        "account.create",
        owner,
        actor=actors.person(owner),
        changes={"account_name": form.account_name.data, "sign_in_name": account.sign_in_name},
    )
    db.session.commit()
    flash(
        f"Welcome! Your account {account.name} is ready. Its people sign in at "
        f"{external_url('auth.account_login', sign_in_name=account.sign_in_name)}",
        "success",
    )
    return sign_in.remember_account(redirect_after_post(sign_in.home_for(owner)), account)


@bp.post("/logout")
@signed_in
def logout() -> ResponseReturnValue:
    login_sessions.end(g.login_session.id)
    record("auth.sign_out", current_user, actor=actors.from_request())
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for(".login"), 303)


@bp.route("/password-reset", methods=["GET", "POST"])
@public
@rate_limited()
def password_reset() -> ResponseReturnValue:
    return _password_reset(None)


@bp.route("/a/<sign_in_name>/password-reset", methods=["GET", "POST"])
@public
@rate_limited()
def account_password_reset(sign_in_name: str) -> ResponseReturnValue:
    return _password_reset(sign_in_name)


def _password_reset(sign_in_name: str | None) -> ResponseReturnValue:
    """Ask for a reset link: the account (fixed by the URL, else typed), then the login or email."""
    form = PasswordResetRequestForm()
    if sign_in_name is not None:
        form.account.data = sign_in_name
    elif request.method == "GET":
        form.account.data = request.cookies.get(sign_in.ACCOUNT_COOKIE, "")
    action = (
        url_for(".account_password_reset", sign_in_name=sign_in_name)
        if sign_in_name is not None
        else url_for(".password_reset")
    )
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render(
            "auth/password_reset.html", "reset_form", status=status, form=form, action=action, sign_in_name=sign_in_name
        )
    password_reset_service.request_reset(form.account.data, form.login.data)
    db.session.commit()
    # The same answer whether or not the account and the person exist (L3).
    flash(
        "If that account has such a person, a link to choose a new password is on its way to their "
        "email address. It works for one hour.",
        "success",
    )
    return redirect_after_post(
        url_for(".account_login", sign_in_name=sign_in_name) if sign_in_name else url_for(".login")
    )


@bp.route("/login/find", methods=["GET", "POST"])
@public
@rate_limited()
def find_accounts() -> ResponseReturnValue:
    """Forgot which account: the sign-in links of every account holding the address, by email."""
    form = FindAccountsForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("auth/find_accounts.html", "find_form", status=status, form=form)
    account_finder.send_sign_in_links(form.email.data)
    db.session.commit()
    # The same answer whether or not any account holds the address (L3).
    flash("If that address belongs to any account, an email listing their sign-in links is on its way.", "success")
    return redirect_after_post(url_for(".login"))


# The link's token travels no further than its first request (SECURITY R3): it moves into the session and
# the form lives at a URL without it, so neither the Referer of the page's requests nor the history holds it.
RESET_TOKEN_KEY = "password_reset_token"


@bp.get("/password-reset/<token>")
@public
@rate_limited("GET")
def password_reset_choose(token: str) -> ResponseReturnValue:
    """The emailed link: a valid token goes into the session, then to the form at a token-less URL."""
    if password_reset_service.user_for_token(token) is None:
        session.pop(RESET_TOKEN_KEY, None)
        return render("auth/password_reset_invalid.html", status=410)
    session[RESET_TOKEN_KEY] = token
    return redirect(url_for(".password_reset_form"), 303)


@bp.route("/password-reset/choose", methods=["GET", "POST"])
@public
@rate_limited()
def password_reset_form() -> ResponseReturnValue:
    """Choose the new password, for the link opened in this browser (its token is in the session)."""
    kept = session.get(RESET_TOKEN_KEY)
    token = kept if isinstance(kept, str) else ""
    user = password_reset_service.user_for_token(token) if token else None
    if user is None:
        session.pop(RESET_TOKEN_KEY, None)
        return render("auth/password_reset_invalid.html", status=410)
    form = PasswordResetForm()
    form.password_context = [user.login, user.email]
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("auth/password_reset_choose.html", "choose_form", status=status, form=form)
    if password_reset_service.reset_password(token, str(form.password.data), actor=actors.person(user)) is None:
        session.pop(RESET_TOKEN_KEY, None)
        return render("auth/password_reset_invalid.html", status=410)
    db.session.commit()
    session.pop(RESET_TOKEN_KEY, None)
    # No automatic sign-in (M6): the new password, and the second factor if any, are asked for.
    flash("Your password was changed. Sign in with it now.", "success")
    return redirect_after_post(url_for(".login"))
