"""The audit log page and its CSV export; the owner's "clear lockout" on a user's page."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

from flask import Blueprint, flash, g, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from portal import db
from portal.actors import from_request
from portal.audit import queries, wording
from portal.auth import lockout
from portal.csv_cells import csv_download
from portal.errors import Forbidden
from portal.pagination import parse_from, parse_take
from portal.permissions import Permission, require
from portal.rendering import redirect_or_render, render
from portal.users.queries import user_in_account

bp = Blueprint("audit", __name__)

LIST_PARAMS = {"actor", "action", "target", "target_type", "since", "until", "take", "from", "after", "before"}
CSV_COLUMNS = [
    "time",
    "actor",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "changes",
    "ip_address",
    "user_agent",
    "correlation_id",
    "via",
    "api_key_id",
    "api_key_name",
]


@bp.get("/audit")
@require(Permission.AUDIT_READ)
def index() -> ResponseReturnValue:
    args = request.args
    filters = queries.AuditFilter.from_args(args)
    page = queries.list_events(
        g.account.id,
        filters,
        parse_from(args.get("from")),
        parse_take(args.get("take")),
        after=args.get("after"),
        before=args.get("before"),
    )
    page.query = MultiDict((k, v) for k, v in args.items(multi=True) if k in LIST_PARAMS)
    return render(
        "audit/index.html",
        "audit_table",
        page=page,
        filters=filters,
        phrase=wording.phrase,
        describe=wording.describe_changes,
        names=wording.names_for(g.account.id, page.items),
    )


@bp.get("/audit.csv")
@require(Permission.AUDIT_READ)
def export() -> ResponseReturnValue:
    filters = queries.AuditFilter.from_args(request.args)
    account_id = g.account.id

    def rows() -> Iterator[tuple[object, ...]]:
        for e in queries.iter_events(account_id, filters):
            yield (
                e.created_at.isoformat(),
                e.actor_label,
                e.actor_id or "",
                e.action,
                e.target_type,
                e.target_id,
                e.target_label,
                json.dumps(e.changes or {}, ensure_ascii=False, sort_keys=True, default=str),
                e.ip_address,
                e.user_agent,
                e.correlation_id,
                e.via,
                e.api_key_id or "",
                e.api_key_name,
            )

    return csv_download(f"audit-{account_id}.csv", CSV_COLUMNS, rows())


@bp.post("/users/<uuid:user_id>/lockout/clear")
@require(Permission.USERS_WRITE)
def clear_lockout(user_id: uuid.UUID) -> ResponseReturnValue:
    if not current_user.is_owner:
        raise Forbidden("Only the account owner can clear a sign-in lockout.")
    user = user_in_account(g.account.id, user_id)
    lockout.clear_lockout(user, actor=from_request())
    db.session.commit()
    flash(f"{user.full_name} can try to sign in again: their failed attempts are forgotten.", "success")
    return redirect_or_render(
        url_for("accounts.users.show", user_id=user.id),
        "audit/_lockout.html",
        "user_lockout",
        user=user,
        lockout=lockout.lockout_status(user),
    )
