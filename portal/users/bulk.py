"""Bulk actions over users: one dispatch for the users page, the jobs worker (portal.jobs.kinds) and imports.

A bulk action is the single action, applied to each user in turn with the single action's rules and its
audit event: disabling, enabling and deleting are portal.users.services'; granting a role is
portal.roles.services.assign_role (audited "role.grant"); adding to a group is
portal.groups.services.add_members (audited "group.members.add"). Refusals are reported per user, not raised.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal import db, references
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


def apply_one(user: User, action: BulkAction, *, actor: Actor) -> None:
    """The single action on one user (raises its refusal)."""
    if action.role is not None:  # a held role keeps its default flag: bulk grants and imports only add
        roles.assign_role(
            user, action.role, is_default=True, expires_at=action.expires_at, keep_default=True, actor=actor
        )
    elif action.group is not None:  # adding to a group over users is, as every user action, within rank
        policy.ensure_may_act_on(actor.user, actor.permissions, user)
        groups.add_members(action.group, [user], action.expires_at, actor=actor)
    elif action.name == "disable":
        users.disable_user(user, actor=actor)
    elif action.name == "enable":
        users.enable_user(user, actor=actor)
    else:
        users.delete_user(user, actor=actor)


@dataclass
class BulkOutcome:
    """What a bulk action did to one user, or why it did not."""

    user: User
    done: bool
    message: str


def apply(targets: Sequence[User], action: BulkAction, *, actor: Actor) -> list[BulkOutcome]:
    """Apply the action to each user, each in a savepoint; refusals are reported, not raised."""
    outcomes = []
    for user in targets:
        try:
            with db.session.begin_nested():
                apply_one(user, action, actor=actor)
            outcomes.append(BulkOutcome(user, True, action.past))
        except DomainError as error:
            outcomes.append(BulkOutcome(user, False, error.message))
    return outcomes


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
