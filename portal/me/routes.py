"""The signed-in person's own pages: profile, password, MFA, sessions, API keys, active roles."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import Blueprint, flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, logout_user
from markupsafe import Markup

from portal import db
from portal.accounts import ownership
from portal.actors import from_request
from portal.audit.services import record
from portal.auth import mfa
from portal.auth.passwords import verify_password
from portal.auth.redirects import safe_next
from portal.db import utcnow
from portal.email_changes import queries as email_change_queries
from portal.email_changes import services as email_changes
from portal.errors import Conflict, Invalid
from portal.me import credentials, services
from portal.me import profile as profile_service
from portal.me.forms import (
    ApiKeyForm,
    MfaConfirmForm,
    MfaDisableForm,
    PasswordChangeForm,
    ProfileForm,
    ReauthForm,
    RecoveryCodesForm,
)
from portal.permissions import Permission, signed_in
from portal.rate_limits import rate_limited
from portal.rendering import redirect_after_post, redirect_or_render, render, wants_fragment
from portal.roles.queries import held_roles
from portal.sso import services as sso
from portal.sso.routes import begin_for_signed_in

bp = Blueprint("me", __name__, url_prefix="/me")


@bp.get("/roles")
@signed_in
def roles() -> ResponseReturnValue:
    return render(
        "me/roles.html", "my_roles", held=held_roles(current_user.id), active=set(g.login_session.active_role_ids)
    )


def _set_active(role_id: uuid.UUID, active: bool) -> ResponseReturnValue:
    assignment = services.set_role_active(g.login_session, current_user, role_id, active, actor=from_request())
    db.session.commit()
    flash(f"{assignment.role.name} is {'active' if active else 'inactive'} for this session.", "success")
    # A whole page, even for htmx: the navigation depends on the active roles.
    return redirect_after_post(url_for(".roles"))


@bp.post("/roles/<uuid:role_id>/activate")
@signed_in
def activate_role(role_id: uuid.UUID) -> ResponseReturnValue:
    return _set_active(role_id, True)


@bp.post("/roles/<uuid:role_id>/deactivate")
@signed_in
def deactivate_role(role_id: uuid.UUID) -> ResponseReturnValue:
    return _set_active(role_id, False)


# --- profile, password, MFA, sessions, API keys (issue 7) --------------------------------------------

RECENT_SIGN_IN = timedelta(minutes=10)


def _needs_recent_sign_in() -> ResponseReturnValue | None:
    """Sensitive actions want a sign-in from the last ten minutes (SECURITY S6); else the re-auth page."""
    if utcnow() - g.login_session.authenticated_at <= RECENT_SIGN_IN:
        return None
    flash("Please confirm it is you before this change.", "info")
    return redirect_after_post(url_for(".reauth", next=request.full_path.rstrip("?")))


def _profile_context(form: ProfileForm) -> dict[str, object]:
    return {
        "form": form,
        "offer": ownership.transfer_offered_to(current_user),
        "pending_email": email_change_queries.pending_email(current_user.id),
    }


@bp.route("", methods=["GET", "POST"])
@signed_in
def profile() -> ResponseReturnValue:
    form = ProfileForm(obj=current_user)
    if request.method == "GET" or not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("me/profile.html", "profile_form", status=status, **_profile_context(form))
    if form.email.data != current_user.email and (reauth := _needs_recent_sign_in()) is not None:
        return reauth  # nothing is saved: the whole form is sent again after re-authenticating
    saved = profile_service.update_my_profile(
        current_user, form.profile_fields(), form.email.data, actor=from_request()
    )
    db.session.commit()
    messages = (["Your profile was saved."] if saved.changes else []) + (
        [email_changes.pending_message(saved.email_change)] if saved.email_change else []
    )
    flash(" ".join(messages) or "Nothing changed.", "success")
    return redirect_after_post(url_for(".profile"))


@bp.post("/email-change/cancel")
@signed_in
@rate_limited()
def cancel_email_change() -> ResponseReturnValue:
    change = email_changes.cancel_change(current_user, actor=from_request())
    db.session.commit()
    flash(f"The change of your email to {change.new_email} was cancelled; its link no longer works.", "success")
    return redirect_or_render(
        url_for(".profile"),
        "me/profile.html",
        "pending_email",
        **_profile_context(ProfileForm(obj=current_user, formdata=None)),
    )


@bp.route("/password", methods=["GET", "POST"])
@signed_in
@rate_limited()
def password() -> ResponseReturnValue:
    form = PasswordChangeForm(user=current_user)
    if request.method == "GET" or not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("me/password.html", "password_form", status=status, form=form)
    credentials.change_password(
        current_user, form.current_password.data, form.password.data, g.login_session.id, actor=from_request()
    )
    db.session.commit()
    flash("Your password was changed; your other sessions were signed out.", "success")
    return redirect_after_post(url_for(".profile"))


def _enrolment_secret() -> str:
    """The secret being enrolled, kept sealed in the session until a code confirms it."""
    sealed = session.get("mfa_enrol")
    secret = mfa.unseal(sealed) if sealed else None
    if secret is None:
        secret = mfa.new_secret()
        session["mfa_enrol"] = mfa.seal(secret)
    return secret


def _mfa_context(**extra: object) -> dict[str, Any]:
    """What the page shows; its forms start empty (a code just used never fills the next form), except
    the one passed in `extra` with its errors."""
    context: dict[str, object] = {"remaining": mfa.remaining_recovery_codes(current_user.id)}
    if not current_user.mfa_enabled:
        secret = _enrolment_secret()
        uri = mfa.provisioning_uri(secret, current_user, g.user_account.name)
        context.update(secret=secret, qr=Markup(mfa.qr_svg(uri)), confirm_form=MfaConfirmForm(formdata=None))
    else:
        context.update(disable_form=MfaDisableForm(formdata=None), codes_form=RecoveryCodesForm(formdata=None))
    return {**context, **extra}


@bp.get("/mfa")
@signed_in
def mfa_page() -> ResponseReturnValue:
    return render("me/mfa.html", "mfa", **_mfa_context())


@bp.post("/mfa")
@signed_in
@rate_limited()
def mfa_confirm() -> ResponseReturnValue:
    if (reauth := _needs_recent_sign_in()) is not None:
        return reauth
    form = MfaConfirmForm()
    if current_user.mfa_enabled or not form.validate_on_submit():
        return render("me/mfa.html", "mfa", status=422, **_mfa_context(confirm_form=form))
    try:
        codes = credentials.confirm_mfa(
            current_user, session.get("mfa_enrol", ""), form.code.data, g.login_session.id, actor=from_request()
        )
    except Invalid as error:
        form.code.errors = [error.message]
        return render("me/mfa.html", "mfa", status=422, **_mfa_context(confirm_form=form))
    session.pop("mfa_enrol", None)
    db.session.commit()
    flash("Two-step sign-in is on. Keep your recovery codes somewhere safe.", "success")
    return render("me/mfa.html", "mfa", **_mfa_context(new_codes=codes))


@bp.post("/mfa/disable")
@signed_in
@rate_limited()
def mfa_disable() -> ResponseReturnValue:
    if (reauth := _needs_recent_sign_in()) is not None:
        return reauth
    form = MfaDisableForm()
    if not form.validate_on_submit():
        return render("me/mfa.html", "mfa", status=422, **_mfa_context(disable_form=form))
    if g.user_account.require_mfa:
        raise Invalid("Your account requires two-step sign-in; it cannot be turned off.")
    try:
        credentials.disable_mfa(current_user, form.current_password.data, form.code.data, actor=from_request())
    except Invalid as error:
        db.session.commit()  # a used code stays used
        form.code.errors = [error.message]
        return render("me/mfa.html", "mfa", status=422, **_mfa_context(disable_form=form))
    db.session.commit()
    flash("Two-step sign-in is off.", "success")
    return redirect_after_post(url_for(".mfa_page"))


@bp.post("/mfa/recovery-codes")
@signed_in
@rate_limited()
def mfa_recovery_codes() -> ResponseReturnValue:
    if (reauth := _needs_recent_sign_in()) is not None:
        return reauth
    form = RecoveryCodesForm()
    if not current_user.mfa_enabled or not form.validate_on_submit():
        return render("me/mfa.html", "mfa", status=422, **_mfa_context(codes_form=form))
    try:
        codes = credentials.regenerate_recovery_codes(current_user, form.code.data, actor=from_request())
    except Invalid as error:
        form.code.errors = [error.message]
        return render("me/mfa.html", "mfa", status=422, **_mfa_context(codes_form=form))
    db.session.commit()
    flash("New recovery codes are ready; the old ones no longer work.", "success")
    return render("me/mfa.html", "mfa", **_mfa_context(new_codes=codes))


def _reauth_page(form: ReauthForm, status: int = 200, **extra: object) -> ResponseReturnValue:
    """The page: the password (and code) form for those who have one and may use it, and "Confirm with
    <provider>" for those whose identity is linked to the account's active connection."""
    connection = sso.reauth_connection(current_user)
    if connection is not None:
        sso.allow_form_redirect(connection)  # the button's POST is answered with a redirect to the provider
    password_allowed = bool(current_user.password_hash) and sso.password_refusal(current_user) is None
    return render(
        "me/reauth.html",
        "reauth_form",
        status=status,
        form=form,
        sso_connection=connection,
        password_allowed=password_allowed,
        **extra,
    )


