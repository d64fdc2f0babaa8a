"""Read side of roles: what a person may do, the account's roles, their members, a user's roles."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.orm import contains_eager
from werkzeug.datastructures import MultiDict

from portal import db
from portal.db import utcnow
from portal.errors import NotFound
from portal.models import LoginSession, Role, RoleAssignment, User
from portal.models.role import in_force
from portal.pagination import Page, decode_cursor, encode_cursor, parse_from, parse_take
from portal.permissions import ALL_PERMISSIONS, Permission, parse_permissions
from portal.references import by_reference
from portal.roles import policy


def effective_permissions(user: User, login_session: LoginSession | None) -> frozenset[Permission]:
    """The owner holds everything; anyone else holds what their roles active in this session grant.

    A grant whose expiry has passed counts for nothing from that moment (in_force), before the worker's
    sweep removes it; default_role_permissions (API keys) and the rank rule apply the same condition."""
    return permissions_until(user, login_session, utcnow())[0]


def permissions_until(
    user: User, login_session: LoginSession | None, now: datetime
) -> tuple[frozenset[Permission], datetime | None]:
    """effective_permissions, and until when they hold unchanged by time alone (the first in-force
    grant to expire; None: no grant expires) — what the sign-in check may cache on the session row."""
    if user.is_owner:
        return ALL_PERMISSIONS, None
    active = set(login_session.active_role_ids) if login_session is not None else None
    rows = db.session.execute(
        select(Role.id, Role.permissions, RoleAssignment.expires_at)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .where(RoleAssignment.user_id == user.id, in_force(RoleAssignment.expires_at, now))
    ).all()
    held: set[Permission] = set()
    until: datetime | None = None
    for role_id, permissions, expires_at in rows:
        if expires_at is not None and (until is None or expires_at < until):
            until = expires_at
        if active is None or str(role_id) in active:
            held |= parse_permissions(permissions)
    return frozenset(held), until


_DEFAULT_ROLES_PERMISSIONS = (  # built once: every API request reads it
    select(Role.permissions)
    .join(RoleAssignment, RoleAssignment.role_id == Role.id)
    .where(
        RoleAssignment.user_id == bindparam("user_id"),
        RoleAssignment.is_default.is_(True),
        in_force(RoleAssignment.expires_at, bindparam("now", type_=RoleAssignment.expires_at.type)),
    )
)


def default_role_permissions(user: User) -> frozenset[Permission]:
    """What the user holds at sign-in: everything for the owner, else what their default roles grant (one statement).

    An API key acts with its scopes intersected with this, read on every request (SECURITY A6)."""
    if user.is_owner:
        return ALL_PERMISSIONS
    rows = db.session.scalars(_DEFAULT_ROLES_PERMISSIONS, {"user_id": user.id, "now": utcnow()}).all()
    return frozenset().union(*(parse_permissions(permissions) for permissions in rows))


def permissions_of(role: Role) -> frozenset[Permission]:
    """The role's permissions as the catalogue knows them."""
    return parse_permissions(role.permissions)


def in_catalogue_order(permissions: frozenset[Permission]) -> list[Permission]:
    """Permissions in the order of the catalogue (users, invitations, roles, groups, audit, account)."""
    return [p for p in Permission if p in permissions]


# --- The account's roles ---------------------------------------------------------------------


@dataclass(frozen=True)
class RoleRow:
    """A line of the roles list."""

    role: Role
    member_count: int

    @property
    def permissions(self) -> list[Permission]:
        return in_catalogue_order(permissions_of(self.role))

    @property
    def has_all(self) -> bool:
        return permissions_of(self.role) == ALL_PERMISSIONS


def roles_with_member_counts(account_id: uuid.UUID) -> list[RoleRow]:
    """Every role of the account with how many users hold it, built-in roles first (one statement)."""
    members = (
        select(func.count())
        .select_from(RoleAssignment)
        .where(RoleAssignment.role_id == Role.id)
        .correlate(Role)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(Role, members)
        .where(Role.account_id == account_id)
        .order_by(Role.is_builtin.desc(), func.lower(Role.name), Role.id)
    ).all()
    return [RoleRow(role, count) for role, count in rows]


