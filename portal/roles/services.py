"""Changing roles and who holds them. Every path checks the no-escalation rules (SECURITY A4, A5).

The rules, in one place for every caller (pages, bulk actions, the API):
- a role's permissions are always a subset of the actor's own: nobody creates, edits or grants a
  role holding a permission they do not hold, nor edits or deletes a role holding one;
- built-in roles are neither edited nor deleted;
- a role is granted, changed or taken away only when the policy lets the actor act on the user
  (nobody but the owner acts on the owner; only the owner or an account-admin on an account-admin);
- a person cannot take roles:write away from themselves through a role edit, a role deletion or
  removing their own role while it is their last held source of roles:write (the owner is exempt:
  they hold every permission whatever their roles). The owner always remains, so the account is
  never locked out; this rule keeps an admin from cutting off the branch they sit on.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from portal import db
from portal.actors import Actor
from portal.audit.services import record, record_all
from portal.db import utcnow
from portal.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from portal.models import LoginSession, Role, RoleAssignment, User, UserStatus
from portal.permissions import Permission
from portal.roles import policy, queries
from portal.roles.queries import permissions_of
from portal.versioning import ensure_version, saving, touch

BUILTIN_REFUSAL = "Built-in roles cannot be changed or deleted."
NAME_MIN, NAME_MAX = 2, 64
DESCRIPTION_MAX = 255


class BuiltinRoleRefusal(Forbidden):
    """A built-in role was to be changed or deleted: 403 on the pages, 409 (the role's state) in the JSON API."""


def name_problem(account_id: uuid.UUID, name: str, role_id: uuid.UUID | None = None) -> str | None:
    """What is wrong with a role name: 2 to 64 characters, unique in the account without regard to case."""
    if not NAME_MIN <= len(name) <= NAME_MAX:
        return f"Field must be between {NAME_MIN} and {NAME_MAX} characters long."
    if queries.role_name_taken(account_id, name, role_id):
        return "Another role of the account has this name."
    return None


def _values(permissions: Iterable[Permission]) -> list[str]:
    return sorted(p.value for p in permissions)


def _ensure_may_give(actor_permissions: frozenset[Permission], permissions: frozenset[Permission]) -> None:
    missing = permissions - actor_permissions
    if missing:
        names = ", ".join(sorted(p.value for p in missing))
        raise Forbidden(f"You cannot give a role permissions you do not hold yourself ({names}).")


def _ensure_keeps_roles_write(
    actor: Actor, role_id: uuid.UUID, after: frozenset[Permission] | None, held_after: bool = True
) -> None:
    """Refuse a change that takes the actor's last held source of roles:write away from them.

    `after` is the role's permissions once changed (None: the role is deleted); held_after=False
    when the change takes the role itself away from the actor.
    """
    if actor.user.is_owner:
        return
    sources_before, sources_after = 0, 0
    for assignment in db.session.scalars(select(RoleAssignment).where(RoleAssignment.user_id == actor.user.id)):
        permissions = permissions_of(assignment.role)
        if Permission.ROLES_WRITE in permissions:
            sources_before += 1
        if assignment.role_id == role_id:
            permissions = after if (after is not None and held_after) else frozenset()
        if Permission.ROLES_WRITE in permissions:
            sources_after += 1
    if sources_before and not sources_after:
        raise Invalid(
            "This change would take the roles:write permission away from you: it is your last role "
            "that has it. Ask the owner or another administrator to make it."
        )


@contextmanager
def _unique_name(name: str) -> Iterator[None]:
    """Run the change in a savepoint, so that a name taken at the same moment by someone else (the form
    checked it just before) becomes a Conflict and leaves the request's transaction usable (as groups do)."""
    try:
        with db.session.begin_nested():
            yield
    except IntegrityError:
        raise Conflict(f"Another role was named {name} a moment ago. Choose another name.") from None


# --- Roles ---------------------------------------------------------------------------------------


def refusal_to_change(role: Role, actor_permissions: frozenset[Permission]) -> str | None:
    """Why the actor may not edit or delete the role, or None when they may (pages hide the buttons)."""
    if Permission.ROLES_WRITE not in actor_permissions:
        return "You need the roles:write permission to change roles."
    if role.is_builtin:
        return BUILTIN_REFUSAL
    missing = permissions_of(role) - actor_permissions
    if missing:
        names = ", ".join(sorted(p.value for p in missing))
        return f"The role {role.name} holds permissions you do not have ({names}); you cannot change it."
    return None


def ensure_may_change(role: Role, actor_permissions: frozenset[Permission]) -> None:
    """Raise Forbidden unless the actor may edit or delete the role (BuiltinRoleRefusal for a built-in one)."""
    reason = refusal_to_change(role, actor_permissions)
    if reason == BUILTIN_REFUSAL:
        raise BuiltinRoleRefusal(reason)
    if reason:
        raise Forbidden(reason)


def create_role(
    account_id: uuid.UUID, *, name: str, description: str, permissions: frozenset[Permission], actor: Actor
) -> Role:
    """A custom role of the account, holding only permissions the actor holds."""
    _ensure_may_give(actor.permissions, permissions)
    role = Role(
        account_id=account_id, name=name, description=description, permissions=_values(permissions), is_builtin=False
    )
    with _unique_name(name):
        db.session.add(role)
    record(
        "role.create",
        role,
        actor=actor,
        changes={"name": name, "description": description, "permissions": _values(permissions)},
    )
    return role


def update_role(
    role: Role,
    *,
    name: str,
    description: str,
    permissions: frozenset[Permission],
    expected_version: int | None,
    actor: Actor,
) -> Role:
    """Change a custom role; refused for built-in roles, escalation, lock-out and a stale form (StaleEdit, 409;
    `expected_version` None: the change applies to the current version)."""
    ensure_may_change(role, actor.permissions)
    _ensure_may_give(actor.permissions, permissions)
    before = {"name": role.name, "description": role.description, "permissions": sorted(role.permissions)}
    after = {"name": name, "description": description, "permissions": _values(permissions)}
    ensure_version(role, expected_version, submitted=after)
    _ensure_keeps_roles_write(actor, role.id, permissions)
    changes = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    with _unique_name(name), saving(role, submitted=after):
        role.name, role.description, role.permissions = name, description, _values(permissions)
    if changes:
        record("role.update", role, actor=actor, changes=changes)
    return role


def delete_role(role: Role, *, actor: Actor) -> int:
    """Delete a custom role and every assignment of it; returns how many users held it."""
    ensure_may_change(role, actor.permissions)
    _ensure_keeps_roles_write(actor, role.id, None)
    holders = db.session.scalars(select(RoleAssignment.user_id).where(RoleAssignment.role_id == role.id)).all()
    db.session.execute(delete(RoleAssignment).where(RoleAssignment.role_id == role.id))
    record(
        "role.delete",
        role,
        actor=actor,
        changes={"name": role.name, "permissions": sorted(role.permissions), "holders": len(holders)},
    )
    db.session.delete(role)
    return len(holders)


# --- Who holds which role ------------------------------------------------------------------------


def _assign_problem(user: User, role: Role, actor: Actor, rank_refusal: str | None) -> DomainError | None:
    """Why the actor may not grant or take away the role of the user (`rank_refusal`: policy's, for the user)."""
    if role.account_id != user.account_id:
        return NotFound("No such role.")
    if rank_refusal is not None:
        return Forbidden(rank_refusal)
    refusal = policy.refusal_to_grant(actor.permissions, role)
    return Forbidden(refusal) if refusal else None


def _ensure_may_assign(user: User, role: Role, actor: Actor) -> None:
    problem = _assign_problem(user, role, actor, policy.refusal_for(actor.user, actor.permissions, user))
    if problem is not None:
        raise problem


def _assignment(user: User, role: Role) -> RoleAssignment | None:
    return db.session.get(RoleAssignment, (user.id, role.id))


@dataclass(frozen=True)
class Grant:
    """A role to grant to a user, time-bound when `expires_at` is given (assign_roles, grant_all)."""

    user: User
    role: Role
    expires_at: datetime | None = None

    @property
    def key(self) -> tuple[uuid.UUID, uuid.UUID]:
        return self.user.id, self.role.id


@dataclass
class Assigned:
    """What assign_roles did: the assignment of each grant made or kept, and each refused grant's error."""

    assignments: dict[tuple[uuid.UUID, uuid.UUID], RoleAssignment] = field(default_factory=dict)
    refusals: dict[tuple[uuid.UUID, uuid.UUID], DomainError] = field(default_factory=dict)


def assign_role(
    user: User,
    role: Role,
    *,
    is_default: bool,
    actor: Actor,
    expires_at: datetime | None = None,
    keep_default: bool = False,
) -> RoleAssignment:
    """Grant the role to the user, or change whether it is a default role when they hold it already.

    A newly granted role is active from the user's next sign-in when it is a default role (or once
    they activate it on /me/roles); live sessions keep the roles they have active. `expires_at` makes the
    grant time-bound (it stops counting then; the worker removes it); a held role gets the new expiry.
    `keep_default`: a held role keeps its default flag (bulk grants and imports only add).
    """
    grant_ = Grant(user, role, expires_at)
    assigned = assign_roles([grant_], is_default=is_default, keep_default=keep_default, actor=actor)
    for error in assigned.refusals.values():
        raise error
    return assigned.assignments[grant_.key]


def assign_roles(grants: Sequence[Grant], *, is_default: bool, actor: Actor, keep_default: bool = False) -> Assigned:
    """assign_role for a batch of grants (bulk grants, imports), in a constant number of statements: the refused
    ones (by (user id, role id)) change nothing; a grant named twice is made once."""
    now = utcnow()
    ranked = policy.refusals_for(actor.user, actor.permissions, list({g.user.id: g.user for g in grants}.values()))
    assigned = Assigned()
    allowed: dict[tuple[uuid.UUID, uuid.UUID], Grant] = {}
    for grant_ in grants:
        problem = _assign_problem(grant_.user, grant_.role, actor, ranked.get(grant_.user.id))
        if problem is None and grant_.expires_at is not None and grant_.expires_at <= now:
            problem = Invalid("The expiry must be in the future.", field="expires_at")
        if problem is not None:
            assigned.refusals[grant_.key] = problem
        else:
            allowed.setdefault(grant_.key, grant_)
    held = _held(list(allowed.values()), now)
    made = grant_all([g for key, g in allowed.items() if key not in held], is_default=is_default, actor=actor)
    assigned.assignments.update(zip([k for k in allowed if k not in held], made, strict=True))
    for key, assignment in held.items():
        _change_held(assignment, allowed[key], is_default=is_default, keep_default=keep_default, actor=actor)
        assigned.assignments[key] = assignment
    return assigned


def _held(grants: Sequence[Grant], now: datetime) -> dict[tuple[uuid.UUID, uuid.UUID], RoleAssignment]:
    """The assignments the grants' users hold of the grants' roles (one query); expired ones, awaiting the sweep,
    are deleted: granting them again starts afresh."""
    if not grants:
        return {}
    keys = {g.key for g in grants}
    found = db.session.scalars(
        select(RoleAssignment).where(
            RoleAssignment.user_id.in_({g.user.id for g in grants}),
            RoleAssignment.role_id.in_({g.role.id for g in grants}),
        )
    )
    held = {(a.user_id, a.role_id): a for a in found if (a.user_id, a.role_id) in keys}
    expired = [key for key, a in held.items() if a.expires_at is not None and a.expires_at <= now]
    for key in expired:
        db.session.delete(held.pop(key))
    if expired:
        db.session.flush()
    return held


def _change_held(
    assignment: RoleAssignment, grant_: Grant, *, is_default: bool, keep_default: bool, actor: Actor
) -> None:
    user, role, expires_at = grant_.user, grant_.role, grant_.expires_at
    if assignment.is_default != is_default and not keep_default:
        assignment.is_default = is_default
        record("role.default", user, actor=actor, changes={"role": role.name, "default": is_default})
    if expires_at is not None and assignment.expires_at != expires_at:
        before = assignment.expires_at.isoformat() if assignment.expires_at else None
        assignment.expires_at = expires_at
        record(
            "role.expiry",
            user,
            actor=actor,
            changes={"role": role.name, "expires_at": [before, expires_at.isoformat()]},
        )


def grant(
    user: User, role: Role, *, is_default: bool = True, expires_at: datetime | None = None, actor: Actor
) -> RoleAssignment:
    """The one write of a new grant, audited "role.grant", whoever grants. It checks no rank: assign_role does,
    for a person granting; the grants whose rules differ call it directly — an accepted invitation grants
    what the inviter may grant *now* and reports the rest as withheld (the invited person ranks by every
    invited role until then, so the rank check of assign_role would refuse them all), and single sign-on
    grants what the owner's group mapping names (checked when it was mapped) and JIT's least role (member)."""
    return grant_all([Grant(user, role, expires_at)], is_default=is_default, actor=actor)[0]


def grant_all(grants: Sequence[Grant], *, is_default: bool = True, actor: Actor) -> list[RoleAssignment]:
    """grant for a batch (its rows at the next flush; their audit events, one INSERT, at once)."""
    made = []
    for grant_ in grants:
        assignment = RoleAssignment(
            user_id=grant_.user.id, role_id=grant_.role.id, is_default=is_default, expires_at=grant_.expires_at
        )
        db.session.add(assignment)
        made.append(assignment)
    record_all(
        "role.grant",
        (
            (
                grant_.user,
                {
                    "role": grant_.role.name,
                    "default": is_default,
                    **({"expires_at": grant_.expires_at.isoformat()} if grant_.expires_at else {}),
                },
            )
            for grant_ in grants
        ),
        actor=actor,
    )
    return made


def set_default(user: User, role: Role, is_default: bool | None, *, actor: Actor) -> RoleAssignment:
    """Mark a held role default (active at sign-in) or not; None toggles the flag."""
    _ensure_may_assign(user, role, actor)
    assignment = _assignment(user, role)
    if assignment is None:
        raise NotFound(f"{user.full_name} does not hold the role {role.name}.")
    if is_default is None:
        is_default = not assignment.is_default
    if assignment.is_default != is_default:
        assignment.is_default = is_default
        record("role.default", user, actor=actor, changes={"role": role.name, "default": is_default})
    return assignment


def remove_role(user: User, role: Role, *, actor: Actor) -> None:
    """Take the role away; it stops counting on the user's very next request (SECURITY A6)."""
    _ensure_may_assign(user, role, actor)
    assignment = _assignment(user, role)
    if assignment is None:
        raise NotFound(f"{user.full_name} does not hold the role {role.name}.")
    if user.id == actor.user.id:
        _ensure_keeps_roles_write(actor, role.id, permissions_of(role), held_after=False)
    db.session.delete(assignment)
    forget_in_sessions(user, {role.id})
    record("role.revoke", user, actor=actor, changes={"role": role.name})


def forget_in_sessions(user: User, role_ids: set[uuid.UUID]) -> None:
    """Deactivate taken-away roles in the user's live sessions, so that granting one again later does not
    silently reactivate it."""
    gone = {str(role_id) for role_id in role_ids}
    for login_session in db.session.scalars(select(LoginSession).where(LoginSession.user_id == user.id)):
        if gone & set(login_session.active_role_ids):
            login_session.active_role_ids = [r for r in login_session.active_role_ids if r not in gone]


def replace_roles(user: User, roles: list[Role], default_ids: set[uuid.UUID], *, actor: Actor) -> dict[str, list[str]]:
    """Make the user's roles exactly `roles`, those in default_ids default (seed 002's PUT): one audit event.

    Each role granted, taken away or re-flagged passes the checks of a single grant or removal (the rank rule,
    no escalation, not the actor's last roles:write); an invited person's roles are their invitation's.
    Returns what changed: granted, revoked, made default, made not default (role names).
    """
    if user.status == UserStatus.PENDING:
        raise Conflict(f"{user.email} has not accepted their invitation yet: change the roles of the invitation.")
    policy.ensure_may_act_on(actor.user, actor.permissions, user)
    held = {
        assignment.role_id: assignment
        for assignment in db.session.scalars(select(RoleAssignment).where(RoleAssignment.user_id == user.id))
    }
    wanted = {role.id: role for role in roles}
    granted = [role for role in roles if role.id not in held]
    revoked = [assignment for role_id, assignment in held.items() if role_id not in wanted]
    flagged = [
        held[role.id] for role in roles if role.id in held and held[role.id].is_default != (role.id in default_ids)
    ]
    for role in [*granted, *(a.role for a in revoked), *(a.role for a in flagged)]:
        _ensure_may_assign(user, role, actor)
    if user.id == actor.user.id and not actor.user.is_owner:
        after = frozenset().union(*(permissions_of(role) for role in roles))
        before = frozenset().union(*(permissions_of(a.role) for a in held.values()))
        if Permission.ROLES_WRITE in before and Permission.ROLES_WRITE not in after:
            raise Invalid(
                "This change would take the roles:write permission away from you: it is your last role "
                "that has it. Ask the owner or another administrator to make it."
            )
    for role in granted:
        db.session.add(RoleAssignment(user_id=user.id, role_id=role.id, is_default=role.id in default_ids))
    for assignment in revoked:
        db.session.delete(assignment)
    for assignment in flagged:
        assignment.is_default = not assignment.is_default
    forget_in_sessions(user, {a.role_id for a in revoked})
    changes = {
        "granted": sorted(role.name for role in granted),
        "revoked": sorted(a.role.name for a in revoked),
        "made_default": sorted(a.role.name for a in flagged if a.is_default),
        "made_not_default": sorted(a.role.name for a in flagged if not a.is_default),
    }
    if any(changes.values()):
        touch(user)  # the user's version moves: an ETag read before the change no longer matches
        record("role.replace", user, actor=actor, changes=changes)
    return changes