@bp.route("/reauth", methods=["GET", "POST"])
@signed_in
@rate_limited()
def reauth() -> ResponseReturnValue:
    form = ReauthForm()
    target = safe_next(request.args.get("next")) or url_for(".profile")
    if request.method == "POST" and (refusal := sso.password_refusal(current_user)) is not None:
        return _reauth_page(form, status=403, error=refusal)
    if request.method == "GET" or not form.validate_on_submit():
        return _reauth_page(form, status=422 if request.method == "POST" else 200)
    ok = verify_password(current_user.password_hash, form.password.data)
    if ok and current_user.mfa_enabled:
        ok = mfa.accept_code(current_user, form.code.data or "")
    if not ok:
        record("me.reauth_failed", current_user, actor=from_request())
        db.session.commit()
        return _reauth_page(form, status=401, error="That did not match. Try again.")
    g.login_session.authenticated_at = utcnow()
    db.session.commit()
    return redirect_after_post(target)


@bp.post("/reauth/sso")
@signed_in
@rate_limited()
def reauth_sso() -> ResponseReturnValue:
    """Confirm it is you through the account's identity provider: a fresh sign-in there (prompt=login,
    max_age=0); its callback marks this session freshly authenticated and comes back to `next`."""
    connection = sso.reauth_connection(current_user)
    if connection is None:
        raise Conflict("Your user is not linked to an active single sign-on connection: confirm with your password.")
    target = safe_next(request.args.get("next")) or url_for(".profile")
    return begin_for_signed_in(g.user_account, connection, "reauth", target)


