"""The account's users: list, search, export, create, view, edit, password, MFA reset, sign out, disable, delete."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from flask import Blueprint, Response, flash, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import Row, select
from werkzeug.datastructures import MultiDict

from portal import db
from portal.accounts import ownership
from portal.audit.queries import recent_events_for
from portal.auth.lockout import lockout_status
from portal.csv_cells import csv_download
from portal.email_changes import queries as email_change_queries
from portal.email_changes import services as email_changes
from portal.errors import Forbidden, NotFound
from portal.groups.queries import user_groups_panel
from portal.invitations.queries import pending_invitations_by_user
from portal.jobs import services as jobs
from portal.jobs.kinds import BULK, EXPORT, bulk_title, record_bulk
from portal.models import Group, Role, User, UserStatus
from portal.pagination import parse_from, parse_take
from portal.permissions import Permission, can, require
from portal.rendering import redirect_after_post, redirect_or_render, render, wants_fragment
from portal.roles import policy
from portal.roles.queries import user_roles_panel
from portal.users import imports, queries, services
from portal.users.forms import BulkForm, ImportForm, ResetMfaForm, SetPasswordForm, UserCreateForm, UserEditForm
from portal.users.services import Actor, EditConflict

bp = Blueprint("users", __name__)

LIST_PARAMS = {"q", "status", "role", "dormant", "mfa", "expiring", "sort", "dir", "take", "from", "after", "before"}
# What a bulk form carries along.
FILTER_PARAMS = ("q", "status", "role", "dormant", "mfa", "expiring", "sort", "dir", "take")
BULK_LISTED = 200  # the confirmation page names at most this many people
RoleOrGroup = TypeVar("RoleOrGroup", Role, Group)
DISABLE_DETAIL = "They are signed out everywhere at once and cannot sign in until they are enabled again."
BULK_INLINE = 300  # "all matching" beyond this many users runs as a job (with no upper limit)
EXPORT_INLINE = 50_000  # an export beyond this many rows is prepared as a job


def _actor() -> Actor:
    return Actor(current_user, g.permissions)


def _account_roles() -> list[Row[tuple[uuid.UUID, str]]]:
    """The account's roles as (id, name) rows, for the pickers."""
    return list(
        db.session.execute(select(Role.id, Role.name).where(Role.account_id == g.account.id).order_by(Role.name))
    )


def _account_groups() -> list[Row[tuple[uuid.UUID, str]]]:
    """The account's groups as (id, name) rows, for the pickers."""
    return list(
        db.session.execute(select(Group.id, Group.name).where(Group.account_id == g.account.id).order_by(Group.name))
    )


def _list_context(
    args: MultiDict[str, str], report: list[services.BulkOutcome] | None = None, bulk_form: BulkForm | None = None
) -> dict[str, Any]:
    """The list as the query string (or, after a bulk action, the form) filters it; a bulk form that
    was refused comes back with its errors, its action and its ticks."""
    filters = queries.UserFilter.from_args(args)
    page = queries.list_users(
        g.account.id,
        filters,
        parse_from(args.get("from")),
        parse_take(args.get("take")),
        after=args.get("after"),
        before=args.get("before"),
    )
    page.query = MultiDict((k, v) for k, v in args.items(multi=True) if k in LIST_PARAMS)
    return {
        "owner": queries.owner_of(g.account.id),
        "page": page,
        "rows": queries.with_details(page.items),
        "filters": filters,
        "sorts": queries.SORTS,
        "statuses": queries.STATUSES,
        "roles": _account_roles(),
        "groups": _account_groups(),
        "report": report,
        "bulk": bulk_form,
        "ticked": set(bulk_form.user_ids.data or []) if bulk_form is not None else set(),
    }


@bp.get("/users")
@require(Permission.USERS_READ)
def index() -> ResponseReturnValue:
    # An ownership offer shows here too: an admin lands on this page after signing in.
    offer = None if wants_fragment() else ownership.transfer_offered_to(current_user)
    return render("users/index.html", "users_table", offer=offer, **_list_context(request.args))


@bp.get("/users.csv")
@require(Permission.USERS_READ)
def export() -> ResponseReturnValue:
    """The list as CSV: streamed at once, or, past EXPORT_INLINE rows, prepared by a job (its page offers the file)."""
    filters = queries.UserFilter.from_args(request.args)
    account_id = g.account.id
    if queries.count_matching(account_id, filters, EXPORT_INLINE) > EXPORT_INLINE:
        job = jobs.start_job(account_id, EXPORT, "Export users to CSV",
                             {"filters": {k: v for k, v in request.args.items() if k in FILTER_PARAMS}},
                             current_user, g.permissions)
        db.session.commit()
        flash("This export is big: it is being prepared. Download it from this page when it is done.", "success")
        return redirect(url_for("accounts.jobs.show", job_id=job.id), 303)

    def rows() -> Iterator[tuple[object, ...]]:
        for row in queries.iter_users(account_id, filters):
            yield queries.export_values(row)

    return csv_download(f"users-{account_id}.csv", queries.EXPORT_HEADER, rows())


