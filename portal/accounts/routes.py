"""The parent of every /accounts/<account_id>/… page: it takes the account id off the URL.

portal.access then checks that the signed-in person belongs to that account (404 if not).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.accounts import ownership
from portal.accounts.forms import AccountSettingsForm, TransferForm
from portal.actors import from_request
from portal.errors import Forbidden, NotFound
from portal.mail.outbox import external_url
from portal.permissions import Permission, require
from portal.rate_limits import rate_limited
from portal.rendering import redirect_after_post, render
from portal.uuids import parse_uuid

bp = Blueprint("accounts", __name__, url_prefix="/accounts/<uuid:account_id>")


@bp.url_value_preprocessor
def _take_account_id(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values is not None:
        g.account_id = values.pop("account_id")


@bp.url_defaults
def _add_account_id(_endpoint: str, values: dict[str, Any]) -> None:
    if "account_id" not in values and "account" in g:
        values["account_id"] = g.account.id


def _nest_feature_blueprints() -> None:
    """Every account feature lives under /accounts/<account_id>; nested once, at import."""
    from portal.audit.routes import bp as audit_bp
    from portal.groups.routes import bp as groups_bp
    from portal.invitations.routes import bp as invitations_bp
    from portal.jobs.routes import bp as jobs_bp
    from portal.mail.routes import bp as outbox_bp
    from portal.roles.assignment_routes import bp as user_roles_bp
    from portal.roles.routes import bp as roles_bp
    from portal.scim.settings_routes import bp as provisioning_bp
    from portal.sso.settings_routes import bp as sso_settings_bp
    from portal.users.routes import bp as users_bp

    for child in (
        users_bp,
        roles_bp,
        user_roles_bp,
        invitations_bp,
        outbox_bp,
        groups_bp,
        audit_bp,
        provisioning_bp,
        sso_settings_bp,
        jobs_bp,
    ):
        bp.register_blueprint(child)


_nest_feature_blueprints()


# --- the owner's account pages (issue 7) -------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"])
@require(Permission.ACCOUNT_MANAGE)
def settings() -> ResponseReturnValue:
    form = AccountSettingsForm(account=g.account)
    if not current_user.is_owner:  # shown, not editable: only the owner changes the sign-in name
        form.sign_in_name.data = g.account.sign_in_name
    sign_in_url = external_url("auth.account_login", sign_in_name=g.account.sign_in_name)
    if request.method == "GET" or not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("accounts/settings.html", "settings_form", status=status, form=form, sign_in_url=sign_in_url)
    ownership.update_settings(
        g.account, form.name.data, form.sign_in_name.data, form.require_mfa.data, actor=from_request()
    )
    db.session.commit()
    flash("The account's settings were saved.", "success")
    return redirect_after_post(url_for(".settings"))


def _transfer_context(form: TransferForm | None = None) -> dict[str, Any]:
    form = form or TransferForm()
    candidates = ownership.eligible_new_owners(g.account.id)
    form.new_owner_id.choices = [(str(u.id), f"{u.full_name} ({u.email})") for u in candidates]
    proposal = ownership.pending_transfer(g.account.id)
    proposed = ownership.proposed_owner(proposal)
    return {"form": form, "candidates": candidates, "proposal": proposal, "proposed": proposed}


@bp.get("/transfer")
@require(Permission.ACCOUNT_MANAGE)
def transfer() -> ResponseReturnValue:
    if not current_user.is_owner:
        raise Forbidden("Only the owner can hand over the account.")
    return render("accounts/transfer.html", "transfer", **_transfer_context())


@bp.post("/transfer")
@require(Permission.ACCOUNT_MANAGE)
@rate_limited()
def propose_transfer() -> ResponseReturnValue:
    if not current_user.is_owner:
        raise Forbidden("Only the owner can hand over the account.")
    form = TransferForm()
    context = _transfer_context(form)
    if not form.validate_on_submit():
        return render("accounts/transfer.html", "transfer", status=422, **context)
    new_owner_id = parse_uuid(form.new_owner_id.data)
    if new_owner_id is None:
        raise NotFound("No such user in this account.")
    ownership.propose_transfer(current_user, new_owner_id, form.current_password.data, actor=from_request())
    db.session.commit()
    flash("The proposal was sent. Nothing changes until they accept it.", "success")
    return redirect_after_post(url_for(".transfer"))


@bp.post("/transfer/cancel")
@require(Permission.ACCOUNT_MANAGE)
def cancel_transfer() -> ResponseReturnValue:
    if not current_user.is_owner:
        raise Forbidden("Only the owner can hand over the account.")
    ownership.cancel_transfer(current_user, actor=from_request())
    db.session.commit()
    flash("The proposal was cancelled.", "success")
    return redirect_after_post(url_for(".transfer"))
