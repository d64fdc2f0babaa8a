"""Read side of groups: the list with member counts, members paged by keyset, the people picker,
and the panel of a user's memberships shown on the user page.

Counting members is capped (COUNT over at most COUNT_CAP + 1 index entries), so that neither the
groups list nor a members page ever scans a 100,000-member group to print its size.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, exists, func, literal, or_, select, tuple_

from portal import db
from portal.errors import NotFound
from portal.models import Group, GroupMember, User, UserStatus
from portal.pagination import COUNT_CAP, Page, decode_cursor, encode_cursor, utc_datetime
from portal.references import by_reference
from portal.search import clean, person_matches
from portal.uuids import parse_uuid, parse_uuids

TAKE_DEFAULT = 20
TAKE_MAX = 100
PICKER_LIMIT = 10
PANEL_GROUPS_LIMIT = 100
_MEMBER_CURSOR = (utc_datetime, uuid.UUID)  # a member's place in the newest-first list: (created_at, id)


def member_status(user_status: str) -> str:
    """Seed 003's member status: `pending` while the user has not accepted the invitation."""
    return "pending" if user_status == UserStatus.PENDING else "accepted"


def count_label(count: int, singular: str, plural: str) -> str:
    """ "1 member", "1,234 members", or "more than 10,000 members" for a capped count."""
    if count > COUNT_CAP:
        return f"more than {COUNT_CAP:,} {plural}"
    return f"{count:,} {singular if count == 1 else plural}"


# --- groups -------------------------------------------------------------------------------------


_IN_ACCOUNT = select(Group).where(Group.id == bindparam("group_id"), Group.account_id == bindparam("account_id"))


def group_in_account(account_id: uuid.UUID, group_id: uuid.UUID) -> Group:
    """The group, or NotFound when it is missing or belongs to another account."""
    group = db.session.scalar(_IN_ACCOUNT, {"group_id": group_id, "account_id": account_id})
    if group is None:
        raise NotFound("No such group.")
    return group


def groups_by_reference(account_id: uuid.UUID, references: Sequence[str]) -> tuple[list[Group], list[str]]:
    """The account's groups named by id or name (any case), once each in the order given, and the references
    that name none (another account's id names none: SECURITY A3). One statement."""
    return by_reference(Group, account_id, references)


def name_taken(account_id: uuid.UUID, name: str, except_group_id: uuid.UUID | None = None) -> bool:
    """Whether another group of the account has this name, compared without regard to case."""
    query = select(Group.id).where(Group.account_id == account_id, func.lower(Group.name) == name.lower())
    if except_group_id is not None:
        query = query.where(Group.id != except_group_id)
    return db.session.scalar(query.limit(1)) is not None


def _capped(query: Select[Any]) -> Select[Any]:
    """COUNT(*) of the query's rows, reading at most COUNT_CAP + 1 of them."""
    return select(func.count()).select_from(query.limit(COUNT_CAP + 1).subquery())


def _capped_count(query: Select[Any], params: dict[str, Any] | None = None) -> int:
    return db.session.scalar(_capped(query), params or {}) or 0


_GROUP_ID = bindparam("group_id", type_=GroupMember.group_id.type)
_MEMBER_COUNT = _capped(select(literal(1)).where(GroupMember.group_id == _GROUP_ID))  # built once, bound per call


def member_count(group_id: uuid.UUID) -> int:
    """How many members the group has, capped at COUNT_CAP + 1 (see count_label)."""
    return int(db.session.scalar(_MEMBER_COUNT, {"group_id": group_id}) or 0)


def _member_count_column() -> Any:
    """The capped member count of each group in a groups query, as a correlated subquery."""
    first = (
        select(literal(1).label("one"))
        .where(GroupMember.group_id == Group.id)
        .correlate(Group)
        .limit(COUNT_CAP + 1)
        .subquery()
    )
    return select(func.count()).select_from(first).scalar_subquery()


@dataclass(frozen=True)
class GroupRow:
    group: Group
    member_count: int

    @property
    def members_label(self) -> str:
        return count_label(self.member_count, "member", "members")


