"""users.queries.with_details (the roles by name of the users list, the export and the API): its statement is built
once, so "now" must be bound per call, for the held roles and the invited ones alike (an invited role whose end
passed after start-up no longer shows)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from portal import db
from portal.db import utcnow
from portal.models import Invitation, InvitationRole, User
from tests.helpers import Portal, Tenant, role_named


def test_an_invited_role_whose_end_passed_since_start_up_is_not_listed(portal: Portal, a: Tenant) -> None:
    auditor = role_named(portal, a.account, "auditor")
    assert auditor is not None
    client = portal.client(a.owner)
    assert client.post(
        f"/accounts/{a.id}/invitations", {"emails": "ada@example.com", "roles": str(auditor.id)}
    ).status_code in (200, 303)
    from portal.users.queries import with_details

    with portal.app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ada@example.com"))
        assert user is not None
        user_id = user.id
        assert [r.name for r in with_details([user])[0].roles] == ["auditor"]
        invitation_id = db.session.scalar(select(Invitation.id).where(Invitation.user_id == user_id))
        db.session.execute(
            update(InvitationRole)
            .where(InvitationRole.invitation_id == invitation_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        assert with_details([user])[0].roles == ()
