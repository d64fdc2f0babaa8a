"""Invitation state changes: invite, resend, revoke, edit, retry delivery, accept. Never commits.

Each change writes its audit event and, where it sends mail, its outbox email in the caller's
transaction, so the pending user, the invitation, its memberships and its email exist together
or not at all (SECURITY I5).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from portal import db, tokens
from portal.actors import Actor
from portal.audit.services import record, record_all
from portal.auth.passwords import hash_password
from portal.errors import Conflict, DomainError, Forbidden
from portal.field_rules import email_problem
from portal.invitations import clock, queries
from portal.mail import delivery, outbox
from portal.models import (
    Account,
    Group,
    GroupMember,
    Invitation,
    InvitationGroup,
    InvitationRole,
    InvitationStatus,
    OutboxEmail,
    Role,
    User,
    UserStatus,
)
from portal.models.role import in_force
from portal.permissions import ALL_PERMISSIONS, Permission
from portal.roles import services as role_services
from portal.roles.policy import ensure_may_act_on, ensure_may_grant, held_permissions, refusal_to_grant
from portal.versioning import ensure_version, saving, touch

GONE_MESSAGE = (
    "This invitation link is not valid. It may have expired, been replaced by a newer one, "
    "been revoked or been used already. Ask the person who invited you to send a new one."
)


class InvitationGone(DomainError):
    """One answer for an unknown, used, revoked, replaced or expired link (SECURITY I1)."""

    status, title = 410, "Invitation not valid"

    def __init__(self) -> None:
        super().__init__(GONE_MESSAGE)


class DailyLimitReached(DomainError):
    status, title = 429, "Too many invitations"


@dataclass
class Refusal:
    """An address that was not invited, and why; `invitation_id` when resending is the way out.

    `kind`: invalid (not an address), taken (invited already, or a user of the account), limit (the daily limit).
    """

    address: str
    reason: str
    invitation_id: uuid.UUID | None = None
    kind: str = "taken"


@dataclass
class InviteOutcome:
    invited: list[Invitation] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


@dataclass(frozen=True)
class Acceptance:
    """What the invited person chose on the accept page."""

    login: str
    first_name: str
    last_name: str
    password: str


def _ttl() -> timedelta:
    return timedelta(days=current_app.config["INVITATION_TTL_DAYS"])


def _daily_limit() -> int:
    return int(current_app.config["INVITATIONS_PER_DAY"])


_LOGIN_NOISE = re.compile(r"[^a-z0-9._-]+")


def _placeholder_login(account_id: uuid.UUID, address: str) -> str:
    """A login for a new user, from the address (_placeholder_logins of one)."""
    return _placeholder_logins(account_id, [address])[address]


def _placeholder_logins(account_id: uuid.UUID, addresses: Sequence[str]) -> dict[str, str]:
    """A login for each pending user, from the address (a query for all of them, rarely two); the person chooses
    their own on accepting."""
    stems = {
        a: _LOGIN_NOISE.sub("", a.partition("@")[0].lower()).lstrip("0123456789._-")[:20] or "invited"
        for a in addresses
    }
    chosen: dict[str, str] = {}
    left = list(stems)
    for _ in range(10):
        if not left:
            break
        candidates = {address: f"{stems[address]}-{secrets.token_hex(3)}" for address in left}
        taken = queries.logins_taken(account_id, list(candidates.values())) | set(chosen.values())
        for address, login in candidates.items():
            if login not in taken:
                chosen[address] = login
                taken.add(login)
        left = [address for address in left if address not in chosen]
    if left:
        raise Conflict("Could not find a free login for the invited user; try again.")  # pragma: no cover
    return chosen


def _sso_active(account: Account) -> bool:
    from portal.sso.services import is_active

    return is_active(account)


def _send(invitation: Invitation, token: str, account: Account, inviter: User) -> OutboxEmail:
    """The invitation's email, queued (_email)."""
    email = _email(invitation, token, account, inviter, sso=_sso_active(account))
    db.session.flush()  # the email row first: the invitation points at it
    invitation.email_id = email.id
    return email


