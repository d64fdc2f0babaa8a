"""Signing in: finding the one person behind (account, login or email) and checking their password."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select, update

from portal import db
from portal.accounts import sign_in_names
from portal.auth.passwords import hash_password, needs_rehash, spend_one_verification, verify_password
from portal.db import utcnow
from portal.models import Account, User


@dataclass(frozen=True)
class Attempt:
    """What a sign-in attempt resolved to: the account and user it names (either may be None), and
    whether the password was right for an active user."""

    account: Account | None
    user: User | None
    succeeded: bool = False


def normalise(identifier: str) -> str:
    """A login or an email as sign-in compares it: trimmed, lower-cased."""
    return identifier.strip().lower()


def user_in_account(account_id: uuid.UUID, identifier: str) -> User | None:
    """The one user of the account whose login, else whose email, this is.

    A login is never another user's email in the account, nor an email another's login
    (users.queries.taken_problem), so at most one user matches; the login is preferred.
    """
    identifier = normalise(identifier)
    if not identifier:
        return None
    users = db.session.scalars(
        select(User).where(User.account_id == account_id, or_(User.login == identifier, User.email == identifier))
    ).all()
    return next((u for u in users if u.login == identifier), users[0] if users else None)


def resolve(sign_in_name: str, identifier: str) -> tuple[Account | None, User | None]:
    """The account named and its user named, each None when there is no such thing."""
    account = sign_in_names.account_named(sign_in_name)
    return account, user_in_account(account.id, identifier) if account is not None else None


def authenticate(sign_in_name: str, identifier: str, password: str) -> Attempt:
    """Check the password of the one user (account, login or email) names.

    An unknown account, an unknown user, an empty password, a disabled or pending user and a
    wrong password all cost exactly one argon2 verification and fail alike (SECURITY L1, L2).
    """
    account, user = resolve(sign_in_name, identifier)
    if user is None or not user.password_hash or not password:
        spend_one_verification(password)
        return Attempt(account, user)
    succeeded = verify_password(user.password_hash, password) and user.is_active_user
    return Attempt(account, user, succeeded)


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