def role_in_account(account_id: uuid.UUID, role_id: uuid.UUID) -> Role:
    """The role, or NotFound when it is missing or belongs to another account."""
    role = db.session.scalar(select(Role).where(Role.id == role_id, Role.account_id == account_id))
    if role is None:
        raise NotFound("No such role.")
    return role


def roles_by_reference(account_id: uuid.UUID, references: list[str]) -> tuple[list[Role], list[str]]:
    """The account's roles named by id or name (any case), in the order given, once each, and the references
    that name none (another account's id names none: SECURITY A3). One statement."""
    return by_reference(Role, account_id, references)


def role_name_taken(account_id: uuid.UUID, name: str, except_role_id: uuid.UUID | None = None) -> bool:
    """Whether another role of the account has this name, compared without regard to case."""
    statement = select(Role.id).where(Role.account_id == account_id, func.lower(Role.name) == name.lower())
    if except_role_id is not None:
        statement = statement.where(Role.id != except_role_id)
    return db.session.scalar(statement.limit(1)) is not None


def member_count(role_id: uuid.UUID) -> int:
    return (
        db.session.scalar(select(func.count()).select_from(RoleAssignment).where(RoleAssignment.role_id == role_id))
        or 0
    )


@dataclass(frozen=True)
class Member:
    """A holder of a role, on the role's page."""

    user: User
    is_default: bool


def role_members(role: Role, args: Mapping[str, str]) -> Page[Member]:
    """One page of the role's holders by login (`from`, `take`; an `after` cursor seeks by index)."""
    take = parse_take(args.get("take"))
    start = parse_from(args.get("from"))
    after = decode_cursor(args.get("after"), (str, uuid.UUID))
    statement = (
        select(User, RoleAssignment.is_default)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.role_id == role.id, User.account_id == role.account_id)
        .order_by(User.login, User.id)
    )
    if after is not None:
        statement = statement.where(tuple_(User.login, User.id) > tuple_(*after))
    else:
        statement = statement.offset(start)
    rows = db.session.execute(statement.limit(take + 1)).all()
    items = [Member(user, is_default) for user, is_default in rows[:take]]
    next_cursor = encode_cursor((items[-1].user.login, items[-1].user.id)) if len(rows) > take else None
    return Page(
        items=items,
        start=start,
        take=take,
        total=member_count(role.id),
        next_cursor=next_cursor,
        more=next_cursor is not None,
        query=MultiDict({"take": str(take)}),
    )


# --- One user's roles: the panel on the user page ----------------------------------------------


def user_in_account(account_id: uuid.UUID, user_id: uuid.UUID) -> User:
    """The user, or NotFound when they are missing or belong to another account."""
    user: User | None = db.session.scalar(select(User).where(User.id == user_id, User.account_id == account_id))
    if user is None:
        raise NotFound("No such user.")
    return user


def held_roles(user_id: uuid.UUID) -> list[RoleAssignment]:
    """The user's role assignments with their roles, by role name (one statement)."""
    return list(
        db.session.scalars(
            select(RoleAssignment)
            .join(Role, Role.id == RoleAssignment.role_id)
            .where(RoleAssignment.user_id == user_id, in_force(RoleAssignment.expires_at, utcnow()))
            .options(contains_eager(RoleAssignment.role))
            .order_by(Role.is_builtin.desc(), func.lower(Role.name))
        )
    )


@dataclass(frozen=True)
class HeldRole:
    """A role the user holds; `refusal` says why the actor may not change it (None: they may)."""

    role: Role
    is_default: bool
    refusal: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class RefusedRole:
    """A role the actor may not grant, and why."""

    role: Role
    reason: str


@dataclass(frozen=True)
class PermissionSource:
    """One of the user's permissions and the held roles it comes from (empty for the owner's)."""

    permission: Permission
    roles: list[HeldRole] = field(default_factory=list)

    @property
    def at_sign_in(self) -> bool:
        """Whether a default role grants it, so that it is active when the user signs in."""
        return any(held.is_default for held in self.roles)