def _email(invitation: Invitation, token: str, account: Account, inviter: User, *, sso: bool) -> OutboxEmail:
    """The invitation's email, added to the session: the link to choose a login and password, or, while the
    account signs in through its identity provider (`sso`), only where to sign in (no password: they link at
    their first SSO sign-in). The caller flushes it before the invitation that points at it."""
    subject = f"{inviter.full_name} invited you to {account.name} on Account Portal"
    if sso:
        return outbox.enqueue(
            "sso_invitation",
            invitation.email,
            subject,
            account_id=account.id,
            sso_url=outbox.external_url("sso.start_page", sign_in_name=account.sign_in_name),
            account_name=account.name,
            inviter_name=inviter.full_name,
        )
    return outbox.enqueue(
        "invitation",
        invitation.email,
        subject,
        account_id=account.id,
        accept_url=outbox.external_url("invitation_accept.accept", token=token),
        account_name=account.name,
        inviter_name=inviter.full_name,
        expires_at=invitation.expires_at,
    )


def _remaining_today(account_id: uuid.UUID, now: datetime) -> int:
    limit = _daily_limit()
    remaining = limit - queries.sent_in_last_day(account_id, now)
    if remaining <= 0:
        raise DailyLimitReached(
            f"This account has sent its {limit} invitations for the last 24 hours. Try again later."
        )
    return remaining


def invite(
    account: Account,
    addresses: list[str],
    role_ids: list[uuid.UUID],
    group_ids: list[uuid.UUID],
    profile: dict[str, str] | None = None,
    send: bool = True,
    access_expires_at: datetime | None = None,
    *,
    actor: Actor,
) -> InviteOutcome:
    """Invite each valid address; report each refused one with its reason (refused ones change nothing).

    Per invited address: a pending user (with `profile`'s fields, if given: the API's POST /users names the
    person; they may change them on accepting), the invitation (token hashed), its roles to grant on
    acceptance, pending group memberships, the outbox email and an audit event.
    `send=False` (an import that sends no invitations) makes the invitation without its email, and outside
    the daily limit: "Resend" on the invitations page sends it later. `access_expires_at` makes the
    memberships and the role grants made on accepting time-bound.
    """
    roles = queries.roles_by_id(account.id, role_ids)  # another account's id: 404
    for role in roles:
        ensure_may_grant(actor.permissions, role)  # no escalation by inviting (A4): 403
    groups = queries.groups_by_id(account.id, group_ids)
    grants = Grants(roles, groups, access_expires_at)
    return invite_each(account, [Invitee(address, grants, profile or {}) for address in addresses], send, actor=actor)


@dataclass(frozen=True)
class Grants:
    """What an invitation grants: roles on acceptance, group memberships (pending until then), both time-bound
    when access_expires_at is given."""

    roles: list[Role]
    groups: list[Group]
    access_expires_at: datetime | None = None


@dataclass(frozen=True)
class Invitee:
    """An address to invite, what its invitation grants, and the person's profile (invite_each)."""

    address: str
    grants: Grants
    profile: dict[str, str] = field(default_factory=dict)


def invite_each(account: Account, invitees: Sequence[Invitee], send: bool = True, *, actor: Actor) -> InviteOutcome:
    """invite, each address with its own grants and profile (an import's rows), in a constant number of
    statements however many there are: the same checks and refusals (Forbidden for a role the actor may not
    grant: no escalation by inviting, A4)."""
    for role in {role.id: role for invitee in invitees for role in invitee.grants.roles}.values():
        ensure_may_grant(actor.permissions, role)
    now = clock.now()
    remaining = _remaining_today(account.id, now) if send else len(invitees)
    problems = {invitee.address: email_problem(invitee.address) for invitee in invitees}
    users = queries.users_by_email(account.id, [a for a, problem in problems.items() if problem is None])
    pending = queries.pending_invitations_by_user([u.id for u in users.values() if u.status == UserStatus.PENDING])
    answers: list[Refusal | Invitee] = []
    for invitee in invitees:
        address, user = invitee.address, users.get(invitee.address)
        if problems[address]:
            answers.append(Refusal(address, f"Not a valid address: {problems[address]}", kind="invalid"))
        elif user is not None:
            answers.append(_refusal_for_holder(address, user, pending))
        elif remaining <= 0:
            answers.append(
                Refusal(address, f"The account's limit of {_daily_limit()} invitations a day is reached.", kind="limit")
            )
        else:
            answers.append(invitee)
            remaining -= 1
    creating = [answer for answer in answers if isinstance(answer, Invitee)]
    made = dict(zip(map(id, creating), _create_all(account, creating, now, send=send, actor=actor), strict=True))
    outcome = InviteOutcome()
    for answer in answers:
        if isinstance(answer, Refusal):
            outcome.refused.append(answer)
        elif (invitation := made[id(answer)]) is not None:
            outcome.invited.append(invitation)
        else:  # someone invited (or added) the address a moment ago, in a request running alongside this one
            outcome.refused.append(_refusal_taken_meanwhile(account.id, answer.address))
    return outcome


