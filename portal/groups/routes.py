"""Groups of an account and their members (seed 003), under /accounts/<account_id>/groups."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, flash, g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from jinja2_fragments.flask import render_block

from portal import db
from portal.actors import from_request
from portal.errors import Conflict, Invalid
from portal.groups import queries, services
from portal.groups.forms import AddMembersForm, ConfirmForm, GroupEditForm, GroupForm, ReplaceMembersForm, ReplaceStep
from portal.models import Group, User
from portal.pagination import parse_from, parse_int
from portal.permissions import Permission, can, require
from portal.rendering import redirect_after_post, render, wants_fragment
from portal.users import queries as user_queries
from portal.versioning import StaleEdit

bp = Blueprint("groups", __name__, url_prefix="/groups")

REPLACE_PREFILL_MAX = 1_000  # the replace form lists the current members up to this many


# --- helpers ------------------------------------------------------------------------------------


def _take() -> int:
    return parse_int(request.args.get("take"), queries.TAKE_DEFAULT, 1, queries.TAKE_MAX)


def _url(endpoint: str, **params: Any) -> str:
    """A URL whose empty or default parameters are left out (so bookmarks stay short)."""
    if params.get("take") == queries.TAKE_DEFAULT:
        params.pop("take")
    return url_for(endpoint, **{key: value for key, value in params.items() if value not in (None, "")})


def user_page_url(user_id: uuid.UUID) -> str:
    """The user page, /accounts/<account_id>/users/<user_id> (endpoint accounts.users.show)."""
    return url_for("accounts.users.show", user_id=user_id)


def _returns_to_user() -> bool:
    """Whether the form was posted from the user page (`return_to=user`); nothing else is followed."""
    return request.values.get("return_to") == "user"


def _fragments(
    template: str, block: str | None, oob_blocks: tuple[str, ...], status: int = 200, **context: Any
) -> Response:
    """For htmx: the block that was asked for, plus other regions of the page swapped out of band."""
    body = render_block(template, block, **context) if block else ""
    body += "".join(render_block(template, name, oob=True, **context) for name in oob_blocks)
    body += render_template("_messages_oob.html")
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def _user_panel(user: User) -> Response:
    """The user page's groups panel alone, after a change made from it with htmx."""
    return render(
        "groups/_user_groups.html", "user_groups", user=user, groups_panel=queries.user_groups_panel(g.account.id, user)
    )


def _self_link(group: Group, page: queries.MembersPage) -> str:
    """Where the members list reloads itself from when a member is removed in place (HX-Trigger)."""
    common = {"group_id": group.id, "q": page.q, "take": page.page.take}
    if request.method != "GET":
        return _url("accounts.groups.members", **common)
    return _url(
        "accounts.groups.members",
        after=request.args.get("after"),
        before=request.args.get("before"),
        **common,
        **{"from": page.page.start or None},
    )


def _group_page(
    group: Group, page: queries.MembersPage, add_form: AddMembersForm | None = None, notice: str | None = None
) -> dict[str, Any]:
    """Everything templates/groups/show.html renders, whichever of its blocks is asked for."""
    pick = request.args.get("pick", "")[:100] if request.method == "GET" else ""
    picker = queries.Picker("", [], [])
    if pick and can(Permission.GROUPS_WRITE):
        picker = queries.picker(g.account.id, group.id, pick, [])
    return {
        "group": group,
        "members": page,
        "self_link": _self_link(group, page),
        "count": page.count if not page.q else queries.member_count(group.id),
        "add_form": add_form or AddMembersForm(account_id=g.account.id, formdata=None),
        "picker": picker,
        "notice": notice,
        "count_label": queries.count_label,
    }


# --- groups ---------------------------------------------------------------------------------------


@bp.get("")
@require(Permission.GROUPS_READ)
def index() -> ResponseReturnValue:
    take = _take()
    q = request.args.get("q", "").strip()[:100]
    page = queries.list_groups(g.account.id, q, parse_from(request.args.get("from")), take)
    return render("groups/index.html", "groups", page=page)


@bp.get("/new")
@require(Permission.GROUPS_WRITE)
def new() -> ResponseReturnValue:
    return render("groups/form.html", form=GroupForm(account_id=g.account.id), group=None)


@bp.post("")
@require(Permission.GROUPS_WRITE)
def create() -> ResponseReturnValue:
    form = GroupForm(account_id=g.account.id)
    if not form.validate_on_submit():
        return render("groups/form.html", "group_form", status=422, form=form, group=None)
    group = services.create_group(g.account.id, **form.changes(), actor=from_request())
    db.session.commit()
    flash(f"Group {group.name} created.", "success")
    return redirect_after_post(url_for("accounts.groups.show", group_id=group.id))


