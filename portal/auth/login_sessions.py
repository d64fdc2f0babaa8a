"""Server-side sign-in sessions: the cookie holds a random token, the database its hash.

Ending a session row signs that browser out for good, so a copied cookie is useless after
sign-out, and a password change, disable or delete can sign a person out everywhere.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from portal import db, tokens
from portal.db import utcnow
from portal.models import Account, LoginSession, RoleAssignment, User

# last_seen_at is written at most this often, so most requests do not write.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass
class SignedIn:
    """What a valid session token resolves to."""

    login_session: LoginSession
    user: User
    account: Account


def start(user: User, ip_address: str, user_agent: str, auth_method: str = "password",
          expires_at: datetime | None = None) -> tuple[str, LoginSession]:
    """Record a new session for the user, with their default roles active; returns its token and row.

    `auth_method`: password, sso or break_glass; `expires_at`: an end of its own (an SSO session's)."""
    token, token_hash = tokens.new_token_and_digest()
    default_role_ids = db.session.scalars(
        select(RoleAssignment.role_id).where(RoleAssignment.user_id == user.id, RoleAssignment.is_default)
    ).all()
    login_session = LoginSession(
        user_id=user.id,
        token_hash=token_hash,
        active_role_ids=[str(role_id) for role_id in default_role_ids],
        ip_address=ip_address[:45],
        user_agent=user_agent[:255],
        auth_method=auth_method,
        expires_at=expires_at,
    )
    db.session.add(login_session)
    return token, login_session


def resolve(token: str, idle: timedelta, absolute: timedelta) -> SignedIn | None:
    """The live session a token belongs to, touched; None when unknown, expired or not active."""
    row = db.session.execute(
        select(LoginSession, User, Account)
        .join(User, User.id == LoginSession.user_id)
        .join(Account, Account.id == User.account_id)
        .where(LoginSession.token_hash == tokens.digest(token))
    ).first()
    if row is None:
        return None
    login_session, user, account = row
    now = utcnow()
    if login_session.is_expired(now, idle, absolute) or not user.is_active_user:
        db.session.delete(login_session)
        db.session.commit()
        return None
    if now - login_session.last_seen_at > TOUCH_INTERVAL:
        login_session.last_seen_at = now
        db.session.commit()
    return SignedIn(login_session, user, account)


def end(login_session_id: uuid.UUID) -> None:
    """End one session."""
    db.session.execute(delete(LoginSession).where(LoginSession.id == login_session_id))


def end_all(user_id: uuid.UUID, keep: uuid.UUID | None = None) -> int:
    """End every session of a user, except the one to keep (the acting person's own); how many ended."""
    statement = delete(LoginSession).where(LoginSession.user_id == user_id)
    if keep is not None:
        statement = statement.where(LoginSession.id != keep)
    return int(db.session.execute(statement).rowcount)  # type: ignore[attr-defined]
