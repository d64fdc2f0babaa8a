"""Bulk actions over users: one dispatch for the users page, the jobs worker (portal.jobs.kinds) and imports.

A bulk action is the single action, applied to a batch of users at once by the batch form of its service
(the single service is that batch of one): the same rules, the same audit event for each user, in a constant
number of statements for the batch. Disabling, enabling and deleting are portal.users.services'; granting a
role is portal.roles.services.assign_roles (audited "role.grant"); adding to a group is
portal.groups.services.add_each (audited "group.members.add"). Refusals are reported per user, not raised.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal import references
from portal.actors import Actor
from portal.errors import DomainError, Forbidden
from portal.groups import services as groups
from portal.jobs import services as jobs
from portal.models import Group, Job, Role, User
from portal.permissions import Permission
from portal.roles import policy
from portal.roles import services as roles
from portal.users import services as users

ACTIONS = ("disable", "enable", "delete", "grant_role", "add_to_group")
JOB_KIND = "bulk_users"  # portal.jobs.kinds runs it


@dataclass(frozen=True)
class BulkAction:
    """One of ACTIONS, with the role it grants or the group it adds to, and an expiry for those."""

    name: str
    role: Role | None = None
    group: Group | None = None
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        assert self.name in ACTIONS, self.name
        assert (self.name == "grant_role") == (self.role is not None), "grant_role names its role"
        assert (self.name == "add_to_group") == (self.group is not None), "add_to_group names its group"

    @property
    def past(self) -> str:
        """The words for one that was done."""
        if self.role is not None:
            return f"granted {self.role.name}"
        if self.group is not None:
            return f"added to {self.group.name}"
        return {"disable": "disabled", "enable": "enabled", "delete": "deleted"}[self.name]

    @property
    def verb(self) -> str:
        """The words before "N users" in a job's title."""
        if self.role is not None:
            return f"Grant {self.role.name} to"
        if self.group is not None:
            return f"Add to {self.group.name}:"
        return self.name.capitalize()


def action_for(
    account_id: uuid.UUID,
    name: str,
    role_id: str | None = None,
    group_id: str | None = None,
    expires_at: datetime | None = None,
) -> BulkAction:
    """The action named, its role or group looked up in the account (NotFound when it is not there)."""
    role = group = None
    if name == "grant_role":
        role = references.one_in_account(Role, account_id, role_id)
    if name == "add_to_group":
        group = references.one_in_account(Group, account_id, group_id)
    return BulkAction(name, role, group, expires_at)


def ensure_may_start(name: str, *, actor: Actor) -> None:
    """Forbidden when the actor may not grant roles or change groups at all (each user is checked as it comes)."""
    if name == "grant_role" and Permission.ROLES_WRITE not in actor.permissions:
        raise Forbidden("You need the roles:write permission to grant roles.")
    if name == "add_to_group" and Permission.GROUPS_WRITE not in actor.permissions:
        raise Forbidden("You need the groups:write permission to change groups.")


def refusals(targets: Sequence[User], action: BulkAction, *, actor: Actor) -> users.Refusals:
    """Apply the action to the users as one batch, through the batch form of each single service (a constant
    number of statements for the batch); the refused users, with the error the single action raises, are left
    as they were."""
    if action.role is not None:
        granted = grant_each([roles.Grant(user, action.role, action.expires_at) for user in targets], actor=actor)
        return {user_id: error for (user_id, _role_id), error in granted.items()}
    if action.group is not None:
        added = add_each([groups.Joining(action.group, user, action.expires_at) for user in targets], actor=actor)
        return {user_id: error for (_group_id, user_id), error in added.items()}
    batch = {"disable": users.disable_users, "enable": users.enable_users, "delete": users.delete_users}
    return batch[action.name](targets, actor=actor)


Keyed = dict[tuple[uuid.UUID, uuid.UUID], DomainError]


def grant_each(grants: Sequence[roles.Grant], *, actor: Actor) -> Keyed:
    """Grant each role to its user (bulk grants and imports): a held role keeps its default flag, as they only
    add; the refused ones by (user id, role id)."""
    return roles.assign_roles(grants, is_default=True, keep_default=True, actor=actor).refusals


def add_each(joinings: Sequence[groups.Joining], *, actor: Actor) -> Keyed:
    """Add each person to their group (bulk adds and imports): as every user action, within rank; the refused
    ones by (group id, user id)."""
    ranked = policy.refusals_for(actor.user, actor.permissions, [joining.user for joining in joinings])
    refused: Keyed = {j.key: Forbidden(ranked[j.user.id]) for j in joinings if j.user.id in ranked}
    return refused | groups.add_each([j for j in joinings if j.key not in refused], actor=actor)


def apply_one(user: User, action: BulkAction, *, actor: Actor) -> None:
    """The single action on one user (raises its refusal)."""
    users.raise_refusal(refusals([user], action, actor=actor))


@dataclass
class BulkOutcome:
    """What a bulk action did to one user, or why it did not."""

    user: User
    done: bool
    message: str


def apply(targets: Sequence[User], action: BulkAction, *, actor: Actor) -> list[BulkOutcome]:
    """Apply the action to the users as one batch; refusals are reported per user, not raised."""
    refused = refusals(targets, action, actor=actor)
    return [
        BulkOutcome(user, False, refused[user.id].message)
        if user.id in refused
        else BulkOutcome(user, True, action.past)
        for user in targets
    ]


def title(action: BulkAction, total: int, *, matching: bool = True) -> str:
    """The words a bulk action's job goes by: "Disable 4,000 matching users" (or "Disable 3 users")."""
    return f"{action.verb} {total:,} " + ("matching " if matching else "") + ("user" if total == 1 else "users")


def _params(action: BulkAction, filters: dict[str, str]) -> dict[str, Any]:
    expires_at = action.expires_at
    return {
        "action": action.name,
        "role_id": str(action.role.id) if action.role else None,
        "group_id": str(action.group.id) if action.group else None,
        "expires_at": expires_at.isoformat() if expires_at else None,
        "filters": filters,
    }


def start_job(account_id: uuid.UUID, action: BulkAction, filters: dict[str, str], total: int, *, actor: Actor) -> Job:
    """The action over every user the filters match when the job begins, as a job of the worker."""
    return jobs.start_job(account_id, JOB_KIND, title(action, total), _params(action, filters), actor=actor)


def record_done(
    account_id: uuid.UUID, action: BulkAction, filters: dict[str, str], outcomes: list[BulkOutcome], *, actor: Actor
) -> Job:
    """The report of a bulk action done at once, kept as a finished bulk job: one report format, one CSV."""
    items = [
        {
            "subject_id": o.user.id,
            "label": f"{o.user.full_name} ({o.user.email})",
            "outcome": "done" if o.done else "refused",
            "message": o.message[:500],
        }
        for o in outcomes
    ]
    refused = sum(1 for o in outcomes if not o.done)
    return jobs.record_finished(
        account_id,
        JOB_KIND,
        title(action, len(outcomes), matching=False),
        _params(action, filters),
        items,
        {"changed": len(outcomes) - refused, "refused": refused},
        actor=actor,
    )
