"""Forgotten passwords: a single-use link valid for an hour, sent only to stored addresses (SECURITY R1–R4)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from portal import actors, db, tokens
from portal.actors import Actor
from portal.audit.services import record
from portal.auth import login_sessions, services
from portal.auth.passwords import hash_password
from portal.db import utcnow
from portal.mail.notices import security_notice
from portal.mail.outbox import enqueue, external_url
from portal.models import Account, PasswordResetToken, User

VALID_FOR = timedelta(hours=1)


def request_reset(sign_in_name: str, identifier: str) -> None:
    """Send a reset link to the one active user (account, login or email) names; say nothing either way.

    The link goes only to the user's stored, verified address. A newer link replaces older ones
    (R1). Nothing about the account changes until a link is used. Nobody is signed in and the person is found
    here, so the request is recorded as theirs (`actors.person`), not a caller's actor.
    """
    from portal.sso.services import password_refusal

    account, user = services.resolve(sign_in_name, identifier)
    if account is None or user is None or not user.is_active_user or password_refusal(user):
        return
    send_link(user, account)
    record("auth.password_reset_requested", user, actor=actors.person(user))


def send_link(
    user: User, account: Account, subject: str = "Reset your Account Portal password", reason: str = "reset"
) -> None:
    """A new single-use link to choose a password, to the user's stored address (older links die)."""
    now = utcnow()
    db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )
    token, token_hash = tokens.new_token_and_digest()
    db.session.add(PasswordResetToken(user_id=user.id, token_hash=token_hash, expires_at=now + VALID_FOR))
    enqueue(
        "password_reset",
        user.email,
        subject,
        account_id=user.account_id,
        user=user,
        account_name=account.name,
        reset_url=external_url("auth.password_reset_choose", token=token),
        reason=reason,
    )


def user_for_token(token: str) -> User | None:
    """The active user an unused, unexpired link belongs to."""
    row = db.session.execute(
        select(PasswordResetToken, User)
        .join(User, User.id == PasswordResetToken.user_id)
        .where(PasswordResetToken.token_hash == tokens.digest(token))
    ).first()
    if row is None:
        return None
    reset, user = row
    if reset.used_at is not None or reset.expires_at <= utcnow() or not user.is_active_user:
        return None
    return user


def reset_password(token: str, password: str, *, actor: Actor) -> User | None:
    """Use the link: set the password and sign the user out everywhere; None if the link is not valid.

    The token is consumed by one conditional UPDATE, so two uses at once cannot both succeed. `actor`: the
    person the link belongs to (the page passes `actors.person(user_for_token(token))`); a link of anyone
    else is not valid for them.
    """
    user = user_for_token(token)
    if user is None or user.id != actor.user.id:
        return None
    used = db.rows_changed(
        update(PasswordResetToken)
        .where(PasswordResetToken.token_hash == tokens.digest(token), PasswordResetToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not used:
        return None
    user.password_hash = hash_password(password)
    user.must_change_password = False
    login_sessions.end_all(user.id)
    record("auth.password_reset", user, actor=actor, changes={"password": True})
    security_notice(
        user, "Your password was reset", "The password of your Account Portal sign-in was reset with an emailed link."
    )
    return user