def _refusal_for_holder(address: str, user: User | None, pending: dict[uuid.UUID, Invitation]) -> Refusal:
    """Why an address held by a user of the account (invited, or a member already) is not invited again."""
    if user is not None and user.id in pending:
        return Refusal(address, "Already invited.", pending[user.id].id)
    if user is not None:
        return Refusal(address, "Already a user of this account.")
    return Refusal(address, "Already invited.")


def _refusal_taken_meanwhile(account_id: uuid.UUID, address: str) -> Refusal:
    """The refusal for an address another request took while this one was inviting it."""
    user = queries.users_by_email(account_id, [address]).get(address)
    pending = queries.pending_invitations_by_user([user.id]) if user is not None else {}
    return _refusal_for_holder(address, user, pending)


def _create_all(
    account: Account,
    invitees: Sequence[Invitee],
    now: datetime,
    *,
    send: bool = True,
    provisioned: bool = False,
    actor: Actor,
) -> list[Invitation | None]:
    """The pending users, their invitations and emails (a constant number of statements for them all); None
    for an address taken meanwhile (or named twice).

    The check before (users_by_email) and this insert are not atomic: two requests inviting one address
    at once both pass the check, and the database's unique (account, email) decides. The users are inserted
    in a savepoint so that the loser's transaction stays usable; when that happens among several, they are
    inserted again one at a time, and the address taken is simply refused.
    """
    firsts = {invitee.address: invitee for invitee in reversed(invitees)}  # an address named twice: once
    batch = [invitee for invitee in invitees if firsts[invitee.address] is invitee]
    user_ids = _insert_pending_users(account, batch)
    if user_ids is None:
        if len(invitees) == 1:
            return [None]
        one_by_one = {
            id(i): _create_all(account, [i], now, send=send, provisioned=provisioned, actor=actor)[0] for i in batch
        }
        return [one_by_one.get(id(invitee)) for invitee in invitees]
    sso = send and _sso_active(account)
    made: dict[int, Invitation] = {}
    emails: list[OutboxEmail] = []
    for invitee, user_id in zip(batch, user_ids, strict=True):
        token, digest = tokens.new_token_and_digest()
        invitation = Invitation(
            id=uuid.uuid4(),
            account_id=account.id,
            user_id=user_id,
            email=invitee.address,
            token_hash=digest,
            status=InvitationStatus.PENDING.value,
            expires_at=now + _ttl(),
            invited_by_id=actor.user.id,
            sent_count=1 if send else 0,
            last_sent_at=now,
            provisioned=provisioned,
        )
        if send:
            emails.append(_email(invitation, token, account, actor.user, sso=sso))
            invitation.email_id = emails[-1].id
        made[id(invitee)] = invitation
    if emails:
        db.session.flush()  # the email rows first: the invitations point at them
    db.session.add_all(made.values())
    db.session.flush()  # rows below refer to them and have no ORM relationship to order them by
    _add_grants(
        [(made[id(invitee)], user_id, invitee) for invitee, user_id in zip(batch, user_ids, strict=True)], actor=actor
    )
    return [made.get(id(invitee)) for invitee in invitees]


def _insert_pending_users(account: Account, invitees: Sequence[Invitee]) -> list[uuid.UUID] | None:
    """The invitees' pending users, inserted in a savepoint (one statement: no User object is built, nothing
    reads them back); their ids, or None when an address or login was taken meanwhile."""
    logins = _placeholder_logins(account.id, [i.address for i in invitees if not i.profile.get("login")])
    ids = [uuid.uuid4() for _ in invitees]
    rows = [
        {
            **{k: v for k, v in invitee.profile.items() if k != "login"},
            "id": user_id,
            "account_id": account.id,
            # SCIM or an import may name the login
            "login": invitee.profile.get("login") or logins[invitee.address],
            "email": invitee.address,
            "status": UserStatus.PENDING.value,
            "password_hash": None,
        }
        for invitee, user_id in zip(invitees, ids, strict=True)
    ]
    try:
        with db.session.begin_nested():
            db.session.execute(insert(User), rows)  # rows below refer to them
    except IntegrityError:
        return None
    return ids


