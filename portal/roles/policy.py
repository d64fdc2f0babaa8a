"""Who may act on whom, and who may grant what: the no-escalation rules (SECURITY A4, A5).

Rank is measured in permissions: an actor may act on a user only when every permission the
user holds (through any role, active or not) is one the actor holds now. So only the owner
or an account-admin acts on an account-admin, and nobody but the owner acts on the owner.
A pending user holds no role yet: they rank by the roles their pending invitation grants on
acceptance (groups carry no permissions), so nobody acts on them who could not grant those roles.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Subquery, bindparam, literal, select, union_all
from sqlalchemy.types import Uuid

from portal import db
from portal.db import UTCDateTime, utcnow
from portal.errors import Forbidden
from portal.models import Invitation, InvitationRole, InvitationStatus, Role, RoleAssignment, User
from portal.models.role import in_force
from portal.permissions import Permission, parse_permissions


def _grants() -> Subquery:
    """The roles some users hold now (in_force), and those their pending (possibly expired: resending revives it)
    invitation grants on accepting, by role id: what they rank by. Built once, bound per call (`ids`, `now`)."""
    ids = bindparam("ids", type_=Uuid(), expanding=True)
    now = bindparam("now", type_=UTCDateTime())
    held = select(
        RoleAssignment.user_id.label("user_id"),
        RoleAssignment.role_id.label("role_id"),
        RoleAssignment.is_default.label("is_default"),
        literal(False).label("invited"),
        RoleAssignment.expires_at.label("expires_at"),
    ).where(RoleAssignment.user_id.in_(ids), in_force(RoleAssignment.expires_at, now))
    invited = (
        select(Invitation.user_id, InvitationRole.role_id, literal(True), literal(True), InvitationRole.expires_at)
        .join(InvitationRole, InvitationRole.invitation_id == Invitation.id)
        .where(
            Invitation.user_id.in_(ids),
            Invitation.status == InvitationStatus.PENDING.value,
            in_force(InvitationRole.expires_at, now),
        )
    )
    return union_all(held, invited).subquery("grants")


# Every read of "who holds which role" that ranks or names them joins this: the users list's and the API's role
# names, held_permissions, the user page's roles panel (bound with {"ids": [...], "now": utcnow()}).
GRANTS = _grants()


@dataclass(frozen=True)
class Grant:
    """A role a user holds (or, while invited, will hold): its name and permissions, as of now."""

    user_id: uuid.UUID
    name: str
    permissions: list[str]
    is_default: bool
    invited: bool = False
    expires_at: datetime | None = None


_GRANTS_BY_NAME = (
    select(
        GRANTS.c.user_id,
        Role.name,
        Role.permissions,
        GRANTS.c.is_default,
        GRANTS.c.invited,
        GRANTS.c.expires_at,
    )
    .join(Role, Role.id == GRANTS.c.role_id)
    .order_by(Role.name)
)


def grants_of(user_ids: Sequence[uuid.UUID]) -> list[Grant]:
    """The held and invited roles of these users by name (one statement): what their rank (held_permissions)
    and the lists' role names are both read from, so a page needing both reads them once."""
    if not user_ids:
        return []
    rows = db.session.connection().execute(_GRANTS_BY_NAME, {"ids": list(user_ids), "now": utcnow()})
    return [
        Grant(user_id, name, permissions, bool(is_default), bool(invited), expires_at)
        for user_id, name, permissions, is_default, invited, expires_at in rows
    ]


def rank_of(permission_lists: Iterable[list[str]]) -> frozenset[Permission]:
    """The permissions a user ranks by: every permission of the roles they hold or are invited to."""
    held: set[Permission] = set()
    for permissions in permission_lists:
        held |= parse_permissions(permissions)
    return frozenset(held)


def ranks_from(user_ids: Iterable[uuid.UUID], grants: Iterable[Grant]) -> dict[uuid.UUID, frozenset[Permission]]:
    """held_permissions of these users from their grants (grants_of), read already."""
    lists: dict[uuid.UUID, list[list[str]]] = defaultdict(list)
    for grant in grants:
        lists[grant.user_id].append(grant.permissions)
    return {user_id: rank_of(lists.get(user_id, ())) for user_id in user_ids}


