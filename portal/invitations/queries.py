"""Read side of invitations: the list, one invitation, a token's invitation, what may be offered."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, literal, select, tuple_
from sqlalchemy.orm import aliased

from portal import db, tokens
from portal.errors import NotFound
from portal.models import (
    Account,
    Group,
    Invitation,
    InvitationGroup,
    InvitationRole,
    InvitationStatus,
    OutboxEmail,
    Role,
    User,
)
from portal.pagination import Page, decode_cursor, encode_cursor
from portal.permissions import Permission
from portal.roles.policy import refusal_to_grant

FILTERS = tuple(s.value for s in InvitationStatus)


@dataclass
class InvitationRow:
    """An invitation as the list shows it, with everything loaded (no lazy loads in templates)."""

    invitation: Invitation
    status: InvitationStatus
    inviter_name: str
    email: OutboxEmail | None
    role_names: list[str] = field(default_factory=list)
    group_names: list[str] = field(default_factory=list)
    inviter: User | None = None


def next_cursor(page: Page[InvitationRow]) -> str | None:
    """The cursor of the page after this one (the API's `next`): the sort key of its last row."""
    if not page.has_next or not page.items:
        return None
    last = page.items[-1].invitation
    return encode_cursor((last.created_at, last.id))


def _filtered(account_id: uuid.UUID, status: str, now: datetime, email: str = "", q: str = "") -> Select[Invitation]:
    statement = select(Invitation).where(Invitation.account_id == account_id)
    if email:  # seed 002's email search: a prefix of the (lower-cased) address
        statement = statement.where(Invitation.email.startswith(email.strip().lower(), autoescape=True))
    if q:  # addresses are stored lower-cased
        statement = statement.where(Invitation.email.contains(q.lower(), autoescape=True))
    if status == InvitationStatus.PENDING:
        statement = statement.where(Invitation.status == InvitationStatus.PENDING.value, Invitation.expires_at > now)
    elif status == InvitationStatus.EXPIRED:
        statement = statement.where(Invitation.status == InvitationStatus.PENDING.value, Invitation.expires_at <= now)
    elif status:
        statement = statement.where(Invitation.status == status)
    return statement


def _rows(invitations: Sequence[Any], now: datetime) -> list[InvitationRow]:
    """List rows from (invitation, inviter or None, email or None) tuples, with role and group names."""
    ids = [invitation.id for invitation, _, _ in invitations]
    roles: dict[uuid.UUID, list[str]] = defaultdict(list)
    groups: dict[uuid.UUID, list[str]] = defaultdict(list)
    if ids:
        for invitation_id, name in db.session.execute(
            select(InvitationRole.invitation_id, Role.name)
            .join(Role, Role.id == InvitationRole.role_id)
            .where(InvitationRole.invitation_id.in_(ids))
            .order_by(Role.name)
        ):
            roles[invitation_id].append(name)
        for invitation_id, name in db.session.execute(
            select(InvitationGroup.invitation_id, Group.name)
            .join(Group, Group.id == InvitationGroup.group_id)
            .where(InvitationGroup.invitation_id.in_(ids))
            .order_by(Group.name)
        ):
            groups[invitation_id].append(name)
    return [
        InvitationRow(
            invitation=invitation,
            status=invitation.effective_status(now),
            inviter_name=inviter.full_name if inviter else "(deleted user)",
            email=email,
            role_names=roles[invitation.id],
            group_names=groups[invitation.id],
            inviter=inviter,
        )
        for invitation, inviter, email in invitations
    ]


def _with_inviter_and_email(statement: Select[Invitation]) -> Select[Invitation, User, OutboxEmail]:
    inviter = aliased(User)
    return (
        statement.add_columns(inviter, OutboxEmail)
        .outerjoin(inviter, inviter.id == Invitation.invited_by_id)
        .outerjoin(OutboxEmail, OutboxEmail.id == Invitation.email_id)
    )


def invitation_page(
    account_id: uuid.UUID,
    status: str,
    start: int,
    take: int,
    now: datetime,
    email: str = "",
    after: str | None = None,
    q: str = "",
) -> Page[InvitationRow]:
    """A page of the account's invitations, newest first, in three statements whatever its size; `email`
    narrows it to the addresses that start with it (the API), `q` to those that contain it (the page).

    Ordered by (created_at, id) within the account: served by ix_invitations_account_id_created_at,
    or by ix_invitations_account_id_status_created_at when filtered by status. With `after` (the cursor of the
    previous page's last row) the page is found by keyset, else `start` is an offset.
    """
    status = status if status in FILTERS else ""
    q = q.strip()[:90]
    filtered = _filtered(account_id, status, now, email, q)
    statement = _with_inviter_and_email(filtered).order_by(Invitation.created_at.desc(), Invitation.id.desc())
    key = decode_cursor(after, (datetime.fromisoformat, uuid.UUID))
    if key is not None:
        statement = statement.where(
            tuple_(Invitation.created_at, Invitation.id)
            < tuple_(literal(key[0], Invitation.created_at.type), literal(key[1]))
        )
    else:
        statement = statement.offset(start)
    rows = db.session.execute(statement.limit(take + 1)).all()
    total = db.session.scalar(select(func.count()).select_from(filtered.subquery())) or 0
    # The list's parameters (`q`, `status`) are kept by the pager's links, which leave defaults out.
    return Page(
        _rows(rows[:take], now),
        start,
        take,
        total,
        query={"q": q, "status": status},
        keep_defaults=False,
        more=len(rows) > take,
        last_cursor="",
    )


def invitation_row(account_id: uuid.UUID, invitation_id: uuid.UUID, now: datetime) -> InvitationRow:
    """One invitation of the account as a list row; 404 when missing or another account's."""
    row = db.session.execute(
        _with_inviter_and_email(
            select(Invitation).where(Invitation.account_id == account_id, Invitation.id == invitation_id)
        )
    ).first()
    if row is None:
        raise NotFound("There is no such invitation.")
    return _rows([row], now)[0]


def invitation_in_account(account_id: uuid.UUID, invitation_id: uuid.UUID) -> Invitation:
    """The account's invitation, or NotFound (the same for another account's id)."""
    invitation = db.session.scalars(
        select(Invitation).where(Invitation.account_id == account_id, Invitation.id == invitation_id)
    ).first()
    if invitation is None:
        raise NotFound("There is no such invitation.")
    return invitation


def role_ids_of(invitation_id: uuid.UUID) -> list[uuid.UUID]:
    """The roles the invitation grants on acceptance."""
    return list(db.session.scalars(select(InvitationRole.role_id).where(InvitationRole.invitation_id == invitation_id)))


def group_ids_of(invitation_id: uuid.UUID) -> list[uuid.UUID]:
    """The groups the invitation joins."""
    return list(
        db.session.scalars(select(InvitationGroup.group_id).where(InvitationGroup.invitation_id == invitation_id))
    )


def grantable_roles(account_id: uuid.UUID, permissions: frozenset[Permission]) -> list[Role]:
    """The account's roles whose every permission the actor holds: the only ones they may invite with."""
    roles = db.session.scalars(select(Role).where(Role.account_id == account_id).order_by(Role.name)).all()
    return [role for role in roles if refusal_to_grant(permissions, role) is None]


def ungrantable_roles_of(invitation: Invitation, permissions: frozenset[Permission]) -> list[str]:
    """Names of the invitation's roles the actor could not grant (they may then not edit it)."""
    roles = db.session.scalars(
        select(Role)
        .join(InvitationRole, InvitationRole.role_id == Role.id)
        .where(InvitationRole.invitation_id == invitation.id, Role.account_id == invitation.account_id)
        .order_by(Role.name)
    )
    return [role.name for role in roles if refusal_to_grant(permissions, role)]


def groups_of(account_id: uuid.UUID) -> list[Group]:
    """The account's groups, by name."""
    return list(db.session.scalars(select(Group).where(Group.account_id == account_id).order_by(Group.name)))


def roles_by_id(account_id: uuid.UUID, role_ids: list[uuid.UUID]) -> list[Role]:
    """The account's roles with these ids; NotFound when one is missing or another account's."""
    wanted = set(role_ids)
    roles = (
        list(db.session.scalars(select(Role).where(Role.account_id == account_id, Role.id.in_(wanted))))
        if wanted
        else []
    )
    if len(roles) != len(wanted):
        raise NotFound("There is no such role.")
    return sorted(roles, key=lambda role: role.name)


def groups_by_id(account_id: uuid.UUID, group_ids: list[uuid.UUID]) -> list[Group]:
    """The account's groups with these ids; NotFound when one is missing or another account's."""
    wanted = set(group_ids)
    groups = (
        list(db.session.scalars(select(Group).where(Group.account_id == account_id, Group.id.in_(wanted))))
        if wanted
        else []
    )
    if len(groups) != len(wanted):
        raise NotFound("There is no such group.")
    return sorted(groups, key=lambda group: group.name)


def users_by_email(account_id: uuid.UUID, emails: list[str]) -> dict[str, User]:
    """The account's users holding any of these (lower-cased) addresses, by address."""
    if not emails:
        return {}
    users = db.session.scalars(select(User).where(User.account_id == account_id, User.email.in_(emails)))
    return {user.email: user for user in users}


def pending_invitations_by_user(user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Invitation]:
    """The pending (possibly expired) invitation of each of these users."""
    if not user_ids:
        return {}
    invitations = db.session.scalars(
        select(Invitation).where(Invitation.user_id.in_(user_ids), Invitation.status == InvitationStatus.PENDING.value)
    )
    return {invitation.user_id: invitation for invitation in invitations if invitation.user_id is not None}


_INVITATIONS_OF = (  # built once: every page of the API's users list reads it
    select(Invitation)
    .where(Invitation.user_id.in_(bindparam("user_ids", type_=Invitation.user_id.type, expanding=True)))
    .order_by(Invitation.created_at)
)


def invitation_status_by_user(user_ids: Sequence[uuid.UUID], now: datetime) -> dict[uuid.UUID, InvitationStatus]:
    """The status of each user's latest invitation (pending, expired or accepted), for those who had one
    (one statement; a revoked invitation has no user any more)."""
    if not user_ids:
        return {}
    found: dict[uuid.UUID, InvitationStatus] = {}
    for invitation in db.session.scalars(_INVITATIONS_OF, {"user_ids": list(user_ids)}):
        if invitation.user_id is not None:
            found[invitation.user_id] = invitation.effective_status(now)
    return found


def pending_invitation_of(account_id: uuid.UUID, user_id: uuid.UUID) -> Invitation:
    """The pending (possibly expired) invitation of a user of the account; NotFound when there is none."""
    invitation = db.session.scalars(
        select(Invitation).where(
            Invitation.account_id == account_id,
            Invitation.user_id == user_id,
            Invitation.status == InvitationStatus.PENDING.value,
        )
    ).first()
    if invitation is None:
        raise NotFound("This user has no pending invitation.")
    return invitation


def login_taken(account_id: uuid.UUID, login: str, except_user_id: uuid.UUID | None = None) -> bool:
    """Whether another user of the account already has this login."""
    statement = select(User.id).where(User.account_id == account_id, User.login == login)
    if except_user_id is not None:
        statement = statement.where(User.id != except_user_id)
    return db.session.scalar(statement.limit(1)) is not None


def logins_taken(account_id: uuid.UUID, logins: Sequence[str]) -> set[str]:
    """Which of these logins users of the account have already (one statement)."""
    if not logins:
        return set()
    return set(db.session.scalars(select(User.login).where(User.account_id == account_id, User.login.in_(logins))))


def sent_in_last_day(account_id: uuid.UUID, now: datetime) -> int:
    """Invitation emails (new and resent) the account queued in the last 24 hours: what the daily limit counts."""
    return (
        db.session.scalar(
            select(func.count()).where(
                OutboxEmail.account_id == account_id,
                OutboxEmail.kind == "invitation",
                OutboxEmail.created_at >= now - timedelta(days=1),
            )
        )
        or 0
    )


@dataclass
class Invited:
    """What the accept page needs: the invitation, its account, who invited, the pending user."""

    invitation: Invitation
    account: Account
    inviter: User | None
    user: User


def by_token(token: str) -> Invited | None:
    """The invitation a token belongs to, with its account, inviter and pending user; None if unknown."""
    inviter = aliased(User)
    invitee = aliased(User)
    row = db.session.execute(
        select(Invitation, Account, inviter, invitee)
        .join(Account, Account.id == Invitation.account_id)
        .outerjoin(inviter, inviter.id == Invitation.invited_by_id)
        .join(invitee, invitee.id == Invitation.user_id)
        .where(Invitation.token_hash == tokens.digest(token))
    ).first()
    if row is None:
        return None
    invitation, account, inviting_user, user = row
    return Invited(invitation, account, inviting_user, user)