def _add_grants(made: Sequence[tuple[Invitation, uuid.UUID, Invitee]], *, actor: Actor) -> None:
    """Each invitation's roles and groups, its pending user's memberships, and its audit event: one INSERT a
    table for the batch (no ORM object a row; nothing reads them back)."""
    role_rows = [
        {"invitation_id": invitation.id, "role_id": role.id, "expires_at": invitee.grants.access_expires_at}
        for invitation, _user_id, invitee in made
        for role in invitee.grants.roles
    ]
    group_rows = [
        {"invitation_id": invitation.id, "group_id": group.id}
        for invitation, _user_id, invitee in made
        for group in invitee.grants.groups
    ]
    # The memberships exist from now on; they are "pending" while their user is (id and created_at: defaults).
    member_rows = [
        {"group_id": group.id, "user_id": user_id, "expires_at": invitee.grants.access_expires_at}
        for _invitation, user_id, invitee in made
        for group in invitee.grants.groups
    ]
    for model, rows in ((InvitationRole, role_rows), (InvitationGroup, group_rows), (GroupMember, member_rows)):
        if rows:
            db.session.execute(insert(cast(Table, model.__table__)), rows)
    record_all("invitation.create", ((i, _creation(i, user_id, invitee)) for i, user_id, invitee in made), actor=actor)


def _creation(invitation: Invitation, user_id: uuid.UUID, invitee: Invitee) -> dict[str, Any]:
    """The changes an invitation.create event names."""
    grants = invitee.grants
    profile = {k: v for k, v in invitee.profile.items() if k != "login"}
    return {
        "email": invitee.address,
        "user_id": str(user_id),
        "roles": [r.name for r in grants.roles],
        "groups": [g.name for g in grants.groups],
        "expires_at": invitation.expires_at.isoformat(),
        **({"access_expires_at": grants.access_expires_at.isoformat()} if grants.access_expires_at else {}),
        **{k: v for k, v in profile.items() if v},
    }


def provision(account: Account, profile: dict[str, str], *, actor: Actor) -> User:
    """A person the account's identity provider creates over SCIM (issue 16): a pending user with the
    provider's login and profile, and an invitation without roles whose email lets them choose a password.

    No daily invitation limit (the provisioning token has its own rate limit). Conflict when the address
    was taken meanwhile (the caller checked it just before)."""
    profile = dict(profile)
    address = profile.pop("email")
    invitee = Invitee(address, Grants([], []), profile)
    [invitation] = _create_all(account, [invitee], clock.now(), provisioned=True, actor=actor)
    if invitation is None or invitation.user_id is None:
        raise Conflict("This email is already taken in this account.")
    user = db.session.get(User, invitation.user_id)
    assert user is not None
    return user


def invite_again(user: User, account: Account, *, actor: Actor) -> Invitation:
    """A disabled user who never chose a password, reactivated by the identity provider: pending again,
    with a new provisioned invitation (the old links stay dead)."""
    now = clock.now()
    token, digest = tokens.new_token_and_digest()
    user.status = UserStatus.PENDING.value
    invitation = Invitation(
        id=uuid.uuid4(),
        account_id=account.id,
        user_id=user.id,
        email=user.email,
        token_hash=digest,
        status=InvitationStatus.PENDING.value,
        expires_at=now + _ttl(),
        invited_by_id=actor.user.id,
        sent_count=1,
        last_sent_at=now,
        provisioned=True,
    )
    db.session.add(invitation)
    db.session.flush()
    _send(invitation, token, account, actor.user)
    record(
        "invitation.create",
        invitation,
        actor=actor,
        changes={
            "email": user.email,
            "user_id": str(user.id),
            "status": ["disabled", "pending"],
            "expires_at": invitation.expires_at.isoformat(),
        },
    )
    return invitation


def _ensure_open(invitation: Invitation, action: str) -> None:
    if invitation.status != InvitationStatus.PENDING:
        raise Conflict(f"This invitation was {invitation.status} already; it cannot be {action}.")


def _ensure_within_rank(invitation: Invitation, actor: Actor) -> None:
    """Forbidden unless the actor may act on the invited person, who ranks by the roles invited with."""
    invited = db.session.get(User, invitation.user_id) if invitation.user_id is not None else None
    if invited is not None:
        ensure_may_act_on(actor.user, actor.permissions, invited)


