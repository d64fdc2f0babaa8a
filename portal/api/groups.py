"""Groups and their members in the JSON API (seed 003): groups CRUD; members list, add, replace, read, remove.

A member is named by its user's id (seed 003's "account member identifier"). Every change goes through
portal.groups.services, the service of the groups pages.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from flask import Response, url_for

from portal import db
from portal.actors import from_request
from portal.api import schemas
from portal.api.core import answer, bp, check_version, if_match, operation, paging
from portal.api.errors import ApiError
from portal.groups import queries, services
from portal.groups.queries import MemberRow
from portal.models import Group, User
from portal.permissions import Permission

TAGS = ["groups"]
GROUP = "/accounts/<uuid:account_id>/groups/<uuid:group_id>"


def group_model(group: Group, member_count: int) -> schemas.Group:
    """The API's Group."""
    return schemas.Group(
        id=group.id,
        name=group.name,
        description=group.description,
        member_count=member_count,
        created_at=group.created_at,
        version=str(group.version),
    )


def _status(status: str) -> schemas.MemberStatusName:
    return cast(schemas.MemberStatusName, status)


def member_model(row: MemberRow | User) -> schemas.Member:
    """The API's Member: the user's id, email and seed 003's status."""
    if isinstance(row, User):
        return schemas.Member(id=row.id, email=row.email, status=_status(queries.member_status(row.status)))
    return schemas.Member(id=row.user_id, email=row.email, status=_status(row.status))


def _answer(group: Group, status: int = 200, created: bool = False) -> Response:
    db.session.flush()
    location = url_for("api_v1.get_group", account_id=group.account_id, group_id=group.id) if created else None
    return answer(
        group_model(group, queries.member_count(group.id)), status, version=str(group.version), location=location
    )


def _name(account_id: uuid.UUID, name: str, group_id: uuid.UUID | None = None) -> None:
    problem = services.name_problem(account_id, name, group_id)
    if problem:
        raise ApiError.one(422, problem, field="name")


@bp.get("/accounts/<uuid:account_id>/groups")
@operation(Permission.GROUPS_READ, query=schemas.GroupsQuery, answers={200: schemas.GroupsPage}, tags=TAGS)
def list_groups(account_id: uuid.UUID, query: schemas.GroupsQuery) -> Response:
    """List the groups by name, with their member counts; `q` searches a part of the name."""
    page = queries.list_groups(account_id, (query.q or "").strip(), query.from_, query.take)
    return answer(
        schemas.GroupsPage(
            groups=[group_model(row.group, row.member_count) for row in page.items],
            **paging(page, next_args={"from": page.start + page.take} if page.has_next else None),
        )
    )


@bp.post("/accounts/<uuid:account_id>/groups")
@operation(Permission.GROUPS_WRITE, body=schemas.GroupCreate, answers={201: schemas.Group}, errors=(409,), tags=TAGS)
def create_group(account_id: uuid.UUID, body: schemas.GroupCreate) -> Response:
    """Create a group (its name unique in the account, any case)."""
    _name(account_id, body.name)
    group = services.create_group(account_id, body.name, body.description, actor=from_request())
    return _answer(group, 201, created=True)


@bp.get(GROUP)
@operation(Permission.GROUPS_READ, answers={200: schemas.Group}, tags=TAGS)
def get_group(account_id: uuid.UUID, group_id: uuid.UUID) -> Response:
    """Read one group."""
    return _answer(queries.group_in_account(account_id, group_id))


@bp.patch(GROUP)
@operation(
    Permission.GROUPS_WRITE, body=schemas.GroupUpdate, answers={200: schemas.Group}, errors=(409, 412), tags=TAGS
)
def update_group(account_id: uuid.UUID, group_id: uuid.UUID, body: schemas.GroupUpdate) -> Response:
    """Rename or redescribe a group."""
    group = queries.group_in_account(account_id, group_id)
    name = body.name if body.name is not None else group.name
    _name(account_id, name, group.id)
    services.update_group(
        group,
        name,
        body.description if body.description is not None else group.description,
        expected_version=if_match(group),
        actor=from_request(),
    )
    return _answer(group)


@bp.delete(GROUP)
@operation(Permission.GROUPS_WRITE, answers={204: None}, errors=(412,), tags=TAGS)
def delete_group(account_id: uuid.UUID, group_id: uuid.UUID) -> Response:
    """Delete a group; its memberships go with it (the users stay)."""
    group = queries.group_in_account(account_id, group_id)
    check_version(group)
    services.delete_group(group, actor=from_request())
    return answer(None, 204)