def list_groups(account_id: uuid.UUID, q: str = "", start: int = 0, take: int = TAKE_DEFAULT) -> Page[GroupRow]:
    """Groups by name, searched by a part of the name, with their member counts: two statements.

    The page is served by the unique (account_id, name) index; an account has few groups, so
    OFFSET paging is cheap here (member lists, which can be huge, use keyset paging).
    """
    where: list[ColumnElement[bool]] = [Group.account_id == account_id]
    if q:
        where.append(func.lower(Group.name).contains(q.lower(), autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(Group).where(*where)) or 0
    rows = db.session.execute(
        select(Group, _member_count_column().label("member_count"))
        .where(*where)
        .order_by(Group.name, Group.id)
        .offset(start)
        .limit(take)
    ).all()
    return Page(
        [GroupRow(group, count) for group, count in rows],
        start,
        take,
        total,
        query={"q": q},
        keep_defaults=False,
        last_cursor="",
    )


# --- members ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    """A membership with what the members pages show of its user (seed 003's MemberGetResponse)."""

    id: uuid.UUID
    group_id: uuid.UUID
    created_at: datetime
    user_id: uuid.UUID
    email: str
    login: str
    first_name: str
    last_name: str
    user_status: str
    expires_at: datetime | None = None  # a time-bound membership ends then

    @property
    def status(self) -> str:
        return member_status(self.user_status)

    @property
    def full_name(self) -> str:
        """As User.full_name: the names, else an invitee's email, else the login."""
        name = f"{self.first_name} {self.last_name}".strip()
        return name or (self.email if self.user_status == UserStatus.PENDING else self.login)

    @property
    def cursor(self) -> str:
        return encode_cursor((self.created_at, self.id))


def _member_columns() -> Any:
    return select(
        GroupMember.id,
        GroupMember.group_id,
        GroupMember.created_at,
        User.id,
        User.email,
        User.login,
        User.first_name,
        User.last_name,
        User.status,
        GroupMember.expires_at,
    ).join(User, User.id == GroupMember.user_id)


@dataclass(frozen=True)
class MembersPage:
    """A page of a group's members, newest first, with keyset cursors to the pages around it (no last
    page: a list read newest first by keyset), and what the members panel says besides."""

    group_id: uuid.UUID
    page: Page[MemberRow]
    count: int  # capped at COUNT_CAP + 1: members, or members matching q
    q: str

    @property
    def rows(self) -> list[MemberRow]:
        return self.page.items

    @property
    def first(self) -> int:
        return self.page.start + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.page.start + len(self.rows)

    @property
    def count_label(self) -> str:
        if self.q:
            return count_label(self.count, "match", "matches")
        return count_label(self.count, "member", "members")


_NEWEST_FIRST = (GroupMember.created_at.desc(), GroupMember.id.desc())
_POSITION = tuple_(GroupMember.created_at, GroupMember.id)
_KEY = tuple_(
    bindparam("key_created_at", type_=GroupMember.created_at.type), bindparam("key_id", type_=GroupMember.id.type)
)
_LIMIT = bindparam("limit", type_=Integer())
_SKIP = bindparam("skip", type_=Integer())


def _nth_position() -> Any:
    """The (created_at, id) of the group's n-th membership newest first (0-based, `skip`), as a subquery."""
    keys = select(GroupMember.created_at, GroupMember.id).where(GroupMember.group_id == _GROUP_ID)
    return keys.order_by(*_NEWEST_FIRST).offset(_SKIP).limit(1).scalar_subquery()


def _members_read(base: Select[Any], start: str) -> Select[Any]:
    """A members page's statement from base, by where it starts: "before" (oldest first after the key: the page
    before a cursor), "after" (newest first past the key), "nth" (from the `skip`-th membership, by keyset), or
    "offset" (a search's matches skipped by `skip`). Bound per call: group_id, limit, skip, key_created_at, key_id."""
    if start == "before":
        return base.where(_POSITION > _KEY).order_by(GroupMember.created_at, GroupMember.id).limit(_LIMIT)
    query = base.order_by(*_NEWEST_FIRST)
    if start == "after":
        query = query.where(_POSITION < _KEY)
    elif start == "nth":
        query = query.where(_POSITION <= _nth_position())  # noqa: SIM300 (a column tuple, not a constant)
    elif start == "offset":
        query = query.offset(_SKIP)
    return query.limit(_LIMIT)


@lru_cache(maxsize=8)
def _kept_members_read(start: str) -> Select[Any]:
    """The unsearched pages' statements (most loads): built once for each kind of start."""
    return _members_read(_member_columns().where(GroupMember.group_id == _GROUP_ID), start)


def members_page(
    group: Group,
    q: str = "",
    take: int = TAKE_DEFAULT,
    after: str | None = None,
    before: str | None = None,
    start: int = 0,
) -> MembersPage:
    """Members of a group, newest first, searched by email or name: a capped count and one page.

    With `after` or `before` (cursors of a neighbouring page's last or first row) the page is found
    by keyset on (created_at, id), which an index on group_members (group_id, created_at, id) serves
    at any depth; `start` is then only the position shown. Without a cursor, `start` is seed 002's `from`
    (links from elsewhere): the page's first key found by an OFFSET over that index, then the same keyset.
    """
    q = clean(q)
    params: dict[str, Any] = {"group_id": group.id, "limit": take + 1, "skip": start}
    if q:
        # The account condition lets the users' (account_id, …) indexes find the matches first.
        base = _member_columns().where(
            GroupMember.group_id == _GROUP_ID, User.account_id == group.account_id, person_matches(q)
        )
        count = _capped_count(base.with_only_columns(literal(1)), params)
    else:
        count = member_count(group.id)  # the group_members index alone, no join

    def read(start_kind: str, key: tuple[Any, ...] | None = None) -> list[Any]:
        statement = _members_read(base, start_kind) if q else _kept_members_read(start_kind)
        keyed = {} if key is None else {"key_created_at": key[0], "key_id": key[1]}
        return list(db.session.execute(statement, {**params, **keyed}).all())

    after_key, before_key = decode_cursor(after, _MEMBER_CURSOR), decode_cursor(before, _MEMBER_CURSOR)
    if before_key is not None:
        rows = read("before", before_key)
        if len(rows) <= take:  # reached the first page: show it whole
            return members_page(group, q, take)
        rows = list(reversed(rows[:take]))
        has_prev, has_next, start = True, True, max(start, take)
    else:
        # Keyset when a cursor is given; seed 002's `from` otherwise: without a search, the keyset from the
        # start-th membership, which an OFFSET over the group_members index alone finds (every membership has
        # its user: the join drops none); a search's matches are skipped by offset.
        if after_key is not None:
            rows = read("after", after_key)
        elif start and not q:
            rows = read("nth")
        else:
            rows = read("offset" if start else "first")
        has_next = len(rows) > take
        rows = rows[:take]
        has_prev = after_key is not None or start > 0
    members = [MemberRow(*row) for row in rows]
    next_cursor = members[-1].cursor if has_next and members else None
    page = Page(
        members,
        start,  # the position of the first row, for "21–40"; exact when paged from the first page
        take,
        min(count, COUNT_CAP),
        total_is_capped=count > COUNT_CAP,
        next_cursor=next_cursor,
        prev_cursor=members[0].cursor if has_prev and members else None,
        query={"q": q},
        keep_defaults=False,
        more=next_cursor is not None,
        last_cursor=None,
    )
    return MembersPage(group_id=group.id, page=page, count=count, q=q)


def member_in_group(group: Group, member_id: uuid.UUID) -> MemberRow:
    """One membership of the group with its user's details, or NotFound."""
    row = db.session.execute(
        _member_columns().where(GroupMember.id == member_id, GroupMember.group_id == group.id)
    ).first()
    if row is None:
        raise NotFound("No such member in this group.")
    return MemberRow(*row)


def current_member_user_ids(group_id: uuid.UUID) -> set[uuid.UUID]:
    """The user ids of every member of the group (to replace the whole set)."""
    return set(db.session.scalars(select(GroupMember.user_id).where(GroupMember.group_id == group_id)))


def member_emails(group_id: uuid.UUID, limit: int) -> list[str]:
    """The members' emails in the order they joined, at most `limit` of them."""
    return list(
        db.session.scalars(
            select(User.email)
            .join(GroupMember, GroupMember.user_id == User.id)
            .where(GroupMember.group_id == group_id)
            .order_by(GroupMember.created_at, GroupMember.id)
            .limit(limit)
        )
    )


def fingerprint(user_ids: Iterable[uuid.UUID]) -> str:
    """A short digest of a set of members: a preview is applied only to the set it was made from."""
    digest = hashlib.sha256("".join(sorted(i.hex for i in user_ids)).encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class ReplacementPlan:
    """Who replacing a group's members with a set of users adds and removes, and the fingerprint of
    the set it starts from (so that a reviewed plan is applied only to that set)."""

    added: list[User]
    removed: list[User]
    unchanged: int
    expected: str


def plan_replacement(group_id: uuid.UUID, users: Sequence[User]) -> ReplacementPlan:
    """Compare the group's members with the wanted users (reads only)."""
    current = current_member_user_ids(group_id)
    wanted = {user.id for user in users}
    removed_ids = sorted(current - wanted)
    removed: list[User] = []
    for i in range(0, len(removed_ids), 500):
        removed.extend(db.session.scalars(select(User).where(User.id.in_(removed_ids[i : i + 500]))))
    removed.sort(key=lambda user: user.email)
    return ReplacementPlan(
        added=[user for user in users if user.id not in current],
        removed=removed,
        unchanged=len(current & wanted),
        expected=fingerprint(current),
    )


# --- resolving people: form bodies and the picker -------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """The users that entries of a `members` field name in the account, and entries naming nobody."""

    users: list[User]
    unknown: list[str]


def resolve_people(account_id: uuid.UUID, entries: Sequence[str]) -> Resolution:
    """Users of *this* account named by id, email or login, in the entries' order, in one query.

    An id or address of another account's user resolves to nothing, like one that does not exist
    (SECURITY A3: ids in form bodies are scoped to the account).
    """
    ids = {entry: parse_uuid(entry) for entry in entries}
    wanted_ids = {value for value in ids.values() if value is not None}
    words = {entry.lower() for entry, value in ids.items() if value is None}
    emails = {word for word in words if "@" in word}
    logins = words - emails
    conditions = []
    if wanted_ids:
        conditions.append(User.id.in_(wanted_ids))
    if emails:
        conditions.append(User.email.in_(emails))
    if logins:
        conditions.append(User.login.in_(logins))
    found: list[User] = []
    if conditions:
        found = list(db.session.scalars(select(User).where(User.account_id == account_id, or_(*conditions))))
    by_id = {user.id: user for user in found}
    by_email = {user.email: user for user in found}
    by_login = {user.login: user for user in found}
    users: dict[uuid.UUID, User] = {}
    unknown: list[str] = []
    for entry in entries:
        as_id = ids[entry]
        user = by_id.get(as_id) if as_id is not None else by_email.get(entry.lower()) or by_login.get(entry.lower())
        if user is None:
            unknown.append(entry)
        else:
            users.setdefault(user.id, user)
    return Resolution(list(users.values()), unknown)


@dataclass(frozen=True)
class Candidate:
    user: User
    is_member: bool


@dataclass(frozen=True)
class Picker:
    """What the add-members picker shows: the people already chosen, then those matching `q`."""

    q: str
    selected: list[User]
    matches: list[Candidate]


def picker(account_id: uuid.UUID, group_id: uuid.UUID, q: str, selected_ids: Iterable[str]) -> Picker:
    """The account's users matching q (at most PICKER_LIMIT, members flagged), and the chosen ones."""
    wanted = parse_uuids(selected_ids)[:TAKE_MAX]
    selected: list[User] = []
    if wanted:
        found = {
            u.id: u for u in db.session.scalars(select(User).where(User.account_id == account_id, User.id.in_(wanted)))
        }
        selected = [found[i] for i in dict.fromkeys(wanted) if i in found]
    matches: list[Candidate] = []
    q = clean(q)
    if q:
        chosen = {u.id for u in selected}
        is_member = exists().where(GroupMember.group_id == group_id, GroupMember.user_id == User.id)
        rows = db.session.execute(
            select(User, is_member.label("is_member"))
            .where(User.account_id == account_id, person_matches(q))
            .order_by(User.email)
            .limit(PICKER_LIMIT + len(chosen))
        ).all()
        matches = [Candidate(user, bool(member)) for user, member in rows if user.id not in chosen][:PICKER_LIMIT]
    return Picker(q, selected, matches)


# --- the user page's panel ------------------------------------------------------------------------


@dataclass(frozen=True)
class Membership:
    """One of a user's groups, for the user page."""

    member_id: uuid.UUID
    group_id: uuid.UUID
    group_name: str
    created_at: datetime
    status: str


_MEMBERSHIPS_OF = (  # built once: every page of the API's users list reads it
    select(GroupMember.user_id, Group.id, Group.name, GroupMember.created_at)
    .join(Group, Group.id == GroupMember.group_id)
    .where(GroupMember.user_id.in_(bindparam("user_ids", type_=GroupMember.user_id.type, expanding=True)))
    .order_by(Group.name)
)


def memberships_by_user(user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[tuple[uuid.UUID, str, datetime]]]:
    """Each user's groups as (group id, name, date added), by group name, in one statement."""
    found: dict[uuid.UUID, list[tuple[uuid.UUID, str, datetime]]] = {}
    if user_ids:
        for user_id, group_id, name, added in db.session.execute(_MEMBERSHIPS_OF, {"user_ids": list(user_ids)}):
            found.setdefault(user_id, []).append((group_id, name, added))
    return found


def member_by_user(group: Group, user_id: uuid.UUID) -> MemberRow:
    """The membership of a user in the group, with their details (the API names members by user id)."""
    row = db.session.execute(
        _member_columns().where(GroupMember.group_id == group.id, GroupMember.user_id == user_id)
    ).first()
    if row is None:
        raise NotFound("No such member in this group.")
    return MemberRow(*row)


@dataclass(frozen=True)
class GroupChoice:
    """A group the user could be added to."""

    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class GroupsPanel:
    """What templates/groups/_user_groups.html shows on a user's page (the context variable `groups_panel`)."""

    memberships: list[Membership]  # the user's groups, by group name
    other_groups: list[GroupChoice]  # groups the user is not in (at most PANEL_GROUPS_LIMIT), to add them to
    more_groups: bool  # there are more such groups than listed


# The user page's groups panel: built once (read on every load of a user's page), bound per call.
_MEMBERSHIPS = (
    select(GroupMember.id, Group.id, Group.name, GroupMember.created_at)
    .join(Group, Group.id == GroupMember.group_id)
    .where(GroupMember.user_id == bindparam("user_id"), Group.account_id == bindparam("account_id"))
    .order_by(Group.name)
)
_OTHER_GROUPS = (
    select(Group.id, Group.name)
    .where(
        Group.account_id == bindparam("account_id"),
        ~exists().where(GroupMember.group_id == Group.id, GroupMember.user_id == bindparam("user_id")),
    )
    .order_by(Group.name)
    .limit(PANEL_GROUPS_LIMIT + 1)
)


def user_groups_panel(account_id: uuid.UUID, user: User) -> GroupsPanel:
    """The user page's groups panel, in two statements."""
    status = member_status(user.status)
    params = {"user_id": user.id, "account_id": account_id}
    memberships = [
        Membership(member_id, group_id, name, added, status)
        for member_id, group_id, name, added in db.session.execute(_MEMBERSHIPS, params)
    ]
    others = [GroupChoice(group_id, name) for group_id, name in db.session.execute(_OTHER_GROUPS, params)]
    return GroupsPanel(memberships, others[:PANEL_GROUPS_LIMIT], len(others) > PANEL_GROUPS_LIMIT)