@bp.route("/users/import", methods=["GET", "POST"])
@require(Permission.USERS_WRITE)
def import_page() -> ResponseReturnValue:
    """Upload a CSV: a dry run job first; from its page, the same file applied (dry_run_job names it)."""
    form = ImportForm()
    if request.method == "GET":
        return render("users/import.html", form=form, jobs=[])
    if not form.validate_on_submit():
        return render("users/import.html", form=form, status=422)
    if form.dry_run_job.data:
        job = imports.apply_dry_run(g.account.id, form.dry_run_job.data, form.send_invitations.data, current_user,
                                    g.permissions)
    else:
        try:
            job = imports.start_import(g.account.id, form.data_bytes, dry_run=True,
                                       send_invitations=form.send_invitations.data, actor=current_user,
                                       permissions=g.permissions, name=form.file.data.filename or "")
        except imports.FileProblem as problem:
            form.file.errors = [str(problem)]
            return render("users/import.html", form=form, status=422)
    db.session.commit()
    return redirect_after_post(url_for("accounts.jobs.show", job_id=job.id))


@bp.get("/users/import/template.csv")
@require(Permission.USERS_WRITE)
def import_template() -> ResponseReturnValue:
    response = Response(imports.template(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="users-import-template.csv"'
    return response


@bp.get("/users/new")
@require(Permission.USERS_WRITE)
def new() -> ResponseReturnValue:
    form = UserCreateForm(account_id=g.account.id)
    form.roles.choices = [(str(r.id), r.name) for r in _account_roles()]
    return render("users/new.html", "user_form", form=form)


@bp.post("/users")
@require(Permission.USERS_WRITE)
def create() -> ResponseReturnValue:
    form = UserCreateForm(account_id=g.account.id)
    form.roles.choices = [(str(r.id), r.name) for r in _account_roles()]
    if not form.validate_on_submit():
        return render("users/new.html", "user_form", status=422, form=form)
    user = services.create_user(
        g.account.id, form.profile(), form.password.data, form.temporary.data, form.roles.data or [], _actor()
    )
    db.session.commit()
    flash(f"{user.full_name} was created.", "success")
    return redirect_after_post(url_for(".show", user_id=user.id))


def _show_context(user_id: uuid.UUID) -> dict[str, Any]:
    user = queries.user_in_account(g.account.id, user_id)
    pending = user.status == UserStatus.PENDING
    return {
        "user": user,
        "refusal": policy.refusal_for(current_user, g.permissions, user),  # None: the viewer may act on them
        "invitation": pending_invitations_by_user([user.id]).get(user.id) if pending else None,
        "pending_email": None if pending else email_change_queries.pending_email(user.id),
        "row": queries.with_details([user])[0],
        "roles_panel": user_roles_panel(g.account.id, user, current_user, g.permissions),
        "groups_panel": user_groups_panel(g.account.id, user) if can(Permission.GROUPS_READ) else None,
        "lockout": lockout_status(user) if current_user.is_owner else None,
        "may_sign_out": (can(Permission.USERS_WRITE) and user.id != current_user.id
                         and user.status == UserStatus.ACTIVE and policy.may_act_on(current_user, g.permissions, user)),
        "recent_events": recent_events_for(g.account.id, user.id) if can(Permission.AUDIT_READ) else [],
    }


@bp.get("/users/<uuid:user_id>")
@require(Permission.USERS_READ)
def show(user_id: uuid.UUID) -> ResponseReturnValue:
    return render("users/show.html", "user_summary", **_show_context(user_id))


@bp.get("/users/<string:login>")
@require(Permission.USERS_READ)
def by_login(login: str) -> ResponseReturnValue:
    return redirect(url_for(".show", user_id=queries.user_by_login(g.account.id, login).id))


@bp.route("/users/<uuid:user_id>/edit", methods=["GET", "POST"])
@require(Permission.USERS_WRITE)
def edit(user_id: uuid.UUID) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    services.ensure_may_edit(user, _actor())
    form = UserEditForm(obj=user, account_id=g.account.id, user_id=user.id)
    if request.method == "GET":
        form.version.data = str(user.version)
        return render("users/edit.html", "user_form", form=form, user=user)
    if not form.validate_on_submit():
        return render("users/edit.html", "user_form", status=422, form=form, user=user)
    try:
        saved = services.update_profile(user, form.profile(), int(form.version.data), _actor())
    except EditConflict as conflict:
        theirs = conflict.user
        differences = {
            name: getattr(theirs, name) for name, value in form.profile().items() if getattr(theirs, name) != value
        }
        form.version.data = str(theirs.version)  # saving again now overwrites, knowingly
        return render(
            "users/edit.html",
            "user_form",
            status=409,
            form=form,
            user=theirs,
            conflict=conflict.message,
            differences=differences,
        )
    db.session.commit()
    messages = (["Saved."] if saved.changes else []) + (
        [email_changes.pending_message(saved.email_change)] if saved.email_change else [])
    flash(" ".join(messages) or "Nothing changed.", "success")
    return redirect_after_post(url_for(".show", user_id=user.id))


@bp.route("/users/<uuid:user_id>/password", methods=["GET", "POST"])
@require(Permission.USERS_PASSWORD)
def password(user_id: uuid.UUID) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    services.ensure_may_edit(user, _actor())
    form = SetPasswordForm(user=user)
    if request.method == "GET" or not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("users/password.html", "password_form", status=status, form=form, user=user)
    services.set_password(user, form.password.data, form.temporary.data, _actor())
    db.session.commit()
    flash(f"{user.full_name}'s password was set; they were signed out everywhere.", "success")
    return redirect_after_post(url_for(".show", user_id=user.id))


@bp.route("/users/<uuid:user_id>/reset-mfa", methods=["GET", "POST"])
@require(Permission.USERS_MFA_RESET)
def reset_mfa(user_id: uuid.UUID) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    services.ensure_may_reset_mfa(user, _actor())
    form = ResetMfaForm()
    if request.method == "GET" or not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("users/reset_mfa.html", "reset_mfa_form", status=status, form=form, user=user)
    services.reset_mfa(user, form.reason.data, _actor())
    db.session.commit()
    flash(f"{user.full_name}'s MFA was reset; they were signed out everywhere.", "success")
    return redirect_after_post(url_for(".show", user_id=user.id))


@bp.post("/users/<uuid:user_id>/sign-out")
@require(Permission.USERS_WRITE)
def sign_out(user_id: uuid.UUID) -> ResponseReturnValue:
    """Sign out everywhere: end all of the user's sessions (an admin's own current one is kept)."""
    user = queries.user_in_account(g.account.id, user_id)
    ended = services.sign_out_everywhere(user, _actor(), keep=g.login_session.id)
    db.session.commit()
    flash(f"{user.full_name} was signed out everywhere ({ended} {'session' if ended == 1 else 'sessions'} ended).",
          "success")
    return redirect_or_render(
        url_for(".show", user_id=user.id), "users/show.html", "user_summary", **_show_context(user_id)
    )


@bp.post("/users/<uuid:user_id>/email-change/cancel")
@require(Permission.USERS_WRITE)
def cancel_email_change(user_id: uuid.UUID) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    change = email_changes.cancel_change(user, current_user, g.permissions)
    db.session.commit()
    flash(f"The change of {user.full_name}'s email to {change.new_email} was cancelled; its link no longer works.",
          "success")
    return redirect_or_render(
        url_for(".show", user_id=user.id), "users/show.html", "user_summary", **_show_context(user_id)
    )


def _status_change(user_id: uuid.UUID, change: Callable[[User, Actor], None]) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    change(user, _actor())
    db.session.commit()
    flash(f"{user.full_name} is {user.status}.", "success")
    return redirect_or_render(
        url_for(".show", user_id=user.id), "users/show.html", "user_summary", **_show_context(user_id)
    )


@bp.route("/users/<uuid:user_id>/disable", methods=["GET", "POST"])
@require(Permission.USERS_WRITE)
def disable(user_id: uuid.UUID) -> ResponseReturnValue:
    """POST disables; GET (the button without JavaScript) asks first."""
    if request.method == "GET":
        user = queries.user_in_account(g.account.id, user_id)
        return render("confirm.html", question=f"Disable {user.full_name}?", detail=DISABLE_DETAIL,
                      action=url_for(".disable", user_id=user.id), button=f"Disable {user.full_name}",
                      back=url_for(".show", user_id=user.id),
                      crumbs=[("Users", url_for(".index")), (user.full_name, url_for(".show", user_id=user.id)),
                              ("Disable", None)])
    return _status_change(user_id, services.disable_user)


@bp.post("/users/<uuid:user_id>/enable")
@require(Permission.USERS_WRITE)
def enable(user_id: uuid.UUID) -> ResponseReturnValue:
    return _status_change(user_id, services.enable_user)


@bp.get("/users/<uuid:user_id>/delete")
@require(Permission.USERS_WRITE)
def confirm_delete(user_id: uuid.UUID) -> ResponseReturnValue:
    return render("users/delete.html", **_show_context(user_id))


@bp.post("/users/<uuid:user_id>/delete")
@require(Permission.USERS_WRITE)
def delete(user_id: uuid.UUID) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    name = user.full_name
    services.delete_user(user, _actor())
    db.session.commit()
    flash(f"{name} was deleted.", "success")
    return redirect_after_post(url_for(".index"))


@bp.delete("/users/<uuid:user_id>")
@require(Permission.USERS_WRITE)
def delete_by_verb(user_id: uuid.UUID) -> ResponseReturnValue:
    """htmx's hx-delete on the user resource: the same as the delete form."""
    return delete(user_id)


@bp.post("/users/bulk")
@require(Permission.USERS_WRITE)
def bulk() -> ResponseReturnValue:
    """Act on the ticked users (or all matching): a destructive action is confirmed first, naming who."""
    form = BulkForm()
    if not form.validate_on_submit():
        return render("users/index.html", "users_table", status=422, **_list_context(request.form, bulk_form=form))
    filters = queries.UserFilter.from_args(request.form)
    if form.all_matching.data and queries.count_matching(g.account.id, filters, BULK_INLINE) > BULK_INLINE:
        return _bulk_job(form, filters)
    ids = queries.matching_ids(g.account.id, filters, BULK_INLINE) if form.all_matching.data else form.ids()
    users = queries.users_in_account(g.account.id, ids)
    if len(users) != len(set(ids)) and not form.all_matching.data:
        raise NotFound("Some of the selected users are not in this account.")
    if not users:
        form.user_ids.errors = ["Tick the users to act on first, or select all matching users."]
        return render("users/index.html", "users_table", status=422, **_list_context(request.form, bulk_form=form))
    role, group = _bulk_target(form)
    if form.needs_confirmation:
        users.sort(key=lambda u: (u.full_name.lower(), u.email))
        return _bulk_confirm(form, users, len(users))
    actor = _actor()
    action, past = services.bulk_action(form.action.data, actor, role, group, form.expiry())
    outcomes = services.apply_bulk(users, action, past)
    job = record_bulk(g.account.id, _bulk_params(form, role, group),
                      bulk_title(form.action.data, len(users), role, group, matching=False), outcomes, actor)
    db.session.commit()
    return render("users/index.html", "users_table", report_job=job,
                  **_list_context(request.form, report=outcomes))


def _bulk_target(form: BulkForm) -> tuple[Role | None, Group | None]:
    """The role or group a bulk grant names (403 without the permission to grant it, 404 when foreign)."""
    if form.action.data == "grant_role":
        if not can(Permission.ROLES_WRITE):
            raise Forbidden("You need the roles:write permission to grant roles.")
        return _one_in_account(Role, form.role_id.data), None
    if form.action.data == "add_to_group":
        if not can(Permission.GROUPS_WRITE):
            raise Forbidden("You need the groups:write permission to change groups.")
        return None, _one_in_account(Group, form.group_id.data)
    return None, None


def _bulk_confirm(form: BulkForm, users: list[User], total: int) -> ResponseReturnValue:
    filters_kept: dict[str, Any] = {k: v for k, v in request.form.items() if k in FILTER_PARAMS and v}
    back = url_for(".index", **filters_kept)
    return render("users/bulk_confirm.html", "users_table", form=form, users=users, listed=users[:BULK_LISTED],
                  total=total, back=back, carried={k: request.form.get(k, "") for k in FILTER_PARAMS})


def _bulk_job(form: BulkForm, filters: queries.UserFilter) -> ResponseReturnValue:
    """"All N matching" past BULK_INLINE users: confirmed first when destructive, then run as a job whose
    page shows its progress and report."""
    role, group = _bulk_target(form)
    total = queries.count_matching(g.account.id, filters, 10**9)
    if form.needs_confirmation:
        listed = queries.users_in_account(g.account.id, queries.matching_ids(g.account.id, filters, BULK_LISTED))
        listed.sort(key=lambda u: (u.full_name.lower(), u.email))
        return _bulk_confirm(form, listed, total)
    job = jobs.start_job(g.account.id, BULK, bulk_title(form.action.data, total, role, group),
                         _bulk_params(form, role, group), current_user, g.permissions)
    db.session.commit()
    return redirect_after_post(url_for("accounts.jobs.show", job_id=job.id))


def _bulk_params(form: BulkForm, role: Role | None, group: Group | None) -> dict[str, Any]:
    expires_at = form.expiry()
    return {"action": form.action.data, "role_id": str(role.id) if role else None,
            "group_id": str(group.id) if group else None,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "filters": {k: v for k, v in request.form.items() if k in FILTER_PARAMS and v}}


def _one_in_account(model: type[RoleOrGroup], raw_id: str | None) -> RoleOrGroup:
    try:
        found = db.session.scalars(
            select(model).where(model.id == uuid.UUID(raw_id or ""), model.account_id == g.account.id)
        ).first()
    except ValueError:
        found = None
    if found is None:
        raise NotFound(f"No such {model.__name__.lower()} in this account.")
    return found
