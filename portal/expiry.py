"""Time-bound access (issue 18): role grants and group memberships that end at a set time.

An expired grant counts for nothing from the moment it passes (portal.models.role.in_force is applied
wherever permissions, ranks and role lists are read), so nobody waits for this sweep to lose access.
The worker then removes it for good, a batch at a time: one audit event per removed grant and a notice
to the person. Rows are read with `FOR UPDATE SKIP LOCKED` (PostgreSQL), so two workers sweeping at once
take different rows, and each batch is its own transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from portal import actors, db
from portal.audit.services import record
from portal.db import utcnow
from portal.mail.notices import security_notice
from portal.models import Group, GroupMember, Role, RoleAssignment, User
from portal.roles.services import forget_in_sessions

BATCH = 200


def _expired_roles(now: object, limit: int) -> list[tuple[RoleAssignment, User, Role]]:
    rows = db.session.execute(
        select(RoleAssignment.user_id, RoleAssignment.role_id)
        .where(RoleAssignment.expires_at <= now)
        .order_by(RoleAssignment.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    found = []
    for user_id, role_id in rows:
        assignment = db.session.get(RoleAssignment, (user_id, role_id))
        user, role = db.session.get(User, user_id), db.session.get(Role, role_id)
        if assignment is not None and user is not None and role is not None:
            found.append((assignment, user, role))
    return found


def _expired_memberships(now: object, limit: int) -> list[tuple[GroupMember, User, Group]]:
    rows = db.session.execute(
        select(GroupMember, User, Group)
        .join(User, User.id == GroupMember.user_id)
        .join(Group, Group.id == GroupMember.group_id)
        .where(
            GroupMember.id.in_(
                select(GroupMember.id)
                .where(GroupMember.expires_at <= now)
                .order_by(GroupMember.expires_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
    ).all()
    return [(member, user, group) for member, user, group in rows]


def sweep_batch(limit: int = BATCH) -> int:
    """Remove at most `limit` expired role grants and as many expired memberships; how many went (committed)."""
    now = utcnow()
    removed = 0
    actor = actors.system()  # the worker's sweep: no person made the change
    for assignment, user, role in _expired_roles(now, limit):
        expired_at = assignment.expires_at
        db.session.delete(assignment)
        forget_in_sessions(user, {role.id})
        record(
            "role.expire",
            user,
            account_id=user.account_id,
            actor=actor,
            changes={"role": role.name, "expired_at": expired_at.isoformat() if expired_at else None},
        )
        security_notice(
            user,
            f"Your role {role.name} has ended",
            f"Your role {role.name} was granted until {expired_at:%d %b %Y %H:%M} UTC; that time has "
            "passed, so it was removed. Ask an administrator if you still need it.",
        )
        removed += 1
    for member, user, group in _expired_memberships(now, limit):
        expired_at = member.expires_at
        db.session.execute(delete(GroupMember).where(GroupMember.id == member.id))
        record(
            "group.members.expire",
            group,
            account_id=group.account_id,
            actor=actor,
            changes={
                "removed": user.email,
                "user_id": str(user.id),
                "expired_at": expired_at.isoformat() if expired_at else None,
            },
        )
        security_notice(
            user,
            f"Your membership of {group.name} has ended",
            f"You were a member of {group.name} until {expired_at:%d %b %Y %H:%M} UTC; that time has "
            "passed, so the membership was removed.",
        )
        removed += 1
    db.session.commit()
    return removed
