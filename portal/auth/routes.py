"""Sign-up, sign-in and sign-out."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from portal import db
from portal.accounts.services import OwnerDetails, create_account
from portal.audit.services import record
from portal.auth import login_sessions, services
from portal.auth.forms import LoginForm, SignupForm
from portal.auth.redirects import safe_next
from portal.models import User
from portal.permissions import public, signed_in
from portal.rendering import redirect_after_post, render

bp = Blueprint("auth", __name__)

SIGN_IN_FAILED = "Invalid login or password."


def _home(user: User) -> str:
    return url_for("accounts.users.index", account_id=user.account_id)


def _sign_in(user: User) -> None:
    """A fresh session: the pre-sign-in cookie (and its CSRF token) is never reused."""
    session.clear()
    session.permanent = True
    token = login_sessions.start(user, request.remote_addr or "", request.user_agent.string)
    user.session_token = token  # type: ignore[attr-defined]
    login_user(user)


@bp.get("/")
@public
def index() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(_home(current_user))
    return redirect(url_for(".login"))


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(_home(current_user))
        return render("auth/login.html", form=form)
    form.validate_on_submit()  # CSRF was checked before the view; fields have no rules
    user = services.authenticate(form.login.data or "", form.password.data or "")
    if user is None:
        record("auth.sign_in_failed", changes={"login": (form.login.data or "")[:100]})
        db.session.commit()
        return render("auth/login.html", "login_form", status=401, form=form, error=SIGN_IN_FAILED)
    services.record_sign_in(user, form.password.data or "")
    _sign_in(user)
    record("auth.sign_in", user, actor=user)
    db.session.commit()
    return redirect_after_post(safe_next(form.next.data) or _home(user))


@bp.route("/signup", methods=["GET", "POST"])
@public
def signup() -> ResponseReturnValue:
    form = SignupForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("auth/signup.html", "signup_form", status=status, form=form)
    _account, owner = create_account(
        form.account_name.data,
        OwnerDetails(
            login=form.login.data,
            email=form.email.data,
            password=form.password.data,
            first_name=form.first_name.data,
            last_name=form.last_name.data,
        ),
    )
    _sign_in(owner)
    services.record_sign_in(owner, form.password.data)
    record("account.create", owner, actor=owner, changes={"account_name": form.account_name.data})
    db.session.commit()
    flash(f"Welcome! Your account {form.account_name.data} is ready.", "success")
    return redirect_after_post(_home(owner))


@bp.post("/logout")
@signed_in
def logout() -> ResponseReturnValue:
    login_sessions.end(g.login_session.id)
    record("auth.sign_out", current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for(".login"), 303)
