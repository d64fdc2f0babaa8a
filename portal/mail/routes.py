"""The owner's view of the account's outbox: what was sent, what waits, what failed and why.

Without SMTP_HOST (development) it also shows each email's text, so that an invitation link
can be followed; with a mail server configured the bodies stay hidden (they carry live links).
"""

from __future__ import annotations

from flask import Blueprint, g, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.errors import Forbidden
from portal.mail import queries
from portal.mail.delivery import smtp_configured
from portal.pagination import parse_from, parse_take
from portal.permissions import Permission, require
from portal.rendering import render

bp = Blueprint("outbox", __name__, url_prefix="/outbox")


@bp.get("")
@require(Permission.ACCOUNT_MANAGE)
def index() -> ResponseReturnValue:
    if not current_user.is_owner:
        raise Forbidden("Only the account's owner can read its outbox.")
    page = queries.outbox_page(g.account.id, parse_from(request.args.get("from")), parse_take(request.args.get("take")))
    return render("mail/outbox.html", "outbox", page=page, show_bodies=not smtp_configured())
