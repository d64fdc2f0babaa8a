"""A user's roles: grant, take away, mark default (/accounts/<account_id>/users/<user_id>/roles).

The panel these routes answer htmx with is the one the user page includes
(templates/roles/_user_roles.html, block `user_roles`, context `roles_panel` and `user`, built by
portal.roles.queries.user_roles_panel). Plain form posts get a 303 to the user page.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from flask import Blueprint, flash, g, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.actors import from_request
from portal.models import User
from portal.permissions import Permission, require
from portal.rendering import render, wants_fragment
from portal.roles import queries, services
from portal.roles.forms import DefaultFlagForm, UserRoleForm
from portal.templating import until_day

bp = Blueprint("user_roles", __name__, url_prefix="/users/<uuid:user_id>/roles")


def user_page(user_id: uuid.UUID) -> str:
    """The user's page, where the roles panel lives."""
    return url_for("accounts.users.show", user_id=user_id)


def _panel(user: User, status: int = 200, notice: str | None = None, error: str | None = None) -> ResponseReturnValue:
    panel = replace(
        queries.user_roles_panel(g.account.id, user, current_user, g.permissions), notice=notice, error=error
    )
    return render("roles/user_roles.html", "user_roles", status=status, user=user, roles_panel=panel)


def _answer(user: User, notice: str) -> ResponseReturnValue:
    """The refreshed panel for htmx; a flash and a 303 to the user page for a plain form."""
    if wants_fragment():
        return _panel(user, notice=notice)
    flash(notice, "success")
    return redirect(user_page(user.id), 303)


@bp.get("")
@require(Permission.USERS_READ, Permission.ROLES_READ)
def index(user_id: uuid.UUID) -> ResponseReturnValue:
    return _panel(queries.user_in_account(g.account.id, user_id))


@bp.post("")
@require(Permission.ROLES_WRITE)
def add(user_id: uuid.UUID) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    form = UserRoleForm()
    if not form.validate_on_submit():
        errors = form.role_id.errors or form.expires_on.errors
        return _panel(user, status=422, error=errors[0] if errors else "Choose a role.")
    role = queries.role_in_account(g.account.id, form.role_uuid())
    assignment = services.assign_role(
        user, role, is_default=bool(form.default.data), expires_at=form.expiry(), actor=from_request()
    )
    db.session.commit()
    until = f" until {until_day(assignment.expires_at)}" if assignment.expires_at else ""
    return _answer(
        user, f"{user.full_name} holds the role {role.name}{' (default)' if form.default.data else ''}{until}."
    )


@bp.post("/<uuid:role_id>/delete")
@require(Permission.ROLES_WRITE)
def remove(user_id: uuid.UUID, role_id: uuid.UUID) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    role = queries.role_in_account(g.account.id, role_id)
    services.remove_role(user, role, actor=from_request())
    db.session.commit()
    return _answer(user, f"{user.full_name} no longer holds the role {role.name}.")


@bp.post("/<uuid:role_id>/default")
@require(Permission.ROLES_WRITE)
def toggle_default(user_id: uuid.UUID, role_id: uuid.UUID) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    role = queries.role_in_account(g.account.id, role_id)
    form = DefaultFlagForm()
    form.validate_on_submit()  # CSRF was checked before the view; `default` is optional
    assignment = services.set_default(user, role, form.wanted(), actor=from_request())
    db.session.commit()
    state = "a default role" if assignment.is_default else "no longer a default role"
    return _answer(user, f"{role.name} is {state} of {user.full_name}.")
