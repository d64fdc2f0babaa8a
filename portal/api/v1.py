"""The JSON API (/api/v1), authenticated by API key only: read the account's users as seeds 000–002 do.

A key is sent as `Authorization: Bearer <key>` and acts with every permission its owner holds.
Session cookies count for nothing here (so no CSRF applies), and a key in the query string is
refused outright (SECURITY K1).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue

from portal.errors import NotFound
from portal.extensions import csrf
from portal.groups.queries import user_groups_panel
from portal.me.credentials import user_for_api_key
from portal.models import User
from portal.pagination import parse_from, parse_take
from portal.permissions import Permission, require_api_key
from portal.roles.queries import effective_permissions
from portal.users import queries

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def _error(status: int, code: str, message: str) -> Response:
    response = jsonify({"errors": [{"code": code, "message": message}]})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def authenticate(needed: frozenset[Permission]) -> Response | None:
    """Check the key, the tenant and the permissions of an API request; an error response or None."""
    if "api_key" in request.args or "key" in request.args:
        return _error(401, "Unauthorized", "Send the API key in the Authorization header, never in the URL.")
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    user = user_for_api_key(key.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        return _error(401, "Unauthorized", "A valid API key is required.")
    if request.view_args and request.view_args.get("account_id") != user.account_id:
        return _error(404, "ResourceNotFound", "No such account.")
    g.api_user = user
    g.permissions = effective_permissions(user, None)
    missing = sorted(p.value for p in needed - g.permissions)
    if missing:
        return _error(403, "Forbidden", f"The key's owner lacks {', '.join(missing)}.")
    return None


def _user_json(user: User, roles: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": str(user.id), "login": user.login, "email": user.email, "first_name": user.first_name,
        "last_name": user.last_name, "companyName": user.company_name, "address": user.address,
        "postalCode": user.postal_code, "city": user.city, "state": user.state, "country": user.country,
        "phone": user.phone, "invitationStatus": user.status, "isSsoUser": user.is_sso,
        "mfa": user.mfa_enabled, "created": user.created_at.isoformat(), "updated": user.updated_at.isoformat(),
        **({"roles": roles} if roles is not None else {}),
    }


@bp.get("/accounts/<uuid:account_id>/users")
@require_api_key(Permission.USERS_READ)
def list_users(account_id: uuid.UUID) -> ResponseReturnValue:
    """The owner apart (seed 000) and one page of the other users (seed 002: from, take, email)."""
    page = queries.list_users(account_id, queries.UserFilter(q=request.args.get("email", ""), sort="email"),
                              parse_from(request.args.get("from")), parse_take(request.args.get("take")),
                              after=request.args.get("after"))
    owner = queries.owner_of(account_id)
    rows = queries.with_details(page.items)
    return jsonify({
        "owner": _user_json(owner) if owner else None,
        "users": [_user_json(row.user, row.roles) for row in rows],
        "currentPage": page.current_page - 1, "pageCount": page.page_count, "pageSize": page.take,
        "rowCount": page.total, "next": page.next_cursor,
    })


@bp.get("/accounts/<uuid:account_id>/users/<uuid:user_id>")
@require_api_key(Permission.USERS_READ)
def get_user(account_id: uuid.UUID, user_id: uuid.UUID) -> ResponseReturnValue:
    """One user with roles, default roles (seed 001) and group memberships (seed 000)."""
    try:
        user = queries.user_in_account(account_id, user_id)
    except NotFound:
        return _error(404, "ResourceNotFound", "No such user in this account.")
    row = queries.with_details([user])[0]
    groups = user_groups_panel(account_id, user)["memberships"]
    return jsonify({
        **_user_json(user),
        "roles": [name.removesuffix(" (not default)") for name in row.roles],
        "default_roles": [name for name in row.roles if not name.endswith(" (not default)")],
        "group_memberships": [{"id": str(m.group_id), "name": m.group_name, "status": m.status} for m in groups],
    })
