"""/scim/v2/<account_id>: discovery, Users and Groups (RFC 7644). Thin: read, call portal.scim.services,
commit once, answer application/scim+json. Every view needs the account's provisioning token
(@require_scim_token, checked by portal.access through portal.scim.auth)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Blueprint, Response, g, request, url_for

from portal import db
from portal.extensions import csrf
from portal.models import Group, User
from portal.permissions import require_scim_token
from portal.scim import queries, resources, services
from portal.scim.auth import log_answer
from portal.scim.errors import ScimError, answer
from portal.scim.filters import ENTERPRISE_URN, GROUP_URN, USER_URN
from portal.versioning import Versioned, ensure_version

bp = Blueprint("scim", __name__, url_prefix="/scim/v2/<uuid:account_id>")
csrf.exempt(bp)  # a bearer token, never a cookie: nothing to forge
bp.after_request(log_answer)


@bp.errorhandler(ScimError)
def _scim_error(error: ScimError) -> Response:
    from portal.errors import discard_request_changes
    from portal.scim.errors import from_scim_error

    discard_request_changes()
    return from_scim_error(error)


def _base() -> str:
    return url_for("scim.base", account_id=g.account.id, _external=True).rstrip("/")


def _body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ScimError(400, "The body is not valid JSON.", "invalidSyntax") from None
    if not isinstance(body, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
    return body


SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
_SEARCH_KEYS = {
    "filter": "filter",
    "sortby": "sortBy",
    "sortorder": "sortOrder",
    "startindex": "startIndex",
    "count": "count",
    "attributes": "attributes",
    "excludedattributes": "excludedAttributes",
}


def _param(name: str) -> str | None:
    """A query parameter (filter, sortBy, attributes, …): from the URL, or from the body of a POST …/.search
    (RFC 7644 §3.4.3), where `attributes` and `excludedAttributes` are lists."""
    if not (request.method == "POST" and request.path.endswith("/.search")):
        return request.args.get(name)
    body = _lower_body()
    value = body.get(name.lower())
    if value is None:
        return None
    if isinstance(value, list) and name in {"attributes", "excludedAttributes"}:
        return ",".join(str(item) for item in value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ScimError(400, f"{name} must be a string or a number.", "invalidValue")
    return str(value)


def _lower_body() -> dict[str, Any]:
    body: dict[str, Any] | None = g.get("scim_search")
    if body is None:
        body = {str(k).lower(): v for k, v in _body().items()}
        unknown = set(body) - set(_SEARCH_KEYS) - {"schemas"}
        if unknown:
            raise ScimError(400, f"A SearchRequest has no {sorted(unknown)[0]!r}.", "invalidSyntax")
        g.scim_search = body
    return body


def _check_if_match(found: Versioned) -> None:
    """412 when If-Match names another version (weak or strong, "*" matches): portal.versioning's StaleEdit."""
    header = request.headers.get("If-Match")
    if not header:
        return
    tags = {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}
    ensure_version(found, found.version if "*" in tags or str(found.version) in tags else -1)


def _one(resource: dict[str, Any], version: str, status: int = 200, urn: str = USER_URN) -> Response:
    body = resources.select_attributes(resource, _param("attributes"), _param("excludedAttributes"), urn)
    headers = {"ETag": version}
    if status == 201:
        headers["Location"] = resource["meta"]["location"]
    return answer(body, status, headers)


# --- discovery ------------------------------------------------------------------------------------------


@bp.get("")
@require_scim_token
def base(account_id: uuid.UUID) -> Response:
    """The base URL (what is pasted into the identity provider) answers as /ServiceProviderConfig."""
    return answer(resources.service_provider_config(_base()))


@bp.get("/ServiceProviderConfig")
@require_scim_token
def service_provider_config(account_id: uuid.UUID) -> Response:
    return answer(resources.service_provider_config(_base()))


@bp.get("/ResourceTypes")
@require_scim_token
def resource_types(account_id: uuid.UUID) -> Response:
    items = resources.resource_types(_base())
    return answer(resources.list_response(items, len(items), 1))


@bp.get("/ResourceTypes/<name>")
@require_scim_token
def resource_type(account_id: uuid.UUID, name: str) -> Response:
    for item in resources.resource_types(_base()):
        if item["id"] == name:
            return answer(item)
    raise ScimError(404, "No such resource type.")


@bp.get("/Schemas")
@require_scim_token
def schemas(account_id: uuid.UUID) -> Response:
    items = resources.schemas(_base())
    return answer(resources.list_response(items, len(items), 1))


@bp.get("/Schemas/<urn>")
@require_scim_token
def schema(account_id: uuid.UUID, urn: str) -> Response:
    for item in resources.schemas(_base()):
        if item["id"] == urn:
            return answer(item)
    raise ScimError(404, "No such schema.")


# --- lists ----------------------------------------------------------------------------------------------