@bp.get("/sessions")
@signed_in
def sessions() -> ResponseReturnValue:
    return render("me/sessions.html", "my_sessions", sessions=credentials.my_sessions(current_user.id))


@bp.post("/sessions/<uuid:session_id>/end")
@signed_in
def end_session(session_id: uuid.UUID) -> ResponseReturnValue:
    credentials.end_session(current_user, session_id, actor=from_request())
    db.session.commit()
    if session_id == g.login_session.id:
        logout_user()
        session.clear()
        return redirect_after_post(url_for("auth.login"))
    flash("That session was signed out.", "success")
    return redirect_or_render(
        url_for(".sessions"), "me/sessions.html", "my_sessions", sessions=credentials.my_sessions(current_user.id)
    )


@bp.post("/sessions/end-others")
@signed_in
def end_other_sessions() -> ResponseReturnValue:
    credentials.end_other_sessions(current_user, g.login_session.id, actor=from_request())
    db.session.commit()
    flash("Every other session was signed out.", "success")
    return redirect_or_render(
        url_for(".sessions"), "me/sessions.html", "my_sessions", sessions=credentials.my_sessions(current_user.id)
    )


def _api_keys_page(form: ApiKeyForm, status: int = 200, new_key: str | None = None) -> ResponseReturnValue:
    """The keys page: the form (scopes offered: what the person holds, ticked by default) and the keys."""
    held = credentials.grantable_scopes(current_user)
    if not form.is_submitted() or new_key:
        form.scopes.data = sorted(p.value for p in held)
    return render(
        "me/api_keys.html",
        "api_keys",
        status=status,
        form=form,
        new_key=new_key,
        offered=[p for p in Permission if p in held],
        keys=credentials.my_api_keys(current_user.id),
    )


