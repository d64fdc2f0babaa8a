"""Email changes: request, cancel, confirm (SECURITY E1). Never commits.

Any change of a person's email — asked by the person on /me or by an admin on the user's edit
page — is pending until the new address confirms it through a link sent there. Until then the
stored `users.email` (the verified address) stays in force for sign-in, password reset and
notices, and the old address is told who asked. The link is the only email that goes to the new
address. Confirming also takes the person's own password (or their signed-in session): a link
alone would let an admin who points someone's email at a mailbox of their own confirm it
themselves and then reset the password, so that users:password would mean nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from portal import actors, db, tokens
from portal.actors import Actor
from portal.audit.services import record
from portal.auth import mfa
from portal.auth.passwords import verify_password
from portal.db import utcnow
from portal.email_changes import queries
from portal.errors import Conflict, DomainError, Invalid, NotFound
from portal.mail.notices import security_notice
from portal.mail.outbox import enqueue, external_url
from portal.models import Account, EmailChange, PasswordResetToken, User, UserStatus
from portal.roles import policy

VALID_FOR = timedelta(hours=24)
MAX_FAILURES = 5  # wrong passwords on the confirm page before the change is cancelled

GONE_MESSAGE = (
    "This confirmation link is not valid. It may have expired, been used already, been cancelled or been "
    "replaced by a newer one. Ask for the change again from your profile, or ask your administrator."
)
TAKEN_MESSAGE = "That email is already used by someone in this account."


class EmailChangeGone(DomainError):
    """One answer for an unknown, used, cancelled, replaced or expired link."""

    status, title = 410, "Link not valid"

    def __init__(self) -> None:
        super().__init__(GONE_MESSAGE)


def pending_message(change: EmailChange) -> str:
    """What the person who asked is told once the link is on its way."""
    return f"A confirmation link was sent to {change.new_email}; the email changes when it is confirmed."


def _who(requester: User, user: User) -> str:
    return "You" if requester.id == user.id else f"{requester.full_name} ({requester.login})"


def request_change(
    user: User, new_email: str, also_changed: dict[str, Any] | None = None, *, actor: Actor
) -> EmailChange:
    """Open a change of the user's email to new_email: the link to the new address, a notice to the old one.

    A newer request cancels an older open one (its link dies). The caller has checked that the actor
    may act on the user (or is the user, freshly re-authenticated). `also_changed`: other fields the same
    save changed, recorded in this one audit event.
    """
    new_email = new_email.strip().lower()
    if user.status == UserStatus.PENDING:
        raise Conflict("An invited person's address is the invitation's; it changes only with a new invitation.")
    if new_email == user.email:
        raise Invalid("That is the current address already.", field="email")
    if queries.email_taken(user.account_id, new_email, user.id):
        raise Invalid(TAKEN_MESSAGE, field="email")
    now = utcnow()
    db.session.execute(
        update(EmailChange)
        .where(EmailChange.user_id == user.id, EmailChange.confirmed_at.is_(None), EmailChange.cancelled_at.is_(None))
        .values(cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
    token, token_hash = tokens.new_token_and_digest()
    change = EmailChange(
        account_id=user.account_id,
        user_id=user.id,
        new_email=new_email,
        token_hash=token_hash,
        requested_by_id=actor.user.id,
        expires_at=now + VALID_FOR,
    )
    try:
        with db.session.begin_nested():  # one open change per user: a request at the same moment loses
            db.session.add(change)
    except IntegrityError:
        raise Conflict("Another change of this email was asked for at the same moment. Reload and try again.") from None
    account = db.session.get(Account, user.account_id)
    account_name = account.name if account else ""
    who = _who(actor.user, user)
    enqueue(
        "email_change_confirm",
        new_email,
        "Confirm your new email address for Account Portal",
        account_id=user.account_id,
        user=user,
        account_name=account_name,
        new_email=new_email,
        requester=who,
        confirm_url=external_url("email_change.open_link", token=token),
        expires_at=change.expires_at,
    )
    security_notice(
        user,
        "A change of your email address was requested",
        f"{who} asked to change the email of your Account Portal sign-in ({user.login} in "
        f"{account_name}) from {user.email} to {new_email}. Nothing changes until the new address "
        "confirms it with a link sent there, together with your password. You can cancel it on "
        f"your profile page: {external_url('me.profile')}",
    )
    record(
        "user.email_change_requested",
        user,
        actor=actor,
        changes={**(also_changed or {}), "email": [user.email, new_email], "expires_at": change.expires_at.isoformat()},
    )
    return change


def cancel_change(user: User, *, actor: Actor) -> EmailChange:
    """Cancel the user's open change (its link dies): the person themselves, or someone who may act on them."""
    if actor.user.id != user.id:
        policy.ensure_may_act_on(actor.user, actor.permissions, user)
    change = queries.open_change(user.id)
    if change is None:
        raise NotFound("There is no pending email change to cancel.")
    change.cancelled_at = utcnow()
    record("user.email_change_cancelled", user, actor=actor, changes={"new_email": change.new_email})
    return change