@bp.get(GROUP + "/members")
@operation(Permission.GROUPS_READ, query=schemas.ListQuery, answers={200: schemas.MembersPage}, tags=TAGS)
def list_members(account_id: uuid.UUID, group_id: uuid.UUID, query: schemas.ListQuery) -> Response:
    """List a group's members, newest first (seed 003); `after` (inside `next`) pages by keyset."""
    group = queries.group_in_account(account_id, group_id)
    page = queries.members_page(group, take=query.take, after=query.after, start=query.from_).page
    next_args = {"from": page.start + len(page.items), "after": page.next_cursor} if page.next_cursor else None
    return answer(
        schemas.MembersPage(
            members=[member_model(row) for row in page.items],
            **paging(page, capped=page.total_is_capped, next_args=next_args),
        )
    )


def _people(account_id: uuid.UUID, refs: schemas.MemberRefs) -> list[User]:
    """The users the items name (by id or email); 422 with nothing changed when one names nobody here."""
    found = queries.resolve_people(account_id, [ref.entry for ref in refs.root])
    if found.unknown:
        shown = ", ".join(found.unknown[:5]) + (f" and {len(found.unknown) - 5} more" if len(found.unknown) > 5 else "")
        raise ApiError.one(422, f"Not a user of this account: {shown}.", field="members")
    return found.users


@bp.post(GROUP + "/members")
@operation(Permission.GROUPS_WRITE, body=schemas.MemberRefs, answers={200: schemas.MemberList}, tags=TAGS)
def add_members(account_id: uuid.UUID, group_id: uuid.UUID, body: schemas.MemberRefs) -> Response:
    """Add people by `id` or `email` (seed 003); answers the members added (those already in it are left)."""
    group = queries.group_in_account(account_id, group_id)
    people = _people(account_id, body)
    named = {str(user.id): user for user in people} | {user.email: user for user in people}
    expiries: dict[datetime | None, dict[uuid.UUID, User]] = {}
    for ref in body.root:
        if ref.expires_at is not None and ref.expires_at.tzinfo is None:
            raise ApiError.one(422, "Give the time with its zone (…Z).", field="expires_at")
        user = named[ref.entry]
        expiries.setdefault(ref.expires_at, {})[user.id] = user
    added: list[User] = []
    for expires_at, users in expiries.items():
        added += services.add_members(group, list(users.values()), expires_at, actor=from_request()).added
    return answer(schemas.MemberList([member_model(user) for user in added]))


@bp.put(GROUP + "/members")
@operation(
    Permission.GROUPS_WRITE, body=schemas.MemberRefs, answers={200: schemas.MemberList}, errors=(409,), tags=TAGS
)
def replace_members(account_id: uuid.UUID, group_id: uuid.UUID, body: schemas.MemberRefs) -> Response:
    """Make the group's members exactly these people (seed 003); answers the members now."""
    group = queries.group_in_account(account_id, group_id)
    if any(ref.expires_at is not None for ref in body.root):
        raise ApiError.one(
            422, "expires_at applies when adding members (POST), not when replacing the set.", field="expires_at"
        )
    users = _people(account_id, body)
    services.replace_members(group, users, actor=from_request())
    return answer(schemas.MemberList([member_model(user) for user in users]))


@bp.get(GROUP + "/members/<uuid:member_id>")
@operation(Permission.GROUPS_READ, answers={200: schemas.MemberDetail}, tags=TAGS)
def get_member(account_id: uuid.UUID, group_id: uuid.UUID, member_id: uuid.UUID) -> Response:
    """One member in detail: when they were added, and their user (seed 003)."""
    row = queries.member_by_user(queries.group_in_account(account_id, group_id), member_id)
    return answer(
        schemas.MemberDetail(
            id=row.user_id,
            email=row.email,
            status=_status(row.status),
            created_at=row.created_at,
            user=schemas.MemberUser(
                id=row.user_id, email=row.email, first_name=row.first_name, last_name=row.last_name
            ),
        )
    )


@bp.delete(GROUP + "/members/<uuid:member_id>")
@operation(Permission.GROUPS_WRITE, answers={200: schemas.Member}, tags=TAGS)
def remove_member(account_id: uuid.UUID, group_id: uuid.UUID, member_id: uuid.UUID) -> Response:
    """Take one person out of the group; answers the removed member (seed 003)."""
    group = queries.group_in_account(account_id, group_id)
    row = queries.member_by_user(group, member_id)
    services.remove_member(group, row, actor=from_request())
    return answer(member_model(row))