@dataclass(frozen=True)
class RolesPanel:
    """Everything templates/roles/_user_roles.html shows of one user's roles (the context variable `roles_panel`).

    The template makes the words ("Yes", "until …", "(when activated)") from these values."""

    user_id: uuid.UUID
    is_owner: bool
    may_write: bool  # the actor holds roles:write
    refusal: str | None  # why the actor may not change this user's roles (None: they may)
    assignments: list[HeldRole]
    grantable: list[Role]  # not held, and the actor may grant them
    ungrantable: list[RefusedRole]
    permissions: list[PermissionSource]
    rank_refusal: str | None = None  # why the actor may not act on this user at all (policy.refusal_for's answer)
    notice: str | None = None  # set by a route after a change that worked
    error: str | None = None  # set by a route when the last change was refused

    @property
    def may_act(self) -> bool:
        """The actor may change this user's roles (they hold roles:write and the policy lets them)."""
        return self.refusal is None


_ROLES_AND_GRANTS = (  # built once (the user page reads it on every load), bound per call
    select(Role, policy.GRANTS.c.is_default, policy.GRANTS.c.invited, policy.GRANTS.c.expires_at)
    .outerjoin(policy.GRANTS, policy.GRANTS.c.role_id == Role.id)
    .where(Role.account_id == bindparam("account_id"))
    .order_by(Role.is_builtin.desc(), func.lower(Role.name))
)


def _roles_and_grants(account_id: uuid.UUID, user_id: uuid.UUID) -> list[tuple[Role, Any, Any, Any]]:
    """The account's roles by name (built-in first), each with the user's grant of it (is_default, invited,
    expires_at; None where they hold none; a role both held and invited comes twice): one statement, on the
    rank's own read (policy.GRANTS)."""
    rows = db.session.execute(_ROLES_AND_GRANTS, {"account_id": account_id, "ids": [user_id], "now": utcnow()})
    return [(role, is_default, invited, expires_at) for role, is_default, invited, expires_at in rows]


def user_roles_panel(
    account_id: uuid.UUID, user: User, actor: User, actor_permissions: frozenset[Permission]
) -> RolesPanel:
    """The user page's roles panel, as the actor sees it, in one statement (the account's roles with the user's
    grants and invited roles): the rank (policy.held_permissions' rule) comes from it too, so the page reads it
    from here (rank_refusal) rather than again."""
    rows = _roles_and_grants(account_id, user.id)
    assignments = [
        (role, bool(default), expires)
        for role, default, invited, expires in rows
        if invited is not None and not invited
    ]
    held_ids = {role.id for role, _default, _expires in assignments}
    ranked_ids = {role.id for role, _default, invited, _expires in rows if invited is not None}
    user_permissions = frozenset().union(*(permissions_of(role) for role, _default, _expires in assignments))
    may_write = Permission.ROLES_WRITE in actor_permissions
    # The rank rule (portal.roles.policy): every role held or, while invited, to be held.
    rank = policy.rank_of(role.permissions for role, *_grant in rows if role.id in ranked_ids)
    rank_refusal = policy.refusal_to_act_on(actor, actor_permissions, user, rank)
    refusal = rank_refusal if may_write else "You need the roles:write permission to change roles."

    held: list[HeldRole] = []
    for role, is_default, expires_at in assignments:
        reason = refusal or policy.refusal_to_grant(actor_permissions, role)
        held.append(HeldRole(role, is_default, reason, expires_at))

    grantable: list[Role] = []
    ungrantable: list[RefusedRole] = []
    for role in dict.fromkeys(role for role, *_grant in rows):  # each role once, in order
        if role.id in held_ids:
            continue
        reason = policy.refusal_to_grant(actor_permissions, role)
        if reason is None:
            grantable.append(role)
        else:
            ungrantable.append(RefusedRole(role, reason))

    if user.is_owner:
        permissions = [PermissionSource(p) for p in Permission]
    else:
        permissions = [
            PermissionSource(p, [h for h in held if p in permissions_of(h.role)])
            for p in Permission
            if p in user_permissions
        ]
    return RolesPanel(
        user_id=user.id,
        is_owner=user.is_owner,
        may_write=may_write,
        refusal=refusal,
        rank_refusal=rank_refusal,
        assignments=held,
        grantable=grantable,
        ungrantable=ungrantable,
        permissions=permissions,
    )
