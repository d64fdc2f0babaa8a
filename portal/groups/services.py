"""State changes of groups and their members. They never commit, and each one is audited.

Group membership grants no permission (groups carry no roles), so changing members is a matter of
`groups:write` alone; should groups ever carry roles, every addition passes through
_insert_members, where the no-escalation check (roles.policy) would go.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from portal import db
from portal.actors import Actor
from portal.audit.services import record, record_all
from portal.db import utcnow
from portal.errors import Conflict, DomainError, Invalid, NotFound
from portal.groups import queries
from portal.models import Group, GroupMember, User
from portal.versioning import ensure_version, saving

NAME_MAX = 100
DESCRIPTION_MAX = 255
AUDITED_EMAILS = 50  # an audit event names at most this many people; counts are always exact
_CHUNK = 500  # ids per IN list (SQLite allows 32,766 parameters per statement)


def _chunks(items: Sequence[uuid.UUID]) -> Iterable[Sequence[uuid.UUID]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _emails(users: Sequence[User]) -> list[str]:
    return [user.email for user in users[:AUDITED_EMAILS]]


@contextmanager
def _unique_name(name: str) -> Iterator[None]:
    """Run the change in a savepoint, so that a name taken at the same moment by someone else (the
    form checked it just before) becomes a Conflict and leaves the transaction usable."""
    try:
        with db.session.begin_nested():
            yield
    except IntegrityError:
        raise Conflict(f"Another group is already named {name}.") from None


def name_problem(account_id: uuid.UUID, name: str, group_id: uuid.UUID | None = None) -> str | None:
    """What is wrong with a group name: at most 100 characters, unique in the account without regard to case."""
    if len(name) > NAME_MAX:
        return f"Field cannot be longer than {NAME_MAX} characters."
    if queries.name_taken(account_id, name, group_id):
        return "Another group already has this name."
    return None


def create_group(
    account_id: uuid.UUID, name: str, description: str, external_id: str | None = None, *, actor: Actor
) -> Group:
    """A new group in the account (`external_id`: the identity provider's id for it, over SCIM)."""
    group = Group(account_id=account_id, name=name, description=description, external_id=external_id)
    with _unique_name(name):
        db.session.add(group)
    record(
        "group.create",
        group,
        actor=actor,
        changes={
            "name": name,
            "description": description,
            **({"external_id": external_id} if external_id is not None else {}),
        },
    )
    return group


_KEEP = object()


def update_group(
    group: Group,
    name: str,
    description: str,
    external_id: object = _KEEP,
    *,
    expected_version: int | None = None,
    actor: Actor,
) -> None:
    """Rename or redescribe a group (over SCIM also its external id); the audit event holds what changed.

    StaleEdit when the group changed since the form was read (`expected_version`; None: the change applies
    to the current version) or between our read and our write."""
    pairs: list[tuple[str, object]] = [("name", name), ("description", description)]
    if external_id is not _KEEP:
        pairs.append(("external_id", external_id))
    ensure_version(group, expected_version, submitted=dict(pairs))
    changes = {key: [getattr(group, key), value] for key, value in pairs if getattr(group, key) != value}
    if not changes:
        return
    with _unique_name(name), saving(group, submitted=dict(pairs)):
        for key, (_old, value) in changes.items():
            setattr(group, key, value)
    record("group.update", group, actor=actor, changes=changes)


def delete_group(group: Group, *, actor: Actor) -> None:
    """Delete a group; its memberships go with it (the users stay)."""
    count = queries.member_count(group.id)
    record("group.delete", group, actor=actor, changes={"name": group.name, "members": count})
    db.session.delete(group)
    db.session.flush()


@dataclass
class MembersChange:
    """What adding or replacing did: who was added, who removed, who was already there."""

    added: list[User] = field(default_factory=list)
    removed: list[User] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        """What happened, in a sentence for the page."""
        parts = []
        if self.added:
            parts.append(f"added {_names(self.added)}")
        if self.removed:
            parts.append(f"removed {_names(self.removed)}")
        if self.unchanged and self.removed:
            parts.append(f"{self.unchanged:,} unchanged")
        elif self.unchanged:
            were = "was already a member" if self.unchanged == 1 else "were already members"
            parts.append(f"{self.unchanged:,} {were}")
        if not (self.added or self.removed):
            parts.insert(0, "nothing changed")
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."


def _names(users: Sequence[User]) -> str:
    shown = ", ".join(user.email for user in users[:3])
    return shown + (f" and {len(users) - 3:,} more" if len(users) > 3 else "")


def _check_same_account(group: Group, users: Iterable[User]) -> None:
    # The forms resolve people within the account already; this keeps the service safe on its own.
    if any(user.account_id != group.account_id for user in users):
        raise NotFound("No such user in this account.")


def _insert_members(group: Group, users: Sequence[User], expires_at: datetime | None = None) -> None:
    """Insert memberships; one added at the same moment by someone else is skipped, not an error."""
    _insert_rows([(group.id, user.id, expires_at) for user in users])


def _insert_rows(memberships: Sequence[tuple[uuid.UUID, uuid.UUID, datetime | None]]) -> None:
    """Insert (group id, user id, expires at) memberships, skipping any added meanwhile by someone else."""
    if not memberships:
        return
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    rows = [
        {"id": uuid.uuid4(), "group_id": group_id, "user_id": user_id, "created_at": now, "expires_at": expires_at}
        for group_id, user_id, expires_at in memberships
    ]
    for i in range(0, len(rows), _CHUNK):
        db.session.execute(insert(GroupMember).values(rows[i : i + _CHUNK]).on_conflict_do_nothing())


def _existing_pairs(keys: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Which (group id, user id) memberships exist already (a query for each _CHUNK of them)."""
    found: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for i in range(0, len(keys), _CHUNK):
        chunk = set(keys[i : i + _CHUNK])
        rows = db.session.execute(
            select(GroupMember.group_id, GroupMember.user_id).where(
                GroupMember.group_id.in_({g for g, _u in chunk}), GroupMember.user_id.in_({u for _g, u in chunk})
            )
        )
        found.update((g, u) for g, u in rows if (g, u) in chunk)
    return found


def _existing(group: Group, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for chunk in _chunks(user_ids):
        found.update(
            db.session.scalars(
                select(GroupMember.user_id).where(GroupMember.group_id == group.id, GroupMember.user_id.in_(chunk))
            )
        )
    return found


def _add_problem(group: Group, users: Sequence[User], expires_at: datetime | None) -> DomainError | None:
    if any(user.account_id != group.account_id for user in users):
        return NotFound("No such user in this account.")
    if expires_at is not None and expires_at <= utcnow():
        return Invalid("The expiry must be in the future.", field="expires_at")
    return None


def add_members(
    group: Group, users: Sequence[User], expires_at: datetime | None = None, *, actor: Actor
) -> MembersChange:
    """Add people to a group; those already in it are left as they are (not an error). With `expires_at`
    the new memberships are time-bound: the worker removes them then (portal.expiry)."""
    problem = _add_problem(group, users, expires_at)
    if problem is not None:
        raise problem
    already = _existing(group, [user.id for user in users])
    change = MembersChange(added=[u for u in users if u.id not in already], unchanged=len(already))
    _insert_members(group, change.added, expires_at)
    if change.added:
        until = {"expires_at": expires_at.isoformat()} if expires_at else {}
        record(
            "group.members.add",
            group,
            actor=actor,
            changes={"added": _emails(change.added), "added_count": len(change.added), **until},
        )
    return change


@dataclass(frozen=True)
class Joining:
    """A person to add to a group, time-bound when `expires_at` is given (add_each)."""

    group: Group
    user: User
    expires_at: datetime | None = None

    @property
    def key(self) -> tuple[uuid.UUID, uuid.UUID]:
        return self.group.id, self.user.id


def add_each(joinings: Sequence[Joining], *, actor: Actor) -> dict[tuple[uuid.UUID, uuid.UUID], DomainError]:
    """add_members of one person at a time, for a batch (a bulk action, an import's rows): the same checks and
    one "group.members.add" event for each person added, in a constant number of statements. The refused
    ones, by (group id, user id), change nothing."""
    refusals: dict[tuple[uuid.UUID, uuid.UUID], DomainError] = {}
    allowed: dict[tuple[uuid.UUID, uuid.UUID], Joining] = {}
    for joining in joinings:
        problem = _add_problem(joining.group, [joining.user], joining.expires_at)
        if problem is not None:
            refusals[joining.key] = problem
        else:
            allowed.setdefault(joining.key, joining)
    already = _existing_pairs(list(allowed))
    added = [joining for key, joining in allowed.items() if key not in already]
    _insert_rows([(j.group.id, j.user.id, j.expires_at) for j in added])
    record_all(
        "group.members.add",
        (
            (
                joining.group,
                {
                    "added": _emails([joining.user]),
                    "added_count": 1,
                    **({"expires_at": joining.expires_at.isoformat()} if joining.expires_at else {}),
                },
            )
            for joining in added
        ),
        actor=actor,
    )
    return refusals


def replace_members(group: Group, users: Sequence[User], expected: str | None = None, *, actor: Actor) -> MembersChange:
    """Make the group's members exactly `users` (seed 003's PUT), in the caller's one transaction.

    `expected` is the fingerprint of the set the caller previewed the change against: when the
    members changed since, Conflict is raised and nothing is done.
    """
    _check_same_account(group, users)
    plan = queries.plan_replacement(group.id, users)
    if expected is not None and expected != plan.expected:
        raise Conflict("The members changed since you reviewed the change. Review it again.")
    for chunk in _chunks([user.id for user in plan.removed]):
        db.session.execute(delete(GroupMember).where(GroupMember.group_id == group.id, GroupMember.user_id.in_(chunk)))
    _insert_members(group, plan.added)
    if plan.added or plan.removed:
        record(
            "group.members.replace",
            group,
            actor=actor,
            changes={
                "added": _emails(plan.added),
                "added_count": len(plan.added),
                "removed": _emails(plan.removed),
                "removed_count": len(plan.removed),
            },
        )
    return MembersChange(added=plan.added, removed=plan.removed, unchanged=plan.unchanged)


def remove_members(group: Group, users: Sequence[User], *, actor: Actor) -> MembersChange:
    """Take several people out of a group at once (one audit event); those not in it are left alone."""
    _check_same_account(group, users)
    present = _existing(group, [user.id for user in users])
    change = MembersChange(removed=[u for u in users if u.id in present])
    for chunk in _chunks([user.id for user in change.removed]):
        db.session.execute(delete(GroupMember).where(GroupMember.group_id == group.id, GroupMember.user_id.in_(chunk)))
    if change.removed:
        record(
            "group.members.remove",
            group,
            actor=actor,
            changes={"removed": _emails(change.removed), "removed_count": len(change.removed)},
        )
    return change


def remove_member(group: Group, member: queries.MemberRow, *, actor: Actor) -> None:
    """Take one person out of a group."""
    db.session.execute(delete(GroupMember).where(GroupMember.id == member.id, GroupMember.group_id == group.id))
    record(
        "group.members.remove", group, actor=actor, changes={"removed": member.email, "user_id": str(member.user_id)}
    )
