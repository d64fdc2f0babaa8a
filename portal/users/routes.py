"""The account's users."""

from __future__ import annotations

from flask import Blueprint, g
from flask.typing import ResponseReturnValue

from portal.permissions import Permission, require
from portal.rendering import render
from portal.users import queries

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.get("")
@require(Permission.USERS_READ)
def index() -> ResponseReturnValue:
    users, total = queries.first_users(g.account.id)
    return render("users/index.html", "users", owner=queries.owner_of(g.account.id), users=users, total=total)
