"""Invitations: the admin pages under /accounts/<account_id>/invitations, and the public accept page."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, g, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import actors, db
from portal.actors import from_request
from portal.auth import login_sessions
from portal.auth.sign_in import complete_sign_in
from portal.errors import Forbidden
from portal.invitations import clock, queries, services
from portal.invitations.forms import AcceptForm, InvitationEditForm, InviteForm
from portal.pagination import parse_from, parse_take
from portal.permissions import Permission, public, require
from portal.rate_limits import rate_limited
from portal.rendering import redirect_after_post, render, wants_fragment
from portal.versioning import StaleEdit

bp = Blueprint("invitations", __name__, url_prefix="/invitations")
public_bp = Blueprint("invitation_accept", __name__, url_prefix="/invitations/accept")


@bp.get("")
@require(Permission.INVITATIONS_READ)
def index() -> ResponseReturnValue:
    page = queries.invitation_page(
        g.account.id,
        request.args.get("status", ""),
        parse_from(request.args.get("from")),
        parse_take(request.args.get("take")),
        clock.now(),
        q=request.args.get("q", ""),
    )
    return render("invitations/index.html", "invitations", page=page, filters=queries.FILTERS)


def _offer(form: InviteForm | InvitationEditForm) -> None:
    form.offer(queries.grantable_roles(g.account.id, g.permissions), queries.groups_of(g.account.id))


@bp.get("/new")
@require(Permission.INVITATIONS_WRITE)
def new() -> ResponseReturnValue:
    form = InviteForm()
    _offer(form)
    return render("invitations/new.html", form=form, outcome=None, review=None)


@bp.post("")
@require(Permission.INVITATIONS_WRITE)
def create() -> ResponseReturnValue:
    form = InviteForm()
    _offer(form)
    if not form.validate_on_submit():
        return render("invitations/new.html", "invite_form", status=422, form=form, outcome=None, review=None)
    if form.needs_review:  # "Invite 12 people as member to Support?" before anything is sent
        form.reviewed.data = form.fingerprint()
        roles, groups = form.chosen_names()
        return render(
            "invitations/new.html",
            "invite_form",
            form=form,
            outcome=None,
            review={"addresses": form.addresses, "roles": roles, "groups": groups},
        )
    outcome = services.invite(
        g.account, form.addresses, form.roles.data or [], form.groups.data or [], actor=from_request()
    )
    db.session.commit()
    if not outcome.refused:
        count = len(outcome.invited)
        names = f": {', '.join(i.email for i in outcome.invited)}" if count <= 5 else ""
        flash(f"Invited {count} {'person' if count == 1 else 'people'}{names}.", "success")
        return redirect_after_post(url_for(".index"))
    # The refused addresses stay in the box, each with its reason, to be fixed and sent again.
    form.emails.data = "\n".join(refusal.address for refusal in outcome.refused)
    form.reviewed.data = ""
    return render(
        "invitations/new.html",
        "invite_form",
        status=200 if outcome.invited else 422,
        form=form,
        outcome=outcome,
        review=None,
    )


@bp.route("/<uuid:invitation_id>/edit", methods=["GET", "POST"])
@require(Permission.INVITATIONS_WRITE)
def edit(invitation_id: uuid.UUID) -> ResponseReturnValue:
    row = queries.invitation_row(g.account.id, invitation_id, clock.now())
    invitation = row.invitation
    data = None
    if request.method == "GET":
        data = {
            "roles": queries.role_ids_of(invitation.id),
            "groups": queries.group_ids_of(invitation.id),
            "version": invitation.version,
        }
    form = InvitationEditForm(data=data)
    _offer(form)
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render(
            "invitations/edit.html",
            "edit_form",
            status=status,
            form=form,
            row=row,
            ungrantable=queries.ungrantable_roles_of(invitation, g.permissions),
        )
    try:
        services.update_invitation(
            invitation,
            form.roles.data or [],
            form.groups.data or [],
            expected_version=form.version.data,
            actor=from_request(),
        )
    except StaleEdit as stale:
        form.version.data = stale.fresh.version  # saving again now overwrites, knowingly
        return render(
            "invitations/edit.html",
            "edit_form",
            status=409,
            form=form,
            row=row,
            stale=stale,
            ungrantable=queries.ungrantable_roles_of(invitation, g.permissions),
        )
    db.session.commit()
    flash(f"The invitation to {row.invitation.email} is updated.", "success")
    return redirect_after_post(url_for(".index"))


def _row_or_list(invitation_id: uuid.UUID, message: str) -> ResponseReturnValue:
    """htmx: the invitation's row, updated in place and saying what happened (the message goes to the
    page's message area too); otherwise back to the list with the message."""
    flash(message, "success")
    if wants_fragment():
        row = queries.invitation_row(g.account.id, invitation_id, clock.now())
        return render_template("invitations/_row.html", row=row, note=message) + render_template("_messages_oob.html")
    return redirect_after_post(url_for(".index"))


