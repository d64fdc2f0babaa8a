"""Read side of roles: what a person may do."""

from __future__ import annotations

from sqlalchemy import select

from portal import db
from portal.models import LoginSession, Role, RoleAssignment, User
from portal.permissions import ALL_PERMISSIONS, Permission, parse_permissions


def effective_permissions(user: User, login_session: LoginSession | None) -> frozenset[Permission]:
    """The owner holds everything; anyone else holds what their roles active in this session grant."""
    if user.is_owner:
        return ALL_PERMISSIONS
    active = set(login_session.active_role_ids) if login_session is not None else None
    rows = db.session.execute(
        select(Role.id, Role.permissions)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .where(RoleAssignment.user_id == user.id)
    ).all()
    held: set[Permission] = set()
    for role_id, permissions in rows:
        if active is None or str(role_id) in active:
            held |= parse_permissions(permissions)
    return frozenset(held)
