"""The read side of SCIM: the account's users and groups filtered, sorted and windowed as RFC 7644 asks,
their memberships, and one user or group by the id in the path."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Select, func, select

from portal import db
from portal.groups.queries import memberships_by_user
from portal.models import Group, GroupMember, User
from portal.scim.errors import ScimError
from portal.scim.filters import ENTERPRISE_URN, GROUP_URN, USER_URN, compile_filter
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


def _sorted(
    statement: Select[Any],
    listing: Listing,
    sorts: dict[str, tuple[Any, ...]],
    urn: str,
    tiebreak: Any,
    default: tuple[Any, ...],
) -> Select[Any]:
    return statement.order_by(*_order(listing, sorts, urn, tiebreak, default))


def _order(
    listing: Listing, sorts: dict[str, tuple[Any, ...]], urn: str, tiebreak: Any, default: tuple[Any, ...]
) -> list[Any]:
    """sortBy and sortOrder as ORDER BY terms, the id last (400 invalidValue for an attribute that cannot be
    sorted by)."""
    if not listing.sort_by:
        return [*default, tiebreak]
    key = listing.sort_by.lower()
    for prefix in (urn.lower() + ":", ENTERPRISE_URN.lower() + ":"):
        key = key.removeprefix(prefix)
    columns = sorts.get(key)
    if columns is None:
        raise ScimError(400, f"Cannot sort by {listing.sort_by!r}.", "invalidValue")
    return [*[c.desc() if listing.descending else c.asc() for c in columns], tiebreak]


def _total(statement: Select[Any], listing: Listing, found: int) -> int:
    """totalResults of a filtered list: a first page that is not full is the whole answer (a lookup by
    userName or externalId costs no second query); otherwise the matching rows are counted."""
    if listing.start == 1 and listing.count > 0 and found < listing.count:
        return found
    return int(db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0)


def list_users(account_id: uuid.UUID, listing: Listing, *, with_groups: bool = True) -> UserPage:
    """The account's users, the owner included, filtered in SQL, sorted and windowed, with their groups (in
    the same statement: the window's ids joined to the users, their memberships and the groups' names); and
    totalResults."""
    statement = select(User).where(User.account_id == account_id)
    if listing.filter:
        statement = statement.where(compile_filter(listing.filter, "User"))
    users: list[User] = []
    groups: dict[uuid.UUID, list[GroupRef]] = {}
    if listing.count:
        window = _sorted(statement, listing, USER_SORTS, USER_URN, User.id, (User.created_at,))
        window = window.offset(listing.start - 1).limit(listing.count)
        if with_groups:
            users, groups = _with_groups(window, listing)
        else:
            users = list(db.session.scalars(window))
    # The whole account: the trigger-kept counts, never a count(*) over a million rows.
    total = _total(statement, listing, len(users)) if listing.filter else user_queries.account_total(account_id)
    return UserPage(users, groups, total)


def _with_groups(window: Select[Any], listing: Listing) -> tuple[list[User], dict[uuid.UUID, list[GroupRef]]]:
    """The window's users in its order, and each one's groups by name, in one statement."""
    page = window.with_only_columns(User.id).subquery()
    rows = (
        select(User, Group.id, Group.name)
        .join(page, page.c.id == User.id)
        .outerjoin(GroupMember, GroupMember.user_id == User.id)
        .outerjoin(Group, Group.id == GroupMember.group_id)
        .order_by(*_order(listing, USER_SORTS, USER_URN, User.id, (User.created_at,)), Group.name)
    )
    users: list[User] = []
    groups: dict[uuid.UUID, list[GroupRef]] = {}
    for user, group_id, group_name in db.session.execute(rows):
        if user.id not in groups:
            users.append(user)
            groups[user.id] = []
        if group_id is not None:
            groups[user.id].append(GroupRef(group_id, group_name))
    return users, groups


def list_groups(account_id: uuid.UUID, listing: Listing) -> tuple[list[Group], int]:
    """The account's groups, filtered in SQL, sorted and windowed; and totalResults."""
    statement = select(Group).where(Group.account_id == account_id)
    if listing.filter:
        statement = statement.where(compile_filter(listing.filter, "Group"))
    rows: list[Group] = []
    if listing.count:
        ordered = _sorted(statement, listing, GROUP_SORTS, GROUP_URN, Group.id, (Group.created_at,))
        rows = list(db.session.scalars(ordered.offset(listing.start - 1).limit(listing.count)))
    return rows, _total(statement, listing, len(rows))


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
