"""Accepting an invitation (portal.invitations.services.accept), without HTTP: two accepts of one link
(one wins: the conditional UPDATE), and the roles it grants go through roles.services.grant ("role.grant")."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal import actors, db
from portal.invitations import queries, services
from portal.models import Account, AuditEvent, Role, RoleAssignment, User
from tests.helpers import Portal, Tenant, actor_of, invitation_token

ADDRESS = "new@example.com"


def _invite(app: Flask, tenant: Tenant, roles: tuple[str, ...]) -> None:
    with app.test_request_context():
        role_ids = list(db.session.scalars(select(Role.id).where(Role.account_id == tenant.id, Role.name.in_(roles))))
        account = db.session.get(Account, tenant.id)
        assert account is not None
        outcome = services.invite(account, [ADDRESS], role_ids, [], actor=actor_of(tenant.admin.id))
        assert outcome.invited
        db.session.commit()


def _accept_link(invited: queries.Invited, login: str) -> User:
    """The invited person accepts, as the accept page does."""
    details = services.Acceptance(login=login, first_name="New", last_name="Person", password="a long new passphrase")
    return services.accept(invited, details, actor=actors.person(invited.user))


def test_two_accepts_of_one_link_make_one_user(app: Flask, portal: Portal, a: Tenant) -> None:
    _invite(app, a, ("auditor",))
    token = invitation_token(portal, ADDRESS)
    with app.app_context():  # each request has its own app context, so its own session and transaction
        first = services.open_invitation(token)
        with app.app_context():  # a second request, which opened the link too, accepts first
            _accept_link(services.open_invitation(token), "second")
            db.session.commit()
        with pytest.raises(services.InvitationGone):
            _accept_link(first, "first")
        db.session.rollback()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == ADDRESS))
        assert user is not None and user.login == "second" and user.status == "active"
        assert (
            db.session.scalar(select(func.count()).select_from(RoleAssignment).where(RoleAssignment.user_id == user.id))
            == 1
        )
        assert (
            db.session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "invitation.accept")
            )
            == 1
        )


def test_accepting_grants_through_the_one_grant_and_withholds_what_the_inviter_lost(
    app: Flask, portal: Portal, a: Tenant
) -> None:
    _invite(app, a, ("member", "group-manager"))
    with app.app_context():  # the inviter is a user-manager now: the group manager's groups:write is withheld
        db.session.execute(RoleAssignment.__table__.delete().where(RoleAssignment.user_id == a.admin.id))
        manager = db.session.scalar(select(Role.id).where(Role.account_id == a.id, Role.name == "user-manager"))
        db.session.add(RoleAssignment(user_id=a.admin.id, role_id=manager, is_default=True))
        db.session.commit()
    token = invitation_token(portal, ADDRESS)
    with app.app_context():
        _accept_link(services.open_invitation(token), "newbie")
        db.session.commit()
        grants = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "role.grant")).all()
        assert [(e.target_label, e.changes["role"], e.actor_label) for e in grants] == [("newbie", "member", "newbie")]
        accepted = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.accept"))
        assert accepted is not None
        assert accepted.changes["roles_granted"] == ["member"]
        assert accepted.changes["roles_withheld"] == ["group-manager"]