@bp.post("/<uuid:invitation_id>/resend")
@require(Permission.INVITATIONS_WRITE)
def resend(invitation_id: uuid.UUID) -> ResponseReturnValue:
    invitation = queries.invitation_in_account(g.account.id, invitation_id)
    services.resend(invitation, g.account, actor=from_request())
    db.session.commit()
    return _row_or_list(invitation_id, f"Sent again to {invitation.email}; the old link no longer works.")


@bp.get("/<uuid:invitation_id>/revoke")
@require(Permission.INVITATIONS_WRITE)
def confirm_revoke(invitation_id: uuid.UUID) -> ResponseReturnValue:
    """The Revoke button without JavaScript: ask first."""
    invitation = queries.invitation_in_account(g.account.id, invitation_id)
    return render(
        "confirm.html",
        question=f"Revoke the invitation to {invitation.email}?",
        detail="The link in their email stops working, and the pending user and their pending group "
        "memberships are removed. You can invite them again later.",
        action=url_for(".revoke", invitation_id=invitation.id),
        button="Revoke the invitation",
        back=url_for(".index"),
        crumbs=[("Invitations", url_for(".index")), ("Revoke", None)],
    )


@bp.post("/<uuid:invitation_id>/revoke")
@require(Permission.INVITATIONS_WRITE)
def revoke(invitation_id: uuid.UUID) -> ResponseReturnValue:
    invitation = queries.invitation_in_account(g.account.id, invitation_id)
    services.revoke(invitation, actor=from_request())
    db.session.commit()
    return _row_or_list(invitation_id, f"Revoked the invitation to {invitation.email}.")


@bp.post("/<uuid:invitation_id>/retry")
@require(Permission.INVITATIONS_WRITE)
def retry(invitation_id: uuid.UUID) -> ResponseReturnValue:
    invitation = queries.invitation_in_account(g.account.id, invitation_id)
    services.retry_delivery(invitation, actor=from_request())
    db.session.commit()
    return _row_or_list(invitation_id, f"The email to {invitation.email} is queued again.")


@public_bp.route("/<token>", methods=["GET", "POST"])
@public
@rate_limited("GET", "POST")
def accept(token: str) -> ResponseReturnValue:
    invited = services.open_invitation(token)  # 410, the same page, for every kind of dead link
    if current_user.is_authenticated and current_user.email != invited.invitation.email:
        raise Forbidden("This invitation was sent to another email address. Sign out, then open the link again.")
    form = AcceptForm(
        account_id=invited.account.id,
        user_id=invited.user.id,
        context=[invited.invitation.email, invited.account.name],
        obj=invited.user if invited.invitation.provisioned else None,
    )  # the provider's login, names
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("invitations/accept.html", "accept_form", status=status, form=form, invited=invited, token=token)
    user = services.accept(
        invited,
        services.Acceptance(form.login.data, form.first_name.data, form.last_name.data, form.password.data),
        actor=actors.person(invited.user),
    )
    if current_user.is_authenticated:
        login_sessions.end(g.login_session.id)
    response = complete_sign_in(user, None)  # the sign-in every path shares: session, audit, commit
    flash(f"Welcome to {invited.account.name}!", "success")
    return response