@bp.route("/<uuid:group_id>/edit", methods=["GET", "POST"])
@require(Permission.GROUPS_WRITE)
def edit(group_id: uuid.UUID) -> ResponseReturnValue:
    group = queries.group_in_account(g.account.id, group_id)
    form = GroupEditForm(account_id=g.account.id, group=group)
    if request.method == "GET":
        return render("groups/form.html", form=form, group=group)
    if not form.validate_on_submit():
        return render("groups/form.html", "group_form", status=422, form=form, group=group)
    try:
        services.update_group(group, **form.changes(), expected_version=form.version.data, actor=from_request())
    except StaleEdit as stale:
        form.version.data = stale.fresh.version  # saving again now overwrites, knowingly
        return render("groups/form.html", "group_form", status=409, form=form, group=stale.fresh, stale=stale)
    db.session.commit()
    flash(f"Group {group.name} saved.", "success")
    return redirect_after_post(url_for("accounts.groups.show", group_id=group.id))


@bp.route("/<uuid:group_id>/delete", methods=["GET", "POST"])
@require(Permission.GROUPS_WRITE)
def delete(group_id: uuid.UUID) -> ResponseReturnValue:
    group = queries.group_in_account(g.account.id, group_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit() and form.confirmed:
        name = group.name
        services.delete_group(group, actor=from_request())
        db.session.commit()
        flash(f"Group {name} deleted.", "success")
        return redirect_after_post(url_for("accounts.groups.index"))
    # A GET, or a POST without confirm=yes (a plain form without JavaScript): ask first.
    return render(
        "groups/delete.html",
        "delete_group",
        group=group,
        form=form,
        count=queries.member_count(group.id),
        count_label=queries.count_label,
    )


# --- members ----------------------------------------------------------------------------------------


def _members_view(group_id: uuid.UUID) -> ResponseReturnValue:
    group = queries.group_in_account(g.account.id, group_id)
    page = queries.members_page(
        group,
        q=request.args.get("q", "")[:100],
        take=_take(),
        after=request.args.get("after"),
        before=request.args.get("before"),
        start=parse_from(request.args.get("from")),
    )
    return render("groups/show.html", "member_list", **_group_page(group, page))


@bp.get("/<uuid:group_id>")
@require(Permission.GROUPS_READ)
def show(group_id: uuid.UUID) -> ResponseReturnValue:
    return _members_view(group_id)


@bp.get("/<uuid:group_id>/members")
@require(Permission.GROUPS_READ)
def members(group_id: uuid.UUID) -> ResponseReturnValue:
    return _members_view(group_id)


@bp.get("/<uuid:group_id>/candidates")
@require(Permission.GROUPS_WRITE)
def candidates(group_id: uuid.UUID) -> ResponseReturnValue:
    """The picker's search-as-you-type results: the account's users matching `pick` (A3: only this
    account's), after the people already chosen (`members`)."""
    group = queries.group_in_account(g.account.id, group_id)
    pick = request.args.get("pick", "")[:100]
    if not wants_fragment():  # without htmx the group page shows the same results
        return redirect(_url("accounts.groups.show", group_id=group.id, pick=pick) + "#add_members")
    found = queries.picker(g.account.id, group.id, pick, request.args.getlist("members"))
    return render("groups/show.html", "candidates", group=group, picker=found)


@bp.post("/<uuid:group_id>/members")
@require(Permission.GROUPS_WRITE)
def add_members(group_id: uuid.UUID) -> ResponseReturnValue:
    group = queries.group_in_account(g.account.id, group_id)
    form = AddMembersForm(account_id=g.account.id)
    if not form.validate_on_submit():
        if _returns_to_user():
            raise Invalid(form.members.errors[0] if form.members.errors else "The form could not be read.")
        page = queries.members_page(group)
        return render("groups/show.html", "add_members", status=422, **_group_page(group, page, add_form=form))
    change = services.add_members(group, form.users, form.expiry(), actor=from_request())
    db.session.commit()
    if _returns_to_user():
        user = form.users[0]
        flash(f"Added {user.full_name} to {group.name}.", "success")
        if wants_fragment():
            return _user_panel(user)
        return redirect(user_page_url(user.id), 303)
    if wants_fragment():
        context = _group_page(group, queries.members_page(group), notice=change.summary())
        return _fragments("groups/show.html", "add_members", ("member_list", "member_count"), **context)
    flash(change.summary(), "success")
    return redirect(url_for("accounts.groups.show", group_id=group.id), 303)


def _replace_context(group: Group, form: ReplaceMembersForm) -> dict[str, Any]:
    return {
        "group": group,
        "form": form,
        "count": queries.member_count(group.id),
        "prefill_max": REPLACE_PREFILL_MAX,
        "plan": None,
        "count_label": queries.count_label,
        "steps": ReplaceStep,
    }


@bp.get("/<uuid:group_id>/members/replace")
@require(Permission.GROUPS_WRITE)
def replace_members_form(group_id: uuid.UUID) -> ResponseReturnValue:
    """Seed 003's PUT as a page: the current members (up to REPLACE_PREFILL_MAX) to edit into the new set."""
    group = queries.group_in_account(g.account.id, group_id)
    form = ReplaceMembersForm(account_id=g.account.id)
    context = _replace_context(group, form)
    if context["count"] <= REPLACE_PREFILL_MAX:
        form.members.data = queries.member_emails(group.id, REPLACE_PREFILL_MAX)
    return render("groups/replace.html", **context)


@bp.post("/<uuid:group_id>/members/replace")
@require(Permission.GROUPS_WRITE)
def replace_members(group_id: uuid.UUID) -> ResponseReturnValue:
    """The whole new set, previewed (who is added, who removed), then applied."""
    group = queries.group_in_account(g.account.id, group_id)
    form = ReplaceMembersForm(account_id=g.account.id)
    context = _replace_context(group, form)
    if not form.validate_on_submit():
        return render("groups/replace.html", "replace_form", status=422, **context)
    match form.step:
        case ReplaceStep.EDIT:  # back from the preview to the list, as emails
            form.members.data = [user.email for user in form.users]
            return render("groups/replace.html", "replace_form", **context)
        case ReplaceStep.APPLY:
            try:
                change = services.replace_members(
                    group, form.users, expected=form.expected.data or None, actor=from_request()
                )
            except Conflict as conflict:
                plan = queries.plan_replacement(group.id, form.users)
                return render(
                    "groups/replace.html",
                    "replace_form",
                    status=409,
                    **{**context, "plan": plan, "notice": conflict.message},
                )
            db.session.commit()
            flash(change.summary(), "success")
            return redirect_after_post(url_for("accounts.groups.show", group_id=group.id))
        case ReplaceStep.PREVIEW:
            plan = queries.plan_replacement(group.id, form.users)
            return render("groups/replace.html", "replace_form", **{**context, "plan": plan})


@bp.get("/<uuid:group_id>/members/<uuid:member_id>")
@require(Permission.GROUPS_READ)
def member(group_id: uuid.UUID, member_id: uuid.UUID) -> ResponseReturnValue:
    group = queries.group_in_account(g.account.id, group_id)
    found = queries.member_in_group(group, member_id)
    return render("groups/member.html", group=group, member=found, user_url=user_page_url(found.user_id))


def _remove(group_id: uuid.UUID, member_id: uuid.UUID) -> ResponseReturnValue:
    group = queries.group_in_account(g.account.id, group_id)
    found = queries.member_in_group(group, member_id)
    services.remove_member(group, found, actor=from_request())
    db.session.commit()
    flash(f"Removed {found.email} from {group.name}.", "success")
    if _returns_to_user():
        user = user_queries.user_in_account(g.account.id, found.user_id)  # 404 if deleted at this very moment
        if wants_fragment():
            return _user_panel(user)
        return redirect(user_page_url(user.id), 303)
    if wants_fragment():  # the row goes (empty answer), the count follows out of band, the list reloads
        response = _fragments(
            "groups/show.html",
            None,
            ("member_count",),
            group=group,
            count=queries.member_count(group.id),
            count_label=queries.count_label,
        )
        response.headers["HX-Trigger"] = "members-changed"
        return response
    return redirect(url_for("accounts.groups.show", group_id=group.id), 303)


@bp.get("/<uuid:group_id>/members/<uuid:member_id>/delete")
@require(Permission.GROUPS_WRITE)
def confirm_remove_member(group_id: uuid.UUID, member_id: uuid.UUID) -> ResponseReturnValue:
    """A Remove button without JavaScript: ask first, naming who and from what."""
    group = queries.group_in_account(g.account.id, group_id)
    found = queries.member_in_group(group, member_id)
    back = user_page_url(found.user_id) if _returns_to_user() else url_for("accounts.groups.show", group_id=group.id)
    return render(
        "confirm.html",
        question=f"Remove {found.email} from {group.name}?",
        detail=f"{found.full_name} leaves the group; the user stays in the account and can be added again later.",
        action=url_for("accounts.groups.remove_member", group_id=group.id, member_id=found.id),
        button=f"Remove from {group.name}",
        back=back,
        fields={"return_to": "user"} if _returns_to_user() else {},
        crumbs=[
            ("Groups", url_for("accounts.groups.index")),
            (group.name, url_for("accounts.groups.show", group_id=group.id)),
            ("Remove", None),
        ],
    )


@bp.post("/<uuid:group_id>/members/<uuid:member_id>/delete")
@require(Permission.GROUPS_WRITE)
def remove_member(group_id: uuid.UUID, member_id: uuid.UUID) -> ResponseReturnValue:
    return _remove(group_id, member_id)


@bp.delete("/<uuid:group_id>/members/<uuid:member_id>")
@require(Permission.GROUPS_WRITE)
def delete_member(group_id: uuid.UUID, member_id: uuid.UUID) -> ResponseReturnValue:
    """hx-delete on the member resource: the same as the POST form."""
    return _remove(group_id, member_id)