def held_permissions(user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, frozenset[Permission]]:
    """Every permission each user holds through any of their roles, or, while they are invited, through the
    roles their pending (possibly expired: resending revives it) invitation grants (one query for all)."""
    ids = list(user_ids)
    return ranks_from(ids, grants_of(ids))


def refusal_to_act_on(
    actor: User, actor_permissions: frozenset[Permission], target: User, target_permissions: frozenset[Permission]
) -> str | None:
    """Why the actor may not act on the target, or None when they may."""
    if target.is_owner and not actor.is_owner:
        return "Only the owner can change the owner."
    missing = target_permissions - actor_permissions
    if missing:
        names = ", ".join(sorted(p.value for p in missing))
        return f"{target.full_name} holds permissions you do not have ({names})."
    return None


# Ranks a batch of work (an import's) read ahead with held_permissions, for the checks its services make.
# Granting within the batch only adds roles the actor may grant, which changes no refusal: still exact.
_RANKS_AHEAD: ContextVar[dict[uuid.UUID, frozenset[Permission]] | None] = ContextVar("ranks_ahead", default=None)


@contextmanager
def ranks_read_ahead(ranks: dict[uuid.UUID, frozenset[Permission]]) -> Iterator[None]:
    """Within the block, refusal_for ranks these users from `ranks` (held_permissions of them, read at once)."""
    token = _RANKS_AHEAD.set(ranks)
    try:
        yield
    finally:
        _RANKS_AHEAD.reset(token)


def ranks_of(targets: Iterable[User]) -> dict[uuid.UUID, frozenset[Permission]]:
    """Each target's rank now: read ahead (ranks_read_ahead) or, for those not, held_permissions in one query."""
    ahead = _RANKS_AHEAD.get() or {}
    ranks = {target.id: ahead[target.id] for target in targets if target.id in ahead}
    missing = [target.id for target in targets if target.id not in ranks]
    return ranks | (held_permissions(missing) if missing else {})


def refusals_for(
    actor: User, actor_permissions: frozenset[Permission], targets: Iterable[User]
) -> dict[uuid.UUID, str]:
    """refusal_for over a batch of targets (ranked in one query at most): the refused ones, with why."""
    listed = list(targets)
    ranks = ranks_of(listed)
    refusals = {target.id: refusal_to_act_on(actor, actor_permissions, target, ranks[target.id]) for target in listed}
    return {user_id: reason for user_id, reason in refusals.items() if reason is not None}


def refusal_for(actor: User, actor_permissions: frozenset[Permission], target: User) -> str | None:
    """Why the actor may not act on the target as ranked now (invited roles count for a pending user), or None."""
    return refusals_for(actor, actor_permissions, [target]).get(target.id)


def may_act_on(actor: User, actor_permissions: frozenset[Permission], target: User) -> bool:
    """Whether the actor outranks or equals the target (what pages ask before offering an action)."""
    return refusal_for(actor, actor_permissions, target) is None


def ensure_may_act_on(actor: User, actor_permissions: frozenset[Permission], target: User) -> None:
    """Raise Forbidden unless the actor outranks or equals the target."""
    reason = refusal_for(actor, actor_permissions, target)
    if reason:
        raise Forbidden(reason)


def refusal_to_grant(actor_permissions: frozenset[Permission], role: Role) -> str | None:
    """Why the actor may not grant the role (it holds permissions they lack), or None."""
    missing = parse_permissions(role.permissions) - actor_permissions
    if missing:
        return f"You need {', '.join(sorted(p.value for p in missing))} to grant the role {role.name}."
    return None


def ensure_may_grant(actor_permissions: frozenset[Permission], role: Role) -> None:
    """Raise Forbidden unless every permission of the role is the actor's own."""
    reason = refusal_to_grant(actor_permissions, role)
    if reason:
        raise Forbidden(reason)