def _int(name: str, default: int) -> int:
    raw = _param(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ScimError(400, f"{name} must be a whole number.", "invalidValue") from None


def _window() -> tuple[int, int]:
    start = max(1, _int("startIndex", 1))
    count = min(max(0, _int("count", resources.MAX_RESULTS)), resources.MAX_RESULTS)
    return start, count


def _listing(start: int, count: int) -> queries.Listing:
    """What a list request asks for: its filter, sort and window."""
    return queries.Listing(
        _param("filter"),
        (_param("sortBy") or "").strip(),
        (_param("sortOrder") or "ascending").lower() == "descending",
        start,
        count,
    )


@bp.get("/Users")
@bp.post("/Users/.search")
@require_scim_token
def users(account_id: uuid.UUID) -> Response:
    """Users, the owner included, filtered in SQL, sorted and paged (startIndex is 1-based, count ≤ 100), with
    their groups unless excluded."""
    start, count = _window()
    attributes, excluded = _param("attributes"), _param("excludedAttributes")
    page = queries.list_users(
        g.account.id, _listing(start, count), with_groups=resources.wanted(excluded, USER_URN, "groups")
    )
    found = [
        resources.select_attributes(
            resources.user_resource(u, page.groups.get(u.id, ())), attributes, excluded, USER_URN
        )
        for u in page.users
    ]
    return answer(resources.list_response(found, page.total, start))


def _group_answer(groups: list[Group]) -> list[dict[str, Any]]:
    wants_members = resources.wanted(_param("excludedAttributes"), GROUP_URN, "members")
    members = queries.members_by_group([g_.id for g_ in groups]) if wants_members else {}
    return [
        resources.select_attributes(
            resources.group_resource(group, members.get(group.id, []) if wants_members else None),
            _param("attributes"),
            _param("excludedAttributes"),
            GROUP_URN,
        )
        for group in groups
    ]


@bp.get("/Groups")
@bp.post("/Groups/.search")
@require_scim_token
def groups(account_id: uuid.UUID) -> Response:
    start, count = _window()
    rows, total = queries.list_groups(g.account.id, _listing(start, count))
    return answer(resources.list_response(_group_answer(rows), total, start))


@bp.post("/.search")
@require_scim_token
def search_everything(account_id: uuid.UUID) -> Response:
    """A search over several resource types at once (RFC 7644 §3.4.3) is not supported: 501. Search one
    type with POST /Users/.search or /Groups/.search."""
    raise ScimError(
        501, "Searching several resource types at once is not supported: POST /Users/.search or /Groups/.search."
    )


# --- one user -------------------------------------------------------------------------------------------


def _user(user_id: str) -> User:
    return queries.in_account(User, g.account.id, user_id)


def _user_out(user: User, status: int = 200) -> Response:
    groups = [] if status == 201 else queries.groups_of(user.id)  # a new user is in none
    return _one(resources.user_resource(user, groups), resources.version_of_user(user), status)


@bp.post("/Users")
@require_scim_token
def create_user(account_id: uuid.UUID) -> Response:
    user = services.create_user(g.account, _body())
    db.session.commit()
    return _user_out(user, 201)


@bp.get("/Users/<user_id>")
@require_scim_token
def user(account_id: uuid.UUID, user_id: str) -> Response:
    return _user_out(_user(user_id))


@bp.put("/Users/<user_id>")
@require_scim_token
def replace_user(account_id: uuid.UUID, user_id: str) -> Response:
    found = _user(user_id)
    _check_if_match(found)
    services.replace_user(g.account, found, _body())
    db.session.commit()
    return _user_out(found)


@bp.patch("/Users/<user_id>")
@require_scim_token
def patch_user(account_id: uuid.UUID, user_id: str) -> Response:
    found = _user(user_id)
    _check_if_match(found)
    services.patch_user(g.account, found, _body())
    db.session.commit()
    return _user_out(found)


@bp.delete("/Users/<user_id>")
@require_scim_token
def delete_user(account_id: uuid.UUID, user_id: str) -> Response:
    found = _user(user_id)
    _check_if_match(found)
    services.delete_user(g.account, found)
    db.session.commit()
    return Response(status=204)


# --- one group ------------------------------------------------------------------------------------------


def _group(group_id: str) -> Group:
    return queries.in_account(Group, g.account.id, group_id)


def _group_out(group: Group, status: int = 200) -> Response:
    wants_members = resources.wanted(_param("excludedAttributes"), GROUP_URN, "members")
    members = queries.members_by_group([group.id]).get(group.id, []) if wants_members else None
    return _one(resources.group_resource(group, members), resources.version_of_group(group), status, GROUP_URN)


@bp.post("/Groups")
@require_scim_token
def create_group(account_id: uuid.UUID) -> Response:
    group = services.create_group(g.account, _body())
    db.session.commit()
    return _group_out(group, 201)


@bp.get("/Groups/<group_id>")
@require_scim_token
def group(account_id: uuid.UUID, group_id: str) -> Response:
    return _group_out(_group(group_id))


@bp.put("/Groups/<group_id>")
@require_scim_token
def replace_group(account_id: uuid.UUID, group_id: str) -> Response:
    found = _group(group_id)
    _check_if_match(found)
    services.replace_group(g.account, found, _body())
    db.session.commit()
    return _group_out(found)


@bp.patch("/Groups/<group_id>")
@require_scim_token
def patch_group(account_id: uuid.UUID, group_id: str) -> Response:
    found = _group(group_id)
    _check_if_match(found)
    services.patch_group(g.account, found, _body())
    db.session.commit()
    if (
        _param("attributes") is None
        and _param("excludedAttributes") is None
        and request.headers.get("Prefer", "").lower() == "return=minimal"
    ):
        return Response(status=204)
    return _group_out(found)


@bp.delete("/Groups/<group_id>")
@require_scim_token
def delete_group(account_id: uuid.UUID, group_id: str) -> Response:
    found = _group(group_id)
    _check_if_match(found)
    services.delete_group(g.account, found)
    db.session.commit()
    return Response(status=204)


__all__ = ["bp", "ENTERPRISE_URN"]
