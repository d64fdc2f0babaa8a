"""The account's users: list, search, export, create, view, edit, password, MFA reset, sign out, disable, delete."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, flash, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from portal import db, references
from portal.accounts import ownership
from portal.actors import from_request
from portal.audit.queries import recent_events_for
from portal.auth.lockout import lockout_status
from portal.csv_cells import csv_download
from portal.email_changes import queries as email_change_queries
from portal.email_changes import services as email_changes
from portal.errors import NotFound
from portal.groups.queries import user_groups_panel
from portal.invitations.queries import pending_invitations_by_user
from portal.jobs import services as jobs
from portal.jobs.kinds import EXPORT
from portal.models import Role, User, UserStatus
from portal.pagination import parse_from, parse_take
from portal.permissions import Permission, can, require
from portal.rendering import redirect_after_post, redirect_or_render, render, wants_fragment
from portal.roles.queries import user_roles_panel
from portal.users import bulk as bulk_actions
from portal.users import imports, queries, services
from portal.users.forms import BulkForm, ImportForm, ResetMfaForm, SetPasswordForm, UserCreateForm, UserEditForm
from portal.versioning import StaleEdit

bp = Blueprint("users", __name__)

LIST_PARAMS = {"q", "status", "role", "dormant", "mfa", "expiring", "sort", "dir", "take", "from", "after", "before"}
# What a bulk form carries along.
FILTER_PARAMS = ("q", "status", "role", "dormant", "mfa", "expiring", "sort", "dir", "take")
BULK_LISTED = 200  # the confirmation page names at most this many people
DISABLE_DETAIL = "They are signed out everywhere at once and cannot sign in until they are enabled again."
BULK_INLINE = 300  # "all matching" beyond this many users runs as a job (with no upper limit)
EXPORT_INLINE = 50_000  # an export beyond this many rows is prepared as a job


def _list_context(
    args: MultiDict[str, str], report: list[bulk_actions.BulkOutcome] | None = None, bulk_form: BulkForm | None = None
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
        columns=queries.LIST_COLUMNS,
    )
    page.query = MultiDict((k, v) for k, v in args.items(multi=True) if k in LIST_PARAMS)
    roles, groups = queries.role_and_group_choices(g.account.id)
    return {
        "owner": queries.owner_of(g.account.id),
        "page": page,
        "rows": queries.with_details(page.items),
        "filters": filters,
        "sorts": queries.SORTS,
        "statuses": queries.STATUSES,
        "roles": roles,
        "groups": groups,
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
        job = jobs.start_job(
            account_id,
            EXPORT,
            "Export users to CSV",
            {"filters": {k: v for k, v in request.args.items() if k in FILTER_PARAMS}},
            actor=from_request(),
        )
        db.session.commit()
        flash("This export is big: it is being prepared. Download it from this page when it is done.", "success")
        return redirect(url_for("accounts.jobs.show", job_id=job.id), 303)

    def rows() -> Iterator[tuple[object, ...]]:
        for row in queries.iter_users(account_id, filters):
            yield queries.export_values(row)

    return csv_download(f"users-{account_id}.csv", queries.EXPORT_HEADER, rows())


@bp.get("/users/import")
@require(Permission.USERS_WRITE)
def import_page() -> ResponseReturnValue:
    return render("users/import.html", form=ImportForm(), jobs=[])


@bp.post("/users/import")
@require(Permission.USERS_WRITE)
def start_import() -> ResponseReturnValue:
    """Upload a CSV: a dry run job first; from its page, the same file applied (dry_run_job names it)."""
    form = ImportForm()
    if not form.validate_on_submit():
        return render("users/import.html", form=form, status=422)
    if form.dry_run_job.data:
        job = imports.apply_dry_run(
            g.account.id, form.dry_run_job.data, form.send_invitations.data, actor=from_request()
        )
    else:
        try:
            job = imports.start_import(
                g.account.id,
                form.data_bytes,
                dry_run=True,
                send_invitations=form.send_invitations.data,
                actor=from_request(),
                name=form.file.data.filename or "",
            )
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
    form.roles.choices = [(str(r.id), r.name) for r in references.names_in(Role, g.account.id)]
    return render("users/new.html", "user_form", form=form)


@bp.post("/users")
@require(Permission.USERS_WRITE)
def create() -> ResponseReturnValue:
    form = UserCreateForm(account_id=g.account.id)
    form.roles.choices = [(str(r.id), r.name) for r in references.names_in(Role, g.account.id)]
    if not form.validate_on_submit():
        return render("users/new.html", "user_form", status=422, form=form)
    user = services.create_user(
        g.account.id,
        form.profile(),
        form.password.data,
        form.temporary.data,
        form.roles.data or [],
        actor=from_request(),
    )
    db.session.commit()
    flash(f"{user.full_name} was created.", "success")
    return redirect_after_post(url_for(".show", user_id=user.id))


def _show_context(user_id: uuid.UUID) -> dict[str, Any]:
    user = queries.user_in_account(g.account.id, user_id)
    pending = user.status == UserStatus.PENDING
    roles_panel = user_roles_panel(g.account.id, user, current_user, g.permissions)
    refusal = roles_panel.rank_refusal  # None: the viewer may act on them (the panel read their rank)
    groups_panel = user_groups_panel(g.account.id, user) if can(Permission.GROUPS_READ) else None
    return {
        "user": user,
        "refusal": refusal,
        "invitation": pending_invitations_by_user([user.id]).get(user.id) if pending else None,
        "pending_email": None if pending else email_change_queries.pending_email(user.id),
        # The panel lists every group of theirs: counted from it rather than read again.
        "group_count": len(groups_panel.memberships)
        if groups_panel is not None
        else queries.with_details([user])[0].group_count,
        "roles_panel": roles_panel,
        "groups_panel": groups_panel,
        "lockout": lockout_status(user) if current_user.is_owner else None,
        "may_sign_out": (
            can(Permission.USERS_WRITE)
            and user.id != current_user.id
            and user.status == UserStatus.ACTIVE
            and refusal is None
        ),
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
    services.ensure_may_edit(user, actor=from_request())
    form = UserEditForm(obj=user, account_id=g.account.id, user_id=user.id)
    if request.method == "GET":
        form.version.data = user.version
        return render("users/edit.html", "user_form", form=form, user=user)
    if not form.validate_on_submit():
        return render("users/edit.html", "user_form", status=422, form=form, user=user)
    try:
        saved = services.update_profile(user, form.profile(), form.version.data, actor=from_request())
    except StaleEdit as stale:
        form.version.data = stale.fresh.version  # saving again now overwrites, knowingly
        return render("users/edit.html", "user_form", status=409, form=form, user=stale.fresh, stale=stale)
    db.session.commit()
    messages = (["Saved."] if saved.changes else []) + (
        [email_changes.pending_message(saved.email_change)] if saved.email_change else []
    )
    flash(" ".join(messages) or "Nothing changed.", "success")
    return redirect_after_post(url_for(".show", user_id=user.id))


@bp.route("/users/<uuid:user_id>/password", methods=["GET", "POST"])
@require(Permission.USERS_PASSWORD)
def password(user_id: uuid.UUID) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    services.ensure_may_edit(user, actor=from_request())
    form = SetPasswordForm(user=user)
    if request.method == "GET" or not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("users/password.html", "password_form", status=status, form=form, user=user)
    services.set_password(user, form.password.data, form.temporary.data, actor=from_request())
    db.session.commit()
    flash(f"{user.full_name}'s password was set; they were signed out everywhere.", "success")
    return redirect_after_post(url_for(".show", user_id=user.id))


@bp.route("/users/<uuid:user_id>/reset-mfa", methods=["GET", "POST"])
@require(Permission.USERS_MFA_RESET)
def reset_mfa(user_id: uuid.UUID) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    services.ensure_may_reset_mfa(user, actor=from_request())
    form = ResetMfaForm()
    if request.method == "GET" or not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("users/reset_mfa.html", "reset_mfa_form", status=status, form=form, user=user)
    services.reset_mfa(user, form.reason.data, actor=from_request())
    db.session.commit()
    flash(f"{user.full_name}'s MFA was reset; they were signed out everywhere.", "success")
    return redirect_after_post(url_for(".show", user_id=user.id))


@bp.post("/users/<uuid:user_id>/sign-out")
@require(Permission.USERS_WRITE)
def sign_out(user_id: uuid.UUID) -> ResponseReturnValue:
    """Sign out everywhere: end all of the user's sessions (an admin's own current one is kept)."""
    user = queries.user_in_account(g.account.id, user_id)
    ended = services.sign_out_everywhere(user, actor=from_request(), keep=g.login_session.id)
    db.session.commit()
    flash(
        f"{user.full_name} was signed out everywhere ({ended} {'session' if ended == 1 else 'sessions'} ended).",
        "success",
    )
    return redirect_or_render(
        url_for(".show", user_id=user.id), "users/show.html", "user_summary", **_show_context(user_id)
    )


@bp.post("/users/<uuid:user_id>/email-change/cancel")
@require(Permission.USERS_WRITE)
def cancel_email_change(user_id: uuid.UUID) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    change = email_changes.cancel_change(user, actor=from_request())
    db.session.commit()
    flash(
        f"The change of {user.full_name}'s email to {change.new_email} was cancelled; its link no longer works.",
        "success",
    )
    return redirect_or_render(
        url_for(".show", user_id=user.id), "users/show.html", "user_summary", **_show_context(user_id)
    )


def _status_change(user_id: uuid.UUID, change: Callable[..., None]) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    change(user, actor=from_request())
    db.session.commit()
    flash(f"{user.full_name} is {user.status}.", "success")
    return redirect_or_render(
        url_for(".show", user_id=user.id), "users/show.html", "user_summary", **_show_context(user_id)
    )


@bp.get("/users/<uuid:user_id>/disable")
@require(Permission.USERS_WRITE)
def confirm_disable(user_id: uuid.UUID) -> ResponseReturnValue:
    """The Disable button without JavaScript: ask first."""
    user = queries.user_in_account(g.account.id, user_id)
    return render(
        "confirm.html",
        question=f"Disable {user.full_name}?",
        detail=DISABLE_DETAIL,
        action=url_for(".disable", user_id=user.id),
        button=f"Disable {user.full_name}",
        back=url_for(".show", user_id=user.id),
        crumbs=[("Users", url_for(".index")), (user.full_name, url_for(".show", user_id=user.id)), ("Disable", None)],
    )


@bp.post("/users/<uuid:user_id>/disable")
@require(Permission.USERS_WRITE)
def disable(user_id: uuid.UUID) -> ResponseReturnValue:
    return _status_change(user_id, services.disable_user)


@bp.post("/users/<uuid:user_id>/enable")
@require(Permission.USERS_WRITE)
def enable(user_id: uuid.UUID) -> ResponseReturnValue:
    return _status_change(user_id, services.enable_user)


@bp.get("/users/<uuid:user_id>/delete")
@require(Permission.USERS_WRITE)
def confirm_delete(user_id: uuid.UUID) -> ResponseReturnValue:
    context = _show_context(user_id)
    return render("users/delete.html", row=queries.with_details([context["user"]])[0], **context)


@bp.post("/users/<uuid:user_id>/delete")
@require(Permission.USERS_WRITE)
def delete(user_id: uuid.UUID) -> ResponseReturnValue:
    user = queries.user_in_account(g.account.id, user_id)
    name = user.full_name
    services.delete_user(user, actor=from_request())
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
    action = _bulk_action(form)
    if form.needs_confirmation:
        users.sort(key=lambda u: (u.full_name.lower(), u.email))
        return _bulk_confirm(form, users, len(users))
    actor = from_request()
    outcomes = bulk_actions.apply(users, action, actor=actor)
    job = bulk_actions.record_done(g.account.id, action, _filters_kept(), outcomes, actor=actor)
    db.session.commit()
    return render("users/index.html", "users_table", report_job=job, **_list_context(request.form, report=outcomes))


def _bulk_action(form: BulkForm) -> bulk_actions.BulkAction:
    """The action a bulk form names (403 without the permission to grant roles or change groups, 404 for a role
    or group not in the account)."""
    bulk_actions.ensure_may_start(form.action.data, actor=from_request())
    return bulk_actions.action_for(g.account.id, form.action.data, form.role_id.data, form.group_id.data, form.expiry())


def _bulk_confirm(form: BulkForm, users: list[User], total: int) -> ResponseReturnValue:
    filters_kept: dict[str, Any] = {k: v for k, v in request.form.items() if k in FILTER_PARAMS and v}
    back = url_for(".index", **filters_kept)
    return render(
        "users/bulk_confirm.html",
        "users_table",
        form=form,
        users=users,
        listed=users[:BULK_LISTED],
        total=total,
        back=back,
        carried={k: request.form.get(k, "") for k in FILTER_PARAMS},
    )


def _bulk_job(form: BulkForm, filters: queries.UserFilter) -> ResponseReturnValue:
    """ "All N matching" past BULK_INLINE users: confirmed first when destructive, then run as a job whose
    page shows its progress and report."""
    action = _bulk_action(form)
    total = queries.count_matching(g.account.id, filters, 10**9)
    if form.needs_confirmation:
        listed = queries.users_in_account(g.account.id, queries.matching_ids(g.account.id, filters, BULK_LISTED))
        listed.sort(key=lambda u: (u.full_name.lower(), u.email))
        return _bulk_confirm(form, listed, total)
    job = bulk_actions.start_job(g.account.id, action, _filters_kept(), total, actor=from_request())
    db.session.commit()
    return redirect_after_post(url_for("accounts.jobs.show", job_id=job.id))


def _filters_kept() -> dict[str, str]:
    """The list's filters the bulk form carried, kept with the job (its report says what was matched)."""
    return {k: v for k, v in request.form.items() if k in FILTER_PARAMS and v}
