"""The one rank rule (portal.roles.policy): a pending user ranks by the roles of their invitation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from portal import db
from portal.db import utcnow
from portal.errors import Forbidden
from portal.models import Invitation, InvitationRole, InvitationStatus, Role, User, UserStatus
from portal.permissions import ALL_PERMISSIONS, BUILTIN_ROLES, Permission
from portal.roles import policy
from tests.helpers import Tenant


def _invited(
    tenant: Tenant,
    email: str,
    roles: tuple[str, ...],
    status: str = InvitationStatus.PENDING.value,
    expired: bool = False,
) -> User:
    """A pending user and their invitation granting these roles (inside an app context)."""
    user = User(account_id=tenant.id, login=email.split("@")[0], email=email, status=UserStatus.PENDING.value)
    db.session.add(user)
    db.session.flush()
    now = utcnow()
    invitation = Invitation(
        account_id=tenant.id,
        user_id=user.id,
        email=email,
        token_hash=email.ljust(64, "x"),
        status=status,
        expires_at=now + timedelta(days=-1 if expired else 7),
        invited_by_id=tenant.owner.id,
        last_sent_at=now,
    )
    db.session.add(invitation)
    db.session.flush()
    for name in roles:
        role_id = db.session.scalar(select(Role.id).where(Role.account_id == tenant.id, Role.name == name))
        db.session.add(InvitationRole(invitation_id=invitation.id, role_id=role_id))
    db.session.flush()
    return user


def _actor(user_id: object) -> tuple[User, frozenset[Permission]]:
    actor = db.session.get(User, user_id)
    assert actor is not None
    held = ALL_PERMISSIONS if actor.is_owner else policy.held_permissions([actor.id])[actor.id]
    return actor, held


def test_a_pending_user_holds_the_permissions_they_were_invited_with(app: Flask, a: Tenant) -> None:
    with app.app_context():
        admin_invitee = _invited(a, "future@example.com", ("account-admin",))
        two_roles = _invited(a, "two@example.com", ("auditor", "group-manager"))
        expired = _invited(a, "late@example.com", ("user-manager",), expired=True)
        no_roles = _invited(a, "plain@example.com", ())
        held = policy.held_permissions([admin_invitee.id, two_roles.id, expired.id, no_roles.id, a.admin.id])
        assert held[admin_invitee.id] == ALL_PERMISSIONS
        assert held[two_roles.id] == BUILTIN_ROLES["auditor"][1] | BUILTIN_ROLES["group-manager"][1]
        assert held[expired.id] == BUILTIN_ROLES["user-manager"][1]  # resending revives it
        assert held[no_roles.id] == frozenset()
        assert held[a.admin.id] == ALL_PERMISSIONS


def test_a_user_manager_may_not_act_on_an_invited_account_admin(app: Flask, a: Tenant) -> None:
    with app.app_context():
        invitee = _invited(a, "future@example.com", ("account-admin",))
        manager, held = _actor(a.user_manager.id)
        with pytest.raises(Forbidden, match="account:manage"):
            policy.ensure_may_act_on(manager, held, invitee)


@pytest.mark.parametrize("who", ["admin", "owner"])
def test_an_account_admin_or_the_owner_may(app: Flask, a: Tenant, who: str) -> None:
    with app.app_context():
        invitee = _invited(a, "future@example.com", ("account-admin",))
        actor, held = _actor(a.owner.id if who == "owner" else a.admin.id)
        policy.ensure_may_act_on(actor, held, invitee)  # no error


def test_a_user_manager_may_act_on_someone_invited_below_them(app: Flask, a: Tenant) -> None:
    with app.app_context():
        invitee = _invited(a, "low@example.com", ("member", "auditor"))
        manager, held = _actor(a.user_manager.id)
        reason = policy.refusal_to_act_on(manager, held, invitee, policy.held_permissions([invitee.id])[invitee.id])
        # The auditor role reads the audit log, which a user-manager cannot: still refused.
        assert reason is not None and "audit:read" in reason
        member_only = _invited(a, "member@example.com", ("member",))
        policy.ensure_may_act_on(manager, held, member_only)


def test_finished_invitations_grant_no_rank(app: Flask, a: Tenant) -> None:
    """An accepted or revoked invitation's roles are not the person's: their role assignments are."""
    with app.app_context():
        accepted = _invited(a, "done@example.com", ("account-admin",), status=InvitationStatus.ACCEPTED.value)
        accepted.status = UserStatus.ACTIVE.value
        db.session.flush()
        assert policy.held_permissions([accepted.id])[accepted.id] == frozenset()
