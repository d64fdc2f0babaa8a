"""/accounts/<account_id>/settings/provisioning: the provisioning token (make, rotate, revoke), the base
URL to paste into the identity provider, and the last 20 SCIM requests. account:manage."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, g, url_for
from flask.typing import ResponseReturnValue

from portal import db
from portal.actors import from_request
from portal.permissions import Permission, require
from portal.rendering import redirect_after_post, render
from portal.scim import tokens

bp = Blueprint("provisioning", __name__, url_prefix="/settings/provisioning")


def _page(new_token: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render(
        "scim/provisioning.html",
        "provisioning",
        status=status,
        new_token=new_token,
        tokens=tokens.tokens_of(g.account.id),
        requests=tokens.recent_requests(g.account.id),
        base_url=url_for("scim.base", account_id=g.account.id, _external=True),
    )


@bp.get("")
@require(Permission.ACCOUNT_MANAGE)
def show() -> ResponseReturnValue:
    return _page()


@bp.post("/token")
@require(Permission.ACCOUNT_MANAGE)
def make() -> ResponseReturnValue:
    """A new token, shown in this answer only (tokens that worked stop now)."""
    token = tokens.make_token(g.account, actor=from_request())
    db.session.commit()
    return _page(token)


@bp.post("/rotate")
@require(Permission.ACCOUNT_MANAGE)
def rotate() -> ResponseReturnValue:
    """A new token; the old ones keep working for 24 hours."""
    token = tokens.rotate_token(g.account, actor=from_request())
    db.session.commit()
    return _page(token)


@bp.post("/tokens/<uuid:token_id>/revoke")
@require(Permission.ACCOUNT_MANAGE)
def revoke(token_id: uuid.UUID) -> ResponseReturnValue:
    tokens.revoke_token(g.account, token_id, actor=from_request())
    db.session.commit()
    flash("The provisioning token was revoked: it stopped working.", "success")
    return redirect_after_post(url_for(".show"))