def resend(invitation: Invitation, account: Account, *, actor: Actor) -> None:
    """A new token and a new expiry (the old link dies), a new email, times sent + 1."""
    _ensure_open(invitation, "resent")
    if invitation.user_id is None:
        raise Conflict("The invited user was deleted; revoke this invitation and invite them again.")
    _ensure_within_rank(invitation, actor)
    now = clock.now()
    _remaining_today(account.id, now)
    inviter = db.session.get(User, invitation.invited_by_id) if invitation.invited_by_id else None
    token, digest = tokens.new_token_and_digest()
    invitation.token_hash = digest
    invitation.expires_at = now + _ttl()
    invitation.sent_count += 1
    invitation.last_sent_at = now
    _send(invitation, token, account, inviter or actor.user)
    record(
        "invitation.resend",
        invitation,
        actor=actor,
        changes={"sent_count": invitation.sent_count, "expires_at": invitation.expires_at.isoformat()},
    )


def revoke(invitation: Invitation, *, actor: Actor) -> None:
    """The link dies at once and the pending user (with their pending memberships) is removed."""
    _ensure_open(invitation, "revoked")
    _ensure_within_rank(invitation, actor)
    user_id = invitation.user_id
    invitation.status = InvitationStatus.REVOKED.value
    invitation.user_id = None
    db.session.flush()
    if user_id is not None:
        db.session.execute(
            delete(User)
            .where(User.id == user_id, User.status == UserStatus.PENDING.value)
            .execution_options(synchronize_session=False)
        )
    record(
        "invitation.revoke",
        invitation,
        actor=actor,
        changes={"email": invitation.email, "pending_user_removed": user_id is not None},
    )


def update_invitation(
    invitation: Invitation,
    role_ids: list[uuid.UUID],
    group_ids: list[uuid.UUID],
    expected_version: int | None,
    *,
    actor: Actor,
) -> None:
    """Replace the roles to grant and the groups to join of a not-yet-accepted invitation.

    StaleEdit when the invitation changed since the form was read (`expected_version`; None: the change applies
    to the current version) or between our read and our write."""
    _ensure_open(invitation, "changed")
    roles = queries.roles_by_id(invitation.account_id, role_ids)
    groups = queries.groups_by_id(invitation.account_id, group_ids)
    old_roles = queries.roles_by_id(invitation.account_id, queries.role_ids_of(invitation.id))
    old_groups = queries.groups_by_id(invitation.account_id, queries.group_ids_of(invitation.id))
    for role in old_roles:
        if refusal_to_grant(actor.permissions, role):
            raise Forbidden(f"This invitation grants the role {role.name}, which you cannot grant.")
    for role in roles:
        ensure_may_grant(actor.permissions, role)
    submitted = {"roles": sorted(r.name for r in roles), "groups": sorted(g.name for g in groups)}
    ensure_version(
        invitation,
        expected_version,
        submitted=submitted,
        current={"roles": sorted(r.name for r in old_roles), "groups": sorted(g.name for g in old_groups)},
    )
    with saving(invitation):  # the roles and groups live in rows of their own: the version moves for them
        touch(invitation)
        _replace_roles(invitation.id, {r.id for r in old_roles}, {r.id for r in roles})
        _replace_groups(invitation.id, invitation.user_id, {g.id for g in old_groups}, {g.id for g in groups})
    record(
        "invitation.update",
        invitation,
        actor=actor,
        changes={
            "roles": {"from": [r.name for r in old_roles], "to": [r.name for r in roles]},
            "groups": {"from": [g.name for g in old_groups], "to": [g.name for g in groups]},
        },
    )


def _replace_roles(invitation_id: uuid.UUID, old: set[uuid.UUID], new: set[uuid.UUID]) -> None:
    if old - new:
        db.session.execute(
            delete(InvitationRole).where(
                InvitationRole.invitation_id == invitation_id, InvitationRole.role_id.in_(old - new)
            )
        )
    db.session.add_all(InvitationRole(invitation_id=invitation_id, role_id=role_id) for role_id in new - old)


