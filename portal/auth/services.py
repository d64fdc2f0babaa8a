"""Signing in: finding the person behind a login or email and checking their password."""

from __future__ import annotations

from sqlalchemy import or_, select, update

from portal import db
from portal.auth.passwords import hash_password, needs_rehash, spend_one_verification, verify_password
from portal.db import utcnow
from portal.models import User

# A login or an email may exist in several accounts; each is tried, up to this many.
MAX_CANDIDATES = 5


def users_named(identifier: str) -> list[User]:
    """The users (of any account) whose login or email this is, most recently signed in first."""
    identifier = identifier.strip().lower()
    if not identifier:
        return []
    return list(
        db.session.scalars(
            select(User)
            .where(or_(User.login == identifier, User.email == identifier))
            .order_by(User.last_login_at.desc().nulls_last(), User.created_at)
            .limit(MAX_CANDIDATES)
        )
    )


def authenticate(identifier: str, password: str) -> User | None:
    """The active user whose login or email and password match, or None.

    Every failing path costs at least one argon2 verification, so an unknown login, an
    empty password and a disabled user answer in about the time of a wrong password.
    """
    candidates = users_named(identifier)
    if not candidates or not password:
        spend_one_verification(password)
        return None
    for user in candidates:
        if verify_password(user.password_hash, password) and user.is_active_user:
            return user
    return None


def rehash_if_needed(user: User, password: str) -> None:
    """Re-hash a password that was hashed with weaker parameters than today's (SECURITY P2)."""
    if user.password_hash and needs_rehash(user.password_hash):
        _quiet_update(user, password_hash=hash_password(password))


def record_sign_in(user: User) -> None:
    """Note the sign-in time."""
    _quiet_update(user, last_login_at=utcnow())


def _quiet_update(user: User, **values: object) -> None:
    """A plain UPDATE, so that signing in does not bump the optimistic-lock version an admin's
    open edit form carries."""
    db.session.execute(update(User).where(User.id == user.id).values(**values))
