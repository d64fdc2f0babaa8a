"""Invitations in the JSON API (seed 002): list, invite one or many, read, change, resend, revoke.

Every change goes through portal.invitations.services, the service of the invitations pages.
"""

from __future__ import annotations

import uuid
from typing import cast

from flask import Response, url_for

from portal import db
from portal.actors import from_request
from portal.api import schemas
from portal.api.core import answer, bp, check_version, if_match, operation, paging
from portal.api.errors import ApiError
from portal.api.references import groups_named, roles_named
from portal.api.users import refusal_error
from portal.invitations import clock, queries, services
from portal.invitations.queries import InvitationRow
from portal.models import Account
from portal.permissions import Permission

TAGS = ["invitations"]
INVITATION = "/accounts/<uuid:account_id>/invitations/<uuid:invitation_id>"
REFUSAL_CODES: dict[str, schemas.RefusalCode] = {
    "invalid": "InvalidArgument",
    "taken": "Conflict",
    "limit": "RateLimited",
}


def invitation_model(row: InvitationRow) -> schemas.Invitation:
    """The API's Invitation for a row of the invitations list."""
    invitation = row.invitation
    return schemas.Invitation(
        id=invitation.id,
        user_id=invitation.user_id,
        email=invitation.email,
        roles=row.role_names,
        groups=row.group_names,
        status=row.status.value,
        delivery=cast(schemas.DeliveryName, row.email.status) if row.email else None,
        sent_count=invitation.sent_count,
        expires_at=invitation.expires_at,
        created_at=invitation.created_at,
        invited_by=schemas.Inviter(id=row.inviter.id, login=row.inviter.login) if row.inviter else None,
    )


def _answer(account_id: uuid.UUID, invitation_id: uuid.UUID, status: int = 200, created: bool = False) -> Response:
    db.session.flush()
    row = queries.invitation_row(account_id, invitation_id, clock.now())
    location = url_for("api_v1.get_invitation", account_id=account_id, invitation_id=invitation_id) if created else None
    return answer(invitation_model(row), status, version=str(row.invitation.version), location=location)


@bp.get("/accounts/<uuid:account_id>/invitations")
@operation(
    Permission.INVITATIONS_READ, query=schemas.InvitationsQuery, answers={200: schemas.InvitationsPage}, tags=TAGS
)
def list_invitations(account_id: uuid.UUID, query: schemas.InvitationsQuery) -> Response:
    """List the invitations, newest first; `status` (expired: pending past its expiry) and `email` (a prefix)."""
    page = queries.invitation_page(
        account_id, query.status or "", query.from_, query.take, clock.now(), email=query.email or "", after=query.after
    )
    cursor = queries.next_cursor(page)
    next_args = {"from": page.start + len(page.items), "after": cursor} if cursor else None
    return answer(
        schemas.InvitationsPage(
            invitations=[invitation_model(row) for row in page.items], **paging(page, next_args=next_args)
        )
    )


@bp.post("/accounts/<uuid:account_id>/invitations")
@operation(
    Permission.INVITATIONS_WRITE,
    body=schemas.InvitationCreate,
    answers={201: schemas.InvitationsAnswer},
    errors=(409,),
    tags=TAGS,
)
def create_invitations(account_id: uuid.UUID, body: schemas.InvitationCreate) -> Response:
    """Invite one address (`email`: 201 Invitation) or up to 100 (`emails`: 201 with `invited` and `refused`,
    seed 002), with roles to grant and groups to join; each invited person is a pending user until they accept.

    One `email` that cannot be invited: 422 (not an address), 409 (invited already, or a user), 429 (the
    account's daily limit). A list where nobody could be invited: 422 with one error per address.
    """
    account = db.session.get_one(Account, account_id)
    roles = roles_named(account_id, body.roles)
    groups = groups_named(account_id, body.groups)
    addresses = [body.email] if body.email is not None else body.emails or []
    addresses = list(dict.fromkeys(address.strip().lower() for address in addresses))
    outcome = services.invite(
        account, addresses, [r.id for r in roles], [group.id for group in groups], actor=from_request()
    )
    if body.email is not None:
        if outcome.refused:
            raise refusal_error(outcome.refused[0], field="email")
        return _answer(account_id, outcome.invited[0].id, 201, created=True)
    if not outcome.invited:
        raise ApiError(
            422,
            [
                {"code": REFUSAL_CODES[r.kind], "message": f"{r.address}: {r.reason}", "field": "emails"}
                for r in outcome.refused
            ],
        )
    db.session.flush()
    now = clock.now()
    invited = [invitation_model(queries.invitation_row(account_id, i.id, now)) for i in outcome.invited]
    refused = [schemas.Refused(email=r.address, code=REFUSAL_CODES[r.kind], message=r.reason) for r in outcome.refused]
    return answer(schemas.InvitationsCreated(invited=invited, refused=refused), 201)


