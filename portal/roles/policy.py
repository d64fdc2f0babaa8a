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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import cast

from sqlalchemy import select, union_all

from portal import db
from portal.db import utcnow
from portal.errors import Forbidden
from portal.models import Invitation, InvitationRole, InvitationStatus, Role, RoleAssignment, User
from portal.models.role import in_force
from portal.permissions import Permission, parse_permissions


def held_permissions(user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, frozenset[Permission]]:
    """Every permission each user holds through any of their roles, or, while they are invited, through the
    roles their pending (possibly expired: resending revives it) invitation grants (one query for all)."""
    ids = list(user_ids)
    held: dict[uuid.UUID, set[Permission]] = defaultdict(set)
    if ids:
        assigned = (
            select(RoleAssignment.user_id.label("user_id"), Role.permissions.label("permissions"))
            .join(Role, Role.id == RoleAssignment.role_id)
            .where(RoleAssignment.user_id.in_(ids), in_force(RoleAssignment.expires_at, utcnow()))
        )
        invited = (
            select(Invitation.user_id.label("user_id"), Role.permissions.label("permissions"))
            .join(InvitationRole, InvitationRole.invitation_id == Invitation.id)
            .join(Role, Role.id == InvitationRole.role_id)
            .where(
                Invitation.user_id.in_(ids),
                Invitation.status == InvitationStatus.PENDING.value,
                in_force(InvitationRole.expires_at, utcnow()),
            )
        )
        rows = cast(Iterable[tuple[uuid.UUID, list[str]]], db.session.execute(union_all(assigned, invited)))
        for user_id, permissions in rows:
            held[user_id] |= parse_permissions(permissions)
    return {user_id: frozenset(held.get(user_id, ())) for user_id in ids}


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
