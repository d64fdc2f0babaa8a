"""The public confirm page of an email change, reached from the link sent to the new address.

Opening the link moves its token into the session and redirects to a URL without it (SECURITY R3),
so the token never sits in the history, a Referer or a log; the confirm form is shown there.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import actors, db
from portal.email_changes import queries, services
from portal.email_changes.forms import ConfirmEmailChangeForm
from portal.permissions import public
from portal.rate_limits import rate_limited
from portal.rendering import redirect_after_post, render

bp = Blueprint("email_change", __name__, url_prefix="/email-change")
SESSION_KEY = "email_change_token"
MAX_TOKEN_LENGTH = 100


@bp.get("/<token>")
@public
@rate_limited("GET")
def open_link(token: str) -> ResponseReturnValue:
    if len(token) <= MAX_TOKEN_LENGTH:  # a real one is 43 characters; nothing huge goes into the cookie
        session[SESSION_KEY] = token
    else:
        session.pop(SESSION_KEY, None)
    return redirect(url_for(".confirm"), 303)


@bp.route("", methods=["GET", "POST"])
@public
@rate_limited()
def confirm() -> ResponseReturnValue:
    token = session.get(SESSION_KEY)
    linked = queries.by_token(token) if isinstance(token, str) else None
    if linked is None:
        session.pop(SESSION_KEY, None)
        raise services.EmailChangeGone()
    signed_in = current_user if current_user.is_authenticated else None
    as_them = signed_in is not None and signed_in.id == linked.user.id
    form = ConfirmEmailChangeForm()
    context = {"form": form, "linked": linked, "as_them": as_them}
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("email_changes/confirm.html", "confirm_form", status=status, **context)
    if not as_them and not form.password.data:
        form.password.errors = ["Enter your password."]
        return render("email_changes/confirm.html", "confirm_form", status=422, **context)
    if not services.verify_person(linked, signed_in, form.password.data or "", form.code.data or ""):
        db.session.commit()  # the failure counts, and may have cancelled the change
        if linked.change.cancelled_at is not None:
            session.pop(SESSION_KEY, None)
            raise services.EmailChangeGone()
        return render(
            "email_changes/confirm.html", "confirm_form", status=401, **context, error="That did not match. Try again."
        )
    new_email = linked.change.new_email
    services.confirm_change(linked, actor=actors.person(linked.user))  # proved by verify_person just now
    db.session.commit()
    session.pop(SESSION_KEY, None)
    flash(f"Your email is now {new_email}.", "success")
    return redirect_after_post(url_for("me.profile") if as_them else url_for("auth.login"))
