"""Server-side sign-in sessions: the cookie holds a random token, the database its hash.

Ending a session row signs that browser out for good, so a copied cookie is useless after
sign-out, and a password change, disable or delete can sign a person out everywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, delete, select, update

from portal import db, tokens
from portal.db import utcnow
from portal.models import Account, Job, LoginSession, RoleAssignment, User
from portal.models.job import OPEN_STATES
from portal.permissions import Permission, parse_permissions
from portal.roles.queries import permissions_until

# last_seen_at is written at most this often, so most requests do not write.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass
class SignedIn:
    """What a valid session token resolves to."""

    login_session: LoginSession
    user: User
    account: Account
    permissions: frozenset[Permission]  # what the session holds (the owner: everything)
    job_notice: bool  # a job the person started has finished and they have not been told yet


def start(
    user: User, ip_address: str, user_agent: str, auth_method: str = "password", expires_at: datetime | None = None
) -> tuple[str, LoginSession]:
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


# Built once (the sign-in check runs on every request), bound per request. A job is finished when its state is
# none of the open ones, said as one `!=` each: NOT IN (…) is an expanding parameter, which SQLAlchemy renders into
# the SQL again on every execution (~20 % of this statement's CPU, issue 20).
_SIGNED_IN = (
    select(
        LoginSession,
        User,
        Account,
        select(Job.id)
        .where(Job.started_by_id == User.id, Job.notified.is_(False), *(Job.state != state for state in OPEN_STATES))
        .exists(),
    )
    .join(User, User.id == LoginSession.user_id)
    .join(Account, Account.id == User.account_id)
    .where(LoginSession.token_hash == bindparam("token_hash"))
)


def resolve(token: str, idle: timedelta, absolute: timedelta) -> SignedIn | None:
    """The live session a token belongs to, touched, with its permissions; None when unknown, expired or
    not active. One statement reads session, person, account, the session's cached permissions and whether
    a finished job awaits a notice; a second runs only when the cache was emptied or a grant expired."""
    row = db.session.execute(_SIGNED_IN, {"token_hash": tokens.digest(token)}).first()
    if row is None:
        return None
    login_session, user, account, notice = row
    now = utcnow()
    if login_session.is_expired(now, idle, absolute) or not user.is_active_user:
        db.session.delete(login_session)
        db.session.commit()
        return None
    permissions, written = _permissions(login_session, user, now)
    if now - login_session.last_seen_at > TOUCH_INTERVAL:
        login_session.last_seen_at = now
        written = True
    if written:
        db.session.commit()
    return SignedIn(login_session, user, account, permissions, bool(notice))


@lru_cache(maxsize=512)
def _parse_cached(stored: str) -> frozenset[Permission]:
    return parse_permissions(stored.split(",")) if stored else frozenset()


def _permissions(login_session: LoginSession, user: User, now: datetime) -> tuple[frozenset[Permission], bool]:
    """The session's permissions from its row while still good; else computed and written back (and True).

    The write names the stamp read with the row: when a grant, a role or the active roles changed in
    between, the triggers have bumped it and the write does nothing, so a stale set is never cached."""
    until = login_session.permissions_until
    if not user.is_owner and login_session.permissions is not None and (until is None or now < until):
        return _parse_cached(login_session.permissions), False
    permissions, until = permissions_until(user, login_session, now)
    if user.is_owner:
        return permissions, False  # the owner's rule reads only the person's row
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.id == login_session.id, LoginSession.permissions_stamp == login_session.permissions_stamp)
        .values(permissions=",".join(sorted(p.value for p in permissions)), permissions_until=until)
        .execution_options(synchronize_session=False)
    )
    return permissions, True


def end(login_session_id: uuid.UUID) -> None:
    """End one session."""
    db.session.execute(delete(LoginSession).where(LoginSession.id == login_session_id))


def end_all(user_id: uuid.UUID, keep: uuid.UUID | None = None) -> int:
    """End every session of a user, except the one to keep (the acting person's own); how many ended."""
    return end_all_of([user_id], keep)


def end_all_of(user_ids: Sequence[uuid.UUID], keep: uuid.UUID | None = None) -> int:
    """end_all for a batch of users, in one statement; how many sessions ended."""
    statement = delete(LoginSession).where(LoginSession.user_id.in_(user_ids))
    if keep is not None:
        statement = statement.where(LoginSession.id != keep)
    return int(db.session.execute(statement).rowcount)  # type: ignore[attr-defined]