def _replace_groups(
    invitation_id: uuid.UUID, user_id: uuid.UUID | None, old: set[uuid.UUID], new: set[uuid.UUID]
) -> None:
    """The invitation's groups, and the pending user's memberships with them."""
    if old - new:
        db.session.execute(
            delete(InvitationGroup).where(
                InvitationGroup.invitation_id == invitation_id, InvitationGroup.group_id.in_(old - new)
            )
        )
        if user_id is not None:
            db.session.execute(
                delete(GroupMember).where(GroupMember.user_id == user_id, GroupMember.group_id.in_(old - new))
            )
    db.session.add_all(InvitationGroup(invitation_id=invitation_id, group_id=group_id) for group_id in new - old)
    if user_id is not None:
        member_of = set(db.session.scalars(select(GroupMember.group_id).where(GroupMember.user_id == user_id)))
        db.session.add_all(GroupMember(group_id=group_id, user_id=user_id) for group_id in new - old - member_of)


def retry_delivery(invitation: Invitation, *, actor: Actor) -> None:
    """Queue the invitation's failed email again."""
    if invitation.email_id is None:
        raise Conflict("This invitation has no email to retry.")
    delivery.retry(invitation.email_id, invitation.account_id, actor=actor)


def _inviter_permissions(inviter: User | None) -> frozenset[Permission] | None:
    """What the inviter may grant *now*; None when they may no longer invite at all (I4)."""
    if inviter is None or not inviter.is_active_user:
        return None
    held = ALL_PERMISSIONS if inviter.is_owner else held_permissions([inviter.id])[inviter.id]
    return held if Permission.INVITATIONS_WRITE in held else None


def open_invitation(token: str) -> queries.Invited:
    """The invitation behind a link, if it may still be accepted; InvitationGone for every other case."""
    invited = queries.by_token(token)
    if (
        invited is None
        or not invited.invitation.is_usable(clock.now())
        or invited.user.status != UserStatus.PENDING
        # An identity provider's invitation grants nothing, so it needs no inviter who still may.
        or (not invited.invitation.provisioned and _inviter_permissions(invited.inviter) is None)
    ):
        raise InvitationGone()
    return invited


def accept(invited: queries.Invited, details: Acceptance, *, actor: Actor) -> User:
    """Consume the invitation with one conditional UPDATE (two concurrent accepts: one wins, I2),
    then activate the user and grant the roles the inviter may still grant (I4). `actor`: the invited person,
    who accepts (the accept page passes `actors.person(invited.user)`)."""
    password_hash = hash_password(details.password)  # slow: done before the write lock is taken
    invitation, user = invited.invitation, invited.user
    address, now = invitation.email, clock.now()
    if not invitation.provisioned and user.email != address and queries.users_by_email(user.account_id, [address]):
        raise Conflict("Another user of this account has the invited address now. Ask for a new invitation.")
    consumed = db.session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.token_hash == invitation.token_hash,
            Invitation.user_id == user.id,
            Invitation.status == InvitationStatus.PENDING.value,
            Invitation.expires_at > now,
        )
        .values(status=InvitationStatus.ACCEPTED.value, accepted_at=now, version=Invitation.version + 1)
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:  # type: ignore[attr-defined]
        raise InvitationGone()
    db.session.expire(invitation)
    if not invitation.provisioned:  # the identity provider's login and address are the provider's to change
        user.email = address  # the link went to this address: the account is its, whatever the pending row says
        user.login = details.login
    user.first_name = details.first_name
    user.last_name = details.last_name
    user.password_hash = password_hash
    user.must_change_password = False
    user.status = UserStatus.ACTIVE.value  # and so its group memberships are accepted
    may_grant = _inviter_permissions(invited.inviter) or frozenset()
    offered = db.session.execute(
        select(Role, InvitationRole.expires_at)
        .join(InvitationRole, InvitationRole.role_id == Role.id)
        .where(
            InvitationRole.invitation_id == invitation.id,
            Role.account_id == invitation.account_id,
            in_force(InvitationRole.expires_at, now),
        )
        .order_by(Role.name)
    ).all()
    roles = [role for role, _until in offered]
    ends = {role.id: until for role, until in offered}
    granted = [role for role in roles if refusal_to_grant(may_grant, role) is None]
    for role in granted:  # the grants are the inviter's, within what they may grant now
        role_services.grant(user, role, expires_at=ends[role.id], actor=actor)
    record(
        "invitation.accept",
        invitation,
        actor=actor,
        account_id=invitation.account_id,
        changes={
            "login": details.login,
            "roles_granted": [r.name for r in granted],
            "roles_withheld": [r.name for r in roles if r not in granted],
        },
    )
    return user
