"""Signing in through the account's identity provider: the button's page, the start, the callback, and
the one-time link step (branch 3). Every failure is a 400 page with its reason and the correlation id."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from portal import actors, db
from portal.accounts import sign_in_names
from portal.actors import from_request
from portal.audit.services import record
from portal.auth import lockout, mfa
from portal.auth.redirects import safe_next
from portal.auth.sign_in import complete_sign_in, remember_account, start_mfa_step
from portal.db import utcnow
from portal.errors import NotFound
from portal.models import Account, SsoConnection, SsoIdentity, User
from portal.permissions import public
from portal.rate_limits import rate_limited
from portal.rendering import redirect_to, render
from portal.sso import services as sso
from portal.sso.failures import SsoFailure
from portal.sso.forms import LinkForm, StartForm

bp = Blueprint("sso", __name__, url_prefix="/a/<sign_in_name>/sso")
LINK_KEY = "sso_link"
FRESH_LOCAL = timedelta(minutes=10)


def _account(sign_in_name: str) -> Account:
    account = sign_in_names.account_named(sign_in_name)
    if account is None:
        raise NotFound("There is no account with that sign-in name.")
    return account


def _active_connection(account: Account) -> SsoConnection:
    connection = sso.connection_of(account.id)
    if connection is None or not connection.active:
        raise SsoFailure("Single sign-on is not set up for this account.", "inactive")
    return connection


def failed(account: Account | None, failure: SsoFailure, user: User | None = None) -> ResponseReturnValue:
    """The 400 page: what went wrong and the correlation id; the failure audited in the account it named."""
    db.session.rollback()
    if account is not None:
        record(
            "sso.sign_in_failed",
            user,
            account_id=account.id,
            actor=actors.person(user) if user is not None else actors.anonymous(),
            changes={"reason": failure.code, "detail": failure.reason[:300]},
        )
        db.session.commit()
    current_app.logger.info("SSO sign-in failed: %s (%s)", failure.code, failure.reason)
    return render(
        "sso/error.html",
        status=400,
        reason=failure.reason,
        reason_code=failure.code,
        correlation_id=g.get("correlation_id", ""),
        account=account,
    )


@bp.get("")
@public
def start_page(sign_in_name: str) -> ResponseReturnValue:
    """The "Continue with <provider>" page (the link emails give while SSO is on)."""
    account = _account(sign_in_name)
    connection = sso.connection_of(account.id)
    if connection is None or not connection.active:
        raise NotFound("Single sign-on is not set up for this account.")
    sso.allow_form_redirect(connection)
    return render(
        "sso/start.html", account=account, connection=connection, form=StartForm(next=request.args.get("next", ""))
    )


@bp.post("")
@public
def start(sign_in_name: str) -> ResponseReturnValue:
    """Begin a sign-in: a one-time request, then off to the provider."""
    account = sign_in_names.account_named(sign_in_name)
    try:
        if account is None:
            raise SsoFailure("There is no account with that sign-in name.", "no_account")
        connection = _active_connection(account)
        form = StartForm()
        form.validate_on_submit()
        url = sso.begin(connection, account, "sign_in", next_path=safe_next(form.next.data) or "")
    except SsoFailure as failure:
        return failed(account, failure)
    db.session.commit()
    return redirect(url, 303)


def begin_for_signed_in(
    account: Account, connection: SsoConnection, purpose: str, next_path: str
) -> ResponseReturnValue:
    """Start a test or a fresh sign-in for the signed-in admin (from the settings page)."""
    try:
        url = sso.begin(connection, account, purpose, current_user, next_path)
    except SsoFailure as failure:
        return failed(account, failure, current_user)
    db.session.commit()
    return redirect(url, 303)


@bp.get("/callback")
@public
def callback(sign_in_name: str) -> ResponseReturnValue:
    """The provider's answer: checked, then the person is resolved and signed in (or linked, or tested)."""
    account = sign_in_names.account_named(sign_in_name)
    user: User | None = None
    try:
        if account is None:
            raise SsoFailure("There is no account with that sign-in name.", "no_account")
        try:
            result = sso.finish(account, request.args.to_dict())
        except (SsoFailure, SQLAlchemyError):
            raise
        except Exception as error:  # anything the provider's answer makes a library raise: a 400, not a 500
            current_app.logger.exception("Unexpected error in the SSO callback")
            raise SsoFailure(
                f"The identity provider's answer could not be used ({type(error).__name__}).", "unexpected"
            ) from None
        connection = result.connection
        purpose = result.request.purpose
        if purpose in ("test", "reauth"):
            if not current_user.is_authenticated or current_user.id != result.request.user_id:
                raise SsoFailure(
                    "You were signed out while at the identity provider. Sign in and start again.", "signed_out"
                )
            user = current_user
            return _tested(account, connection, result) if purpose == "test" else _reauthenticated(connection, result)
        return _signed_in(account, connection, result)
    except SsoFailure as failure:
        db.session.commit()  # the state stays used even though the sign-in failed
        return failed(account, failure, user)


def _tested(account: Account, connection: SsoConnection, result: sso.Callback) -> ResponseReturnValue:
    sso.record_test(connection, account, result.claims, actor=from_request())
    db.session.commit()
    flash("The test passed: the claims your provider sent are below. You may now activate the connection.", "success")
    return redirect(url_for("accounts.sso.show", account_id=account.id), 303)


