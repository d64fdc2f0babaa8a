"""The read side of SCIM: the account's users and groups filtered, sorted and windowed as RFC 7644 asks,
their memberships, and one user or group by the id in the path."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Integer, Select, Uuid, bindparam, func, select

from portal import db
from portal.groups.queries import memberships_by_user
from portal.models import Group, GroupMember, User
from portal.scim.errors import ScimError
from portal.scim.filters import ENTERPRISE_URN, GROUP_URN, USER_URN, Compiled, Shape, compile_filter, condition
from portal.users import queries as user_queries
from portal.uuids import parse_uuid

USER_SORTS: dict[str, tuple[Any, ...]] = {
    "id": (User.id,),
    "username": (User.login,),
    "externalid": (User.external_id,),
    "emails": (User.email,),
    "emails.value": (User.email,),
    "name.givenname": (User.first_name,),
    "name.familyname": (User.last_name,),
    "displayname": (User.first_name, User.last_name),
    "meta.created": (User.created_at,),
    "meta.lastmodified": (User.updated_at,),
    "active": (User.status,),
}
GROUP_SORTS: dict[str, tuple[Any, ...]] = {
    "id": (Group.id,),
    "displayname": (Group.name,),
    "externalid": (Group.external_id,),
    "meta.created": (Group.created_at,),
    "meta.lastmodified": (Group.updated_at,),
}
Resource = TypeVar("Resource", User, Group)


class GroupRef(NamedTuple):
    """A group as a user's resource names it: its id and name."""

    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class UserPage:
    """A window of users, each one's groups by name (when asked for), and totalResults."""

    users: list[User]
    groups: dict[uuid.UUID, list[GroupRef]]
    total: int


@dataclass(frozen=True)
class Listing:
    """What a list request asks for: a filter (None: all), sortBy ("" : by creation), the order, and the
    window (startIndex is 1-based; count 0 asks for the total alone)."""

    filter: str | None
    sort_by: str
    descending: bool
    start: int
    count: int


STATEMENTS_KEPT = 128  # statements kept per filter shape, sort and kind of answer: an identity provider sends few
_ACCOUNT = bindparam("account_id", type_=Uuid())  # what varies is bound per call: the account, the window, the
_OFFSET = bindparam("offset", type_=Integer())  # filter's values (portal.scim.filters: filter_0, …)
_LIMIT = bindparam("limit", type_=Integer())


def _sort_key(listing: Listing, sorts: dict[str, tuple[Any, ...]], urn: str) -> tuple[str, bool]:
    """sortBy and sortOrder as a key of sorts and whether descending (("", False): the default order); 400
    invalidValue for an attribute that cannot be sorted by."""
    if not listing.sort_by:
        return "", False
    key = listing.sort_by.lower()
    for prefix in (urn.lower() + ":", ENTERPRISE_URN.lower() + ":"):
        key = key.removeprefix(prefix)
    if key not in sorts:
        raise ScimError(400, f"Cannot sort by {listing.sort_by!r}.", "invalidValue")
    return key, listing.descending


def _order(model: type[User] | type[Group], sort: tuple[str, bool]) -> list[Any]:
    """The sort's ORDER BY terms (by default the time made), the id last."""
    key, descending = sort
    if not key:
        return [model.created_at, model.id]
    sorts = USER_SORTS if model is User else GROUP_SORTS
    return [*[c.desc() if descending else c.asc() for c in sorts[key]], model.id]


def _shape(compiled: Compiled | None) -> Shape | None:
    return None if compiled is None else compiled.shape


def _params(account_id: uuid.UUID, compiled: Compiled | None, listing: Listing) -> dict[str, Any]:
    params = {"account_id": account_id, "offset": listing.start - 1, "limit": listing.count}
    if compiled is not None:
        params.update(compiled.params)
    return params


@lru_cache(maxsize=STATEMENTS_KEPT)
def _matching(model: type[User] | type[Group], shape: Shape | None) -> Select[Any]:
    """The account's users or groups that a filter's shape matches (None: all of them)."""
    statement = select(model).where(model.account_id == _ACCOUNT)
    return statement if shape is None else statement.where(condition(shape))


@lru_cache(maxsize=STATEMENTS_KEPT)
def _counted(model: type[User] | type[Group], shape: Shape | None) -> Select[Any]:
    return select(func.count()).select_from(_matching(model, shape).subquery())


def _total(model: type[User] | type[Group], compiled: Compiled | None, params: dict[str, Any], found: int) -> int:
    """totalResults of a filtered list: a first page that is not full is the whole answer (a lookup by
    userName or externalId costs no second query); otherwise the matching rows are counted."""
    if params["offset"] == 0 and params["limit"] > 0 and found < params["limit"]:
        return found
    return int(db.session.scalar(_counted(model, _shape(compiled)), params) or 0)


