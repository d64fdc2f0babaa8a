"""Self-service changes of the signed-in person."""

from __future__ import annotations

import uuid

from portal import db
from portal.actors import Actor
from portal.audit.services import record
from portal.errors import NotFound
from portal.models import LoginSession, RoleAssignment, User


def set_role_active(
    login_session: LoginSession, user: User, role_id: uuid.UUID, active: bool, *, actor: Actor
) -> RoleAssignment:
    """Activate or deactivate one of the user's held roles for this sign-in session only."""
    assignment = db.session.get(RoleAssignment, (user.id, role_id))
    if assignment is None or login_session.user_id != user.id:
        raise NotFound("You do not hold that role.")
    key = str(role_id)
    ids = [r for r in login_session.active_role_ids if r != key]
    if active:
        ids.append(key)
    if set(ids) != set(login_session.active_role_ids):
        login_session.active_role_ids = ids  # a new list, so that the JSON column is written
        record(
            "session.role_activate" if active else "session.role_deactivate",
            user,
            actor=actor,
            changes={"role": assignment.role.name},
        )
    return assignment