def verify_person(linked: queries.LinkedChange, signed_in: User | None, password: str, code: str) -> bool:
    """Whether the person whose email changes is the one confirming: signed in as themselves, or their
    password (and second factor when on). A wrong answer counts; MAX_FAILURES of them cancel the change."""
    user, change = linked.user, linked.change
    if signed_in is not None and signed_in.id == user.id:
        return True
    ok = verify_password(user.password_hash, password)  # no password (SSO): False, in the same time
    if ok and user.mfa_enabled:
        ok = mfa.accept_code(user, code)
    if ok:
        return True
    change.failures += 1
    record(
        "user.email_change_failed",
        user,
        actor=actors.anonymous(),
        account_id=user.account_id,
        changes={"new_email": change.new_email, "failures": change.failures},
    )
    if change.failures >= MAX_FAILURES:
        change.cancelled_at = utcnow()
        record(
            "user.email_change_cancelled",
            user,
            actor=actors.anonymous(),
            account_id=user.account_id,
            changes={"new_email": change.new_email, "reason": "too many wrong passwords"},
        )
    return False


def confirm_change(linked: queries.LinkedChange, *, actor: Actor) -> str:
    """Make the new address the user's email (rechecking it is free in the account); returns the old one.

    The link is consumed by one conditional UPDATE, so two confirmations at once cannot both succeed.
    Reset links sent to the old address die with it. `actor`: the person whose email it is, once
    verify_person has proved it (a confirm page passes `actors.person(linked.user)`).
    """
    user, change = linked.user, linked.change
    if queries.email_taken(user.account_id, change.new_email, user.id):
        raise Conflict(
            f"{change.new_email} is now used by someone else in this account, so the email was not "
            "changed. Ask for a change to another address."
        )
    now = utcnow()
    consumed = db.session.execute(
        update(EmailChange)
        .where(
            EmailChange.id == change.id,
            EmailChange.confirmed_at.is_(None),
            EmailChange.cancelled_at.is_(None),
            EmailChange.expires_at > now,
        )
        .values(confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:  # type: ignore[attr-defined]
        raise EmailChangeGone()
    db.session.expire(change)
    old = user.email
    user.email = change.new_email
    try:
        with db.session.begin_nested():  # taken at this very moment: the unique constraint answers
            db.session.flush()
    except IntegrityError:
        raise Conflict(
            f"{change.new_email} is now used by someone else in this account, so the email was not changed."
        ) from None
    db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )
    record("user.email_change", user, actor=actor, changes={"email": [old, change.new_email]})
    security_notice(
        user,
        "Your email address was changed",
        f"The email of your Account Portal sign-in ({user.login} in {linked.account.name}) was changed "
        f"from {old} to {change.new_email}, confirmed from a link sent to the new address.",
        to_address=old,
    )
    return old