@lru_cache(maxsize=STATEMENTS_KEPT)
def _window(model: type[User] | type[Group], shape: Shape | None, sort: tuple[str, bool]) -> Select[Any]:
    """A window of the users or groups the shape matches, sorted."""
    return _matching(model, shape).order_by(*_order(model, sort)).offset(_OFFSET).limit(_LIMIT)


@lru_cache(maxsize=STATEMENTS_KEPT)
def _users_with_groups(shape: Shape | None, sort: tuple[str, bool]) -> Select[User, uuid.UUID, str]:
    """The window's users and each one's groups by name in one statement: the window's ids joined to the users,
    their memberships and the groups' names."""
    page = _window(User, shape, sort).with_only_columns(User.id).subquery()
    return (
        select(User, Group.id, Group.name)
        .join(page, page.c.id == User.id)
        .outerjoin(GroupMember, GroupMember.user_id == User.id)
        .outerjoin(Group, Group.id == GroupMember.group_id)
        .order_by(*_order(User, sort), Group.name)
    )


def list_users(account_id: uuid.UUID, listing: Listing, *, with_groups: bool = True) -> UserPage:
    """The account's users, the owner included, filtered in SQL, sorted and windowed, with their groups (in
    the same statement); and totalResults. Each statement is built once per filter shape and sort, and bound
    per call."""
    compiled = compile_filter(listing.filter, "User") if listing.filter else None
    sort = _sort_key(listing, USER_SORTS, USER_URN)
    params = _params(account_id, compiled, listing)
    users: list[User] = []
    groups: dict[uuid.UUID, list[GroupRef]] = {}
    if listing.count:
        shape = _shape(compiled)
        if with_groups:
            users, groups = _with_groups(_users_with_groups(shape, sort), params)
        else:
            users = list(db.session.scalars(_window(User, shape, sort), params))
    # The whole account: the trigger-kept counts, never a count(*) over a million rows.
    total = _total(User, compiled, params, len(users)) if compiled else user_queries.account_total(account_id)
    return UserPage(users, groups, total)


def _with_groups(
    rows: Select[User, uuid.UUID, str], params: dict[str, Any]
) -> tuple[list[User], dict[uuid.UUID, list[GroupRef]]]:
    """The window's users in its order, and each one's groups by name, from one statement."""
    users: list[User] = []
    groups: dict[uuid.UUID, list[GroupRef]] = {}
    for user, group_id, group_name in db.session.execute(rows, params):
        if user.id not in groups:
            users.append(user)
            groups[user.id] = []
        if group_id is not None:
            groups[user.id].append(GroupRef(group_id, group_name))
    return users, groups


def list_groups(account_id: uuid.UUID, listing: Listing) -> tuple[list[Group], int]:
    """The account's groups, filtered in SQL, sorted and windowed; and totalResults (statements built once per
    filter shape and sort, as the users')."""
    compiled = compile_filter(listing.filter, "Group") if listing.filter else None
    sort = _sort_key(listing, GROUP_SORTS, GROUP_URN)
    params = _params(account_id, compiled, listing)
    rows: list[Group] = []
    if listing.count:
        rows = list(db.session.scalars(_window(Group, _shape(compiled), sort), params))
    return rows, _total(Group, compiled, params, len(rows))


def groups_of(user_id: uuid.UUID) -> list[GroupRef]:
    """The user's groups, by name (the memberships the API's users show: groups.queries.memberships_by_user)."""
    memberships = memberships_by_user([user_id]).get(user_id, [])
    return [GroupRef(group_id, name) for group_id, name, _added in memberships]


def members_by_group(group_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The member ids of each group (group_members alone, in the order they were added)."""
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if group_ids:
        rows = db.session.execute(
            select(GroupMember.group_id, GroupMember.user_id)
            .where(GroupMember.group_id.in_(group_ids))
            .order_by(GroupMember.created_at, GroupMember.id)
        )
        for group_id, user_id in rows:
            found[group_id].append(user_id)
    return found


def in_account(model: type[Resource], account_id: uuid.UUID, raw_id: str) -> Resource:
    """The account's user or group by the id in the path; 404 (SCIM's body) when it is no id of this account."""
    noun = model.__name__.lower()
    key = parse_uuid(raw_id)
    found: Resource | None = (
        None if key is None else db.session.scalar(select(model).where(model.id == key, model.account_id == account_id))
    )
    if found is None:
        raise ScimError(404, f"No such {noun}.")
    return found
