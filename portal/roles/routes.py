"""The account's roles: list, create, show, edit, delete (/accounts/<account_id>/roles)."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, g, request, url_for
from flask.typing import ResponseReturnValue

from portal import db
from portal.actors import from_request
from portal.errors import Invalid
from portal.permissions import Permission, require
from portal.rendering import redirect_after_post, render
from portal.roles import queries, services
from portal.roles.forms import RoleEditForm, RoleForm
from portal.versioning import StaleEdit

bp = Blueprint("roles", __name__, url_prefix="/roles")


@bp.get("")
@require(Permission.ROLES_READ)
def index() -> ResponseReturnValue:
    rows = queries.roles_with_member_counts(g.account.id)
    changeable = {row.role.id for row in rows if services.refusal_to_change(row.role, g.permissions) is None}
    return render("roles/index.html", "roles", rows=rows, changeable=changeable)


@bp.get("/new")
@require(Permission.ROLES_WRITE)
def new() -> ResponseReturnValue:
    return render("roles/new.html", form=RoleForm(account_id=g.account.id))


@bp.post("")
@require(Permission.ROLES_WRITE)
def create() -> ResponseReturnValue:
    form = RoleForm(account_id=g.account.id)
    if not form.validate_on_submit():
        return render("roles/new.html", "role_form", status=422, form=form)
    role = services.create_role(
        g.account.id,
        name=form.name.data,
        description=form.description.data or "",
        permissions=form.chosen_permissions(),
        actor=from_request(),
    )
    db.session.commit()
    flash(f"Role {role.name} created.", "success")
    return redirect_after_post(url_for(".show", role_id=role.id))


@bp.get("/<uuid:role_id>")
@require(Permission.ROLES_READ)
def show(role_id: uuid.UUID) -> ResponseReturnValue:
    role = queries.role_in_account(g.account.id, role_id)
    permissions = queries.in_catalogue_order(queries.permissions_of(role))
    return render(
        "roles/show.html",
        "members",
        role=role,
        permissions=permissions,
        members=queries.role_members(role, request.args),
        refusal=services.refusal_to_change(role, g.permissions),
    )


@bp.get("/<uuid:role_id>/edit")
@require(Permission.ROLES_WRITE)
def edit(role_id: uuid.UUID) -> ResponseReturnValue:
    role = queries.role_in_account(g.account.id, role_id)
    services.ensure_may_change(role, g.permissions)
    form = RoleEditForm(
        account_id=g.account.id,
        role_id=role.id,
        data={
            "name": role.name,
            "description": role.description,
            "permissions": list(role.permissions),
            "version": role.version,
        },
    )
    return render("roles/edit.html", role=role, form=form)


@bp.post("/<uuid:role_id>/edit")
@require(Permission.ROLES_WRITE)
def update(role_id: uuid.UUID) -> ResponseReturnValue:
    role = queries.role_in_account(g.account.id, role_id)
    services.ensure_may_change(role, g.permissions)
    form = RoleEditForm(account_id=g.account.id, role_id=role.id)
    if not form.validate_on_submit():
        return render("roles/edit.html", "role_form", status=422, role=role, form=form)
    try:
        services.update_role(
            role,
            name=form.name.data,
            description=form.description.data or "",
            permissions=form.chosen_permissions(),
            expected_version=form.version.data,
            actor=from_request(),
        )
    except Invalid as refusal:  # the lock-out rule, checked before anything changes: shown in the form
        return render("roles/edit.html", "role_form", status=422, role=role, form=form, refusal=refusal.message)
    except StaleEdit as stale:
        form.version.data = stale.fresh.version  # saving again now overwrites, knowingly
        return render("roles/edit.html", "role_form", status=409, role=stale.fresh, form=form, stale=stale)
    db.session.commit()
    flash(f"Role {role.name} saved.", "success")
    return redirect_after_post(url_for(".show", role_id=role.id))


@bp.get("/<uuid:role_id>/delete")
@require(Permission.ROLES_WRITE)
def confirm_delete(role_id: uuid.UUID) -> ResponseReturnValue:
    role = queries.role_in_account(g.account.id, role_id)
    services.ensure_may_change(role, g.permissions)
    return render("roles/delete.html", role=role, member_count=queries.member_count(role.id))


@bp.post("/<uuid:role_id>/delete")
@require(Permission.ROLES_WRITE)
def delete(role_id: uuid.UUID) -> ResponseReturnValue:
    role = queries.role_in_account(g.account.id, role_id)
    name = role.name
    holders = services.delete_role(role, actor=from_request())
    db.session.commit()
    flash(f"Role {name} deleted; {holders} user{'' if holders == 1 else 's'} no longer hold it.", "success")
    return redirect_after_post(url_for(".index"))