@bp.get("/api-keys")
@signed_in
def api_keys() -> ResponseReturnValue:
    return _api_keys_page(ApiKeyForm())


@bp.post("/api-keys")
@signed_in
def create_api_key() -> ResponseReturnValue:
    if (reauth := _needs_recent_sign_in()) is not None:
        return reauth
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _api_keys_page(form, status=422)
    expires = datetime.combine(form.expires_on.data, time.min, tzinfo=UTC) if form.expires_on.data else None
    try:
        key = credentials.create_api_key(
            current_user, form.name.data, expires, form.chosen_scopes(), actor=from_request()
        )
    except Invalid as refusal:  # a permission the person does not hold
        form.scopes.errors = [refusal.message]
        return _api_keys_page(form, status=422)
    db.session.commit()
    # Shown once, now: only its hash is kept.
    return _api_keys_page(ApiKeyForm(formdata=None), new_key=key)


@bp.get("/api-keys/<uuid:key_id>/revoke")
@signed_in
def confirm_revoke_api_key(key_id: uuid.UUID) -> ResponseReturnValue:
    """The Revoke button without JavaScript: ask first."""
    key = credentials.own_api_key(current_user, key_id)
    return render(
        "confirm.html",
        question=f"Revoke the API key {key.name}?",
        detail="Whatever uses it stops working at once. This cannot be undone.",
        action=url_for(".revoke_api_key", key_id=key.id),
        button=f"Revoke {key.name}",
        back=url_for(".api_keys"),
        crumbs=[("API keys", url_for(".api_keys")), ("Revoke", None)],
    )


@bp.post("/api-keys/<uuid:key_id>/revoke")
@signed_in
def revoke_api_key(key_id: uuid.UUID) -> ResponseReturnValue:
    key = credentials.revoke_api_key(current_user, key_id, actor=from_request())
    db.session.commit()
    flash(f"The key {key.name} was revoked.", "success")
    if not wants_fragment():  # a plain form: back to the page (303); htmx: the section in place
        return redirect(url_for(".api_keys"), 303)
    return _api_keys_page(ApiKeyForm(formdata=None))


@bp.post("/ownership/accept")
@signed_in
def accept_ownership() -> ResponseReturnValue:
    ownership.accept_transfer(current_user, actor=from_request())
    db.session.commit()
    flash(f"You are now the owner of {g.user_account.name}.", "success")
    return redirect_after_post(url_for(".profile"))


@bp.post("/ownership/decline")
@signed_in
def decline_ownership() -> ResponseReturnValue:
    ownership.decline_transfer(current_user, actor=from_request())
    db.session.commit()
    flash("You declined the ownership.", "success")
    return redirect_after_post(url_for(".profile"))