@bp.get(INVITATION)
@operation(Permission.INVITATIONS_READ, answers={200: schemas.Invitation}, tags=TAGS)
def get_invitation(account_id: uuid.UUID, invitation_id: uuid.UUID) -> Response:
    """Read one invitation."""
    return _answer(account_id, invitation_id)


@bp.patch(INVITATION)
@operation(
    Permission.INVITATIONS_WRITE,
    body=schemas.InvitationUpdate,
    answers={200: schemas.Invitation},
    errors=(409, 412),
    tags=TAGS,
)
def update_invitation(account_id: uuid.UUID, invitation_id: uuid.UUID, body: schemas.InvitationUpdate) -> Response:
    """Replace the roles to grant and the groups to join of a pending invitation (else 409)."""
    invitation = queries.invitation_in_account(account_id, invitation_id)
    roles = (
        [r.id for r in roles_named(account_id, body.roles)]
        if body.roles is not None
        else queries.role_ids_of(invitation.id)
    )
    groups = (
        [group.id for group in groups_named(account_id, body.groups)]
        if body.groups is not None
        else queries.group_ids_of(invitation.id)
    )
    services.update_invitation(invitation, roles, groups, expected_version=if_match(invitation), actor=from_request())
    return _answer(account_id, invitation_id)


def _resend(account_id: uuid.UUID, invitation_id: uuid.UUID) -> Response:
    invitation = queries.invitation_in_account(account_id, invitation_id)
    services.resend(invitation, db.session.get_one(Account, account_id), actor=from_request())
    return _answer(account_id, invitation_id, 201)


@bp.post(INVITATION + "/resend")
@operation(Permission.INVITATIONS_WRITE, answers={201: schemas.Invitation}, errors=(409,), tags=TAGS)
def resend_invitation(account_id: uuid.UUID, invitation_id: uuid.UUID) -> Response:
    """Send the invitation again: a new link and a new expiry; the old link dies (seed 002). Revoked or accepted:
    409."""
    return _resend(account_id, invitation_id)


@bp.post("/accounts/<uuid:account_id>/invitations/resend")
@operation(
    Permission.INVITATIONS_WRITE,
    body=schemas.InvitationResend,
    answers={201: schemas.Invitation},
    errors=(409,),
    tags=TAGS,
)
def resend_invitation_of_user(account_id: uuid.UUID, body: schemas.InvitationResend) -> Response:
    """Resend the pending invitation of the user `user_id` (seed 002's form)."""
    invitation = queries.pending_invitation_of(account_id, body.user_id)
    return _resend(account_id, invitation.id)


@bp.delete(INVITATION)
@operation(Permission.INVITATIONS_WRITE, answers={204: None}, errors=(409, 412), tags=TAGS)
def revoke_invitation(account_id: uuid.UUID, invitation_id: uuid.UUID) -> Response:
    """Revoke the invitation: its link dies and the pending user is removed. Already revoked or accepted: 409."""
    invitation = queries.invitation_in_account(account_id, invitation_id)
    check_version(invitation)
    services.revoke(invitation, actor=from_request())
    return answer(None, 204)
