"""/accounts/<account_id>/settings/sso: connect the account to its identity provider (account:manage)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, flash, g, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db, references
from portal.actors import from_request
from portal.auth import login_sessions
from portal.errors import Conflict
from portal.models import Group, Role, SsoConnection
from portal.permissions import Permission, require
from portal.rendering import redirect_after_post, render
from portal.sso import services as sso
from portal.sso.forms import AllowAdminGroupsForm, MappingForm, SsoSettingsForm, StartForm
from portal.sso.routes import begin_for_signed_in
from portal.users import queries as user_queries

bp = Blueprint("sso", __name__, url_prefix="/settings/sso")


def _connection() -> SsoConnection:
    connection = sso.connection_of(g.account.id)
    if connection is None:
        raise Conflict("Save the provider's settings first.")
    return connection


def _mapping_form(form: MappingForm | None = None) -> MappingForm:
    form = form or MappingForm()
    groups = references.names_in(Group, g.account.id)
    roles = references.names_in(Role, g.account.id)
    form.group_id.choices = [(str(group.id), group.name) for group in groups]
    form.role_id.choices = [("", "No role")] + [(str(role.id), role.name) for role in roles]
    return form


def _context(form: SsoSettingsForm | None = None, **extra: object) -> dict[str, Any]:
    connection = sso.connection_of(g.account.id)
    if form is None:
        form = SsoSettingsForm(obj=connection) if connection is not None else SsoSettingsForm()
        if connection is not None:
            jit = connection.jit_enabled
            form.jit.data = "default" if jit is None else "on" if jit else "off"
    mappings = sso.group_mappings(connection) if connection is not None else []
    if connection is not None and connection.discovery_url:
        sso.allow_form_redirect(connection)
    fresh = connection is not None and sso.has_fresh_sso_sign_in(g.get("login_session"), connection, current_user)
    return {
        "form": form,
        "connection": connection,
        "redirect_uri": sso.redirect_uri(g.account),
        "jit_default": sso.jit_default(g.account),
        "scim_connected": sso.scim_connected(g.account.id),
        "mappings": mappings,
        "mapping_form": _mapping_form(),
        "admin_groups_form": AllowAdminGroupsForm(allow=connection.allow_admin_groups if connection else False),
        "identities": sso.linked_identities(connection) if connection is not None else [],
        "fresh_sso": fresh,
        "start_form": StartForm(),
        "recovery_codes_left": sso.remaining_recovery_codes(g.account.id),
        "break_glass_url": url_for("auth.account_login", sign_in_name=g.account.sign_in_name, local="1"),
        "owner_has_mfa": (owner := user_queries.owner_of(g.account.id)) is not None and owner.mfa_enabled,
        **extra,
    }


@bp.get("")
@require(Permission.ACCOUNT_MANAGE)
def show() -> ResponseReturnValue:
    return render("sso/settings.html", **_context())


@bp.post("")
@require(Permission.ACCOUNT_MANAGE)
def save() -> ResponseReturnValue:
    form = SsoSettingsForm()
    connection = sso.connection_of(g.account.id)
    if (
        form.validate_on_submit()
        and not form.client_secret.data
        and (connection is None or not connection.client_secret_sealed)
    ):
        form.client_secret.errors = ["Paste the client secret."]
        return render("sso/settings.html", "sso_form", status=422, **_context(form))
    if not form.validate_on_submit():
        return render("sso/settings.html", "sso_form", status=422, **_context(form))
    sso.save_settings(
        g.account,
        sso.ProviderSettings(
            display_name=form.display_name.data,
            discovery_url=form.discovery_url.data,
            client_id=form.client_id.data,
            client_secret=form.client_secret.data or "",
            session_hours=form.session_hours.data,
            require_portal_totp=form.require_portal_totp.data,
            jit=form.jit.data,
            authoritative_domains=form.authoritative_domains.data or "",
            groups_claim=form.groups_claim.data or "",
        ),
        actor=from_request(),
    )
    db.session.commit()
    flash("The single sign-on settings were saved.", "success")
    return redirect_after_post(url_for(".show"))


@bp.post("/test")
@require(Permission.ACCOUNT_MANAGE)
def test() -> ResponseReturnValue:
    """A real sign-in by this admin at the provider; the callback shows the claims received."""
    return begin_for_signed_in(g.account, _connection(), "test", url_for(".show"))


@bp.post("/reauth")
@require(Permission.ACCOUNT_MANAGE)
def reauth() -> ResponseReturnValue:
    """A fresh sign-in through the connection (needed to require SSO); links a freshly signed-in admin."""
    connection = _connection()
    if not connection.active:
        raise Conflict("Activate the connection first.")
    return begin_for_signed_in(g.account, connection, "reauth", url_for(".show"))


@bp.post("/activate")
@require(Permission.ACCOUNT_MANAGE)
def activate() -> ResponseReturnValue:
    sso.activate(_connection(), g.account, actor=from_request())
    db.session.commit()
    flash("Single sign-on is active: the sign-in page offers it.", "success")
    return redirect_after_post(url_for(".show"))


@bp.post("/deactivate")
@require(Permission.ACCOUNT_MANAGE)
def deactivate() -> ResponseReturnValue:
    sso.deactivate(_connection(), g.account, actor=from_request())
    db.session.commit()
    flash("Single sign-on is off.", "success")
    return redirect_after_post(url_for(".show"))


@bp.post("/require")
@require(Permission.ACCOUNT_MANAGE)
def require_sso() -> ResponseReturnValue:
    codes = sso.enable_requirement(_connection(), g.account, g.get("login_session"), actor=from_request())
    db.session.commit()
    return render(
        "sso/recovery_codes.html",
        codes=codes,
        break_glass_url=url_for("auth.account_login", sign_in_name=g.account.sign_in_name, local="1"),
    )


@bp.post("/recovery-codes")
@require(Permission.ACCOUNT_MANAGE)
def recovery_codes() -> ResponseReturnValue:
    """Ten new recovery codes (the old ones die) while SSO stays required; needs a fresh SSO sign-in."""
    codes = sso.regenerate_recovery_codes(_connection(), g.account, g.get("login_session"), actor=from_request())
    db.session.commit()
    return render(
        "sso/recovery_codes.html",
        codes=codes,
        regenerated=True,
        break_glass_url=url_for("auth.account_login", sign_in_name=g.account.sign_in_name, local="1"),
    )


@bp.post("/unrequire")
@require(Permission.ACCOUNT_MANAGE)
def unrequire() -> ResponseReturnValue:
    sent = sso.disable_requirement(_connection(), g.account, actor=from_request())
    db.session.commit()
    flash(
        f"Single sign-on is no longer required. {sent} people without a password were emailed a link to choose one.",
        "success",
    )
    return redirect_after_post(url_for(".show"))


@bp.post("/admin-groups")
@require(Permission.ACCOUNT_MANAGE)
def admin_groups() -> ResponseReturnValue:
    form = AllowAdminGroupsForm()
    form.validate_on_submit()
    sso.set_allow_admin_groups(_connection(), g.account, bool(form.allow.data), actor=from_request())
    db.session.commit()
    flash("Saved.", "success")
    return redirect_after_post(url_for(".show"))


@bp.post("/mappings")
@require(Permission.ACCOUNT_MANAGE)
def add_mapping() -> ResponseReturnValue:
    connection = _connection()
    form = _mapping_form(MappingForm())
    if not form.validate_on_submit():
        return render("sso/settings.html", "mappings", status=422, **_context(mapping_form=form))
    group = references.one_in_account(Group, g.account.id, form.group_id.data)
    role = references.one_in_account(Role, g.account.id, form.role_id.data) if form.role_id.data else None
    sso.add_mapping(connection, g.account, form.claim_value.data, group, role, actor=from_request())
    db.session.commit()
    flash("The mapping was added; it applies at each sign-in.", "success")
    return redirect_after_post(url_for(".show"))


@bp.post("/mappings/<uuid:mapping_id>/delete")
@require(Permission.ACCOUNT_MANAGE)
def remove_mapping(mapping_id: uuid.UUID) -> ResponseReturnValue:
    mapping = sso.mapping_in_account(g.account.id, mapping_id)
    sso.remove_mapping(mapping, g.account, actor=from_request())
    db.session.commit()
    flash("The mapping was removed.", "success")
    return redirect_after_post(url_for(".show"))


@bp.post("/identities/<uuid:user_id>/unlink")
@require(Permission.ACCOUNT_MANAGE)
def unlink(user_id: uuid.UUID) -> ResponseReturnValue:
    from portal.roles.policy import ensure_may_act_on

    user = user_queries.user_in_account(g.account.id, user_id)
    if user.id != current_user.id:
        ensure_may_act_on(current_user, g.permissions, user)
    sso.unlink(user, actor=from_request())
    login_sessions.end_all(user.id, keep=g.login_session.id if user.id == current_user.id else None)
    db.session.commit()
    flash(f"{user.full_name}'s identity was unlinked; they were signed out.", "success")
    return redirect_after_post(url_for(".show"))