def _reauthenticated(connection: SsoConnection, result: sso.Callback) -> ResponseReturnValue:
    """A signed-in person's fresh sign-in through the provider: theirs, or linked now after a fresh password
    sign-in (the "fresh local sign-in" way to link)."""
    if not connection.active:
        raise SsoFailure("Single sign-on is not active for this account.", "inactive")
    claims = result.claims
    resolution = sso.resolve(connection, claims)
    mine = sso.identity_of(current_user.id)
    login_session = g.login_session
    if resolution.kind == "linked" and resolution.user is not None and resolution.user.id == current_user.id:
        identity = resolution.identity
    elif resolution.kind == "linked" or mine is not None:
        raise SsoFailure("That identity of the provider belongs to another user of this account.", "not_yours")
    elif login_session.auth_method == "sso" or utcnow() - login_session.authenticated_at > FRESH_LOCAL:
        raise SsoFailure(
            "To link your user to the provider, sign in with your password again first "
            "(within 10 minutes), then try again.",
            "not_fresh",
        )
    else:
        identity = sso.link(connection, current_user, claims, "fresh local sign-in", actor=from_request())
    assert identity is not None
    sso.after_sign_in(connection, identity, current_user, claims, actor=from_request())
    sso.mark_reauthenticated(login_session)
    db.session.commit()
    flash(f"You signed in again through {connection.display_name}.", "success")
    return redirect(safe_next(result.request.next_path) or url_for("me.profile"), 303)


def _signed_in(account: Account, connection: SsoConnection, result: sso.Callback) -> ResponseReturnValue:
    claims = result.claims
    resolution = sso.resolve(connection, claims)
    if resolution.kind == "refused":
        raise SsoFailure(resolution.reason, "refused")
    if resolution.kind == "needs_reauth":
        assert resolution.user is not None
        result.request.link_user_id = resolution.user.id
        result.request.link_claims = {k: v for k, v in claims.items() if k != "nonce"}
        session[LINK_KEY] = str(result.request.id)
        db.session.commit()
        return redirect(url_for(".link", sign_in_name=account.sign_in_name), 303)
    if resolution.kind == "linked":
        user, identity = resolution.user, resolution.identity
    elif resolution.kind == "invited":
        user = resolution.user
        assert user is not None
        sso.accept_invited(user, claims, actor=actors.person(user))
        identity = sso.link(connection, user, claims, "proven email", actor=actors.person(user))
    else:
        user = sso.create_jit(connection, claims)
        identity = sso.link(connection, user, claims, "jit", actor=actors.person(user))
    assert user is not None and identity is not None
    return _finish_sign_in(account, connection, identity, user, claims, result.request.next_path)


def _finish_sign_in(
    account: Account,
    connection: SsoConnection,
    identity: SsoIdentity,
    user: User,
    claims: dict[str, Any],
    next_path: str,
) -> ResponseReturnValue:
    sso.after_sign_in(connection, identity, user, claims, actor=actors.person(user))
    target = safe_next(next_path)
    if connection.require_portal_totp and user.mfa_enabled:
        start_mfa_step(user, target, "sso")
        db.session.commit()
        return remember_account(redirect_to(url_for("auth.login_mfa"), 303), account)
    return complete_sign_in(user, target, "sso")


@bp.route("/link", methods=["GET", "POST"])
@public
@rate_limited()
def link(sign_in_name: str) -> ResponseReturnValue:
    """Branch 3: the provider's email is an active user's; they prove it is them once (password, and their
    two-step code when they have one), then the identity is linked and they are signed in."""
    account = sign_in_names.account_named(sign_in_name)
    try:
        if account is None:
            raise SsoFailure("There is no account with that sign-in name.", "no_account")
        auth_request, user, connection = sso.pending_link(account, session.get(LINK_KEY))
    except SsoFailure as failure:
        return failed(account, failure)
    form = LinkForm()
    context: dict[str, Any] = {"account": account, "connection": connection, "user": user, "form": form}
    if request.method == "GET":
        return render("sso/link.html", **context)
    form.validate_on_submit()
    attempt = lockout.authenticate(
        account.sign_in_name, user.login, form.password.data or "", request.remote_addr or ""
    )
    ok = attempt.succeeded and attempt.user is not None and attempt.user.id == user.id
    code = form.code.data or ""
    if ok and user.mfa_enabled:
        ok = lockout.check_second_factor(
            user, lambda: bool(code) and (mfa.accept_code(user, code) or mfa.use_recovery_code(user, code))
        )
    if not ok:
        record(
            "sso.sign_in_failed",
            user,
            account_id=account.id,
            actor=actors.person(user),
            changes={"reason": "link_reauth_failed"},
        )
        db.session.commit()
        return render("sso/link.html", "link_form", status=401, error="That is not right. Try again.", **context)
    if not sso.take_link_step(auth_request, user):
        return failed(account, SsoFailure("This link step was used already.", "replayed"))
    claims = dict(auth_request.link_claims or {})
    session.pop(LINK_KEY, None)
    identity = sso.link(connection, user, claims, "password re-authentication", actor=actors.person(user))
    return _finish_sign_in(account, connection, identity, user, claims, auth_request.next_path)
