"""Brute-force lockout, as Keycloak does it (SECURITY L1, L2, L4).

Failures are counted per (account, identifier) — the login or email as typed and normalised,
within the account the sign-in name resolves to — whether or not anyone has that login: an
unknown login locks exactly like a real one, so the lockout says nothing about who exists, and
nothing done against one account touches another's people. They are also counted per client
address (a higher threshold: one address guessing across many logins). After MAX_FAILURES
failures in a row the identifier waits FIRST_WAIT; each further failure doubles the wait, up to
MAX_WAIT. A failure more than FAILURE_RESET after the previous one starts a new count; a success
ends it. While the wait runs, every attempt (the right password too) gets the ordinary "Invalid
login or password." answer, costs one password verification like any other attempt, and is not
counted (Keycloak counts nothing while an account is temporarily disabled).

The second factor has its own count, keyed by the user (`user_key`), checked with
`check_second_factor`.

Keys are stored as an HMAC under SECRET_KEY: a password typed into the login field by mistake
never lands in the table. Nothing here commits: the sign-in view's commit does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal import db, tokens
from portal.accounts import sign_in_names
from portal.actors import Actor
from portal.audit.services import record
from portal.auth import services
from portal.auth.passwords import spend_one_verification
from portal.db import utcnow
from portal.models import Account, LoginThrottle, User
from portal.request_log import log_event

MAX_FAILURES = 5
# Failures in a row from one client address before it waits (counted across logins and accounts).
ADDRESS_MAX_FAILURES = 30
FIRST_WAIT = timedelta(minutes=1)
MAX_WAIT = timedelta(minutes=15)
FAILURE_RESET = timedelta(hours=12)


def now() -> datetime:
    """The lockout's clock (tests replace it to move time)."""
    return utcnow()


def key_for(value: str) -> str:
    """The stored key of a counted thing: HMAC-SHA256 under the app's secret key."""
    return tokens.keyed_digest("login", value)


def identifier_key(account: Account | None, sign_in_name: str, identifier: str) -> str:
    """The key of a login or email within an account; an unknown account's name counts on its own."""
    scope = str(account.id) if account is not None else "name:" + sign_in_names.normalise(sign_in_name)
    return key_for(f"{scope}\n{services.normalise(identifier)}")


def address_key(address: str) -> str:
    """The key of a client address."""
    return key_for(f"#address:{address}")


def user_key(user: User) -> str:
    """The key that counts a user's failed second-factor codes."""
    return key_for(f"#user:{user.id}")


def wait_after(failures: int, threshold: int = MAX_FAILURES) -> timedelta:
    """How long a key waits after this many failures in a row (nothing below the threshold)."""
    if failures < threshold:
        return timedelta(0)
    doublings = min(failures - threshold, 10)  # 2**10 minutes is far beyond the cap already
    return min(FIRST_WAIT * (1 << doublings), MAX_WAIT)


def _locked_until(key: str) -> datetime | None:
    until = db.session.scalar(select(LoginThrottle.locked_until).where(LoginThrottle.key == key))
    return until if until is not None and until > now() else None


def is_locked(key: str) -> bool:
    """Whether the identifier behind the key is waiting out a lockout."""
    return _locked_until(key) is not None


def register_failure(key: str, threshold: int = MAX_FAILURES) -> int:
    """Count one more failure in a row; start or lengthen the wait when due. The new count."""
    moment = now()
    stale = moment - FAILURE_RESET
    values = {"key": key, "failures": 1, "last_failure_at": moment, "locked_until": None}
    dialect = db.session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):  # pragma: no cover - the portal runs on these two
        raise RuntimeError(f"the lockout needs an upsert; {dialect} is not supported")
    insert = pg_insert(LoginThrottle) if dialect == "postgresql" else sqlite_insert(LoginThrottle)
    # One statement, so that two failures at the same moment both count.
    statement = (
        insert.values(**values)
        .on_conflict_do_update(
            index_elements=[LoginThrottle.key],
            set_={
                "failures": case((LoginThrottle.last_failure_at < stale, 1), else_=LoginThrottle.failures + 1),
                "last_failure_at": moment,
            },
        )
        .returning(LoginThrottle.failures)
    )
    failures = int(db.session.execute(statement).scalar_one())
    if failures == 1:
        _prune(stale)
    wait = wait_after(failures, threshold)
    if wait:
        db.session.execute(update(LoginThrottle).where(LoginThrottle.key == key).values(locked_until=moment + wait))
        log_event("lockout", key=key[:12], failures=failures, wait_seconds=int(wait.total_seconds()))
    return failures


def register_success(*keys: str) -> None:
    """A success ends the count of these identifiers."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))


def _prune(stale: datetime) -> None:
    """Forget counts nobody added to for FAILURE_RESET (an index range; bounded by what went stale)."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < stale))


def authenticate(sign_in_name: str, identifier: str, password: str, address: str) -> services.Attempt:
    """services.authenticate behind the lockout of (account, identifier) and of the client address.

    While either waits, the attempt fails like a wrong password, after the same one verification.
    """
    account, user = services.resolve(sign_in_name, identifier)
    keys = identifier_key(account, sign_in_name, identifier), address_key(address)
    if any(is_locked(key) for key in keys):
        spend_one_verification(password)
        return services.Attempt(account, user)
    attempt = services.authenticate(sign_in_name, identifier, password)
    if attempt.succeeded:
        register_success(*keys)
    else:
        register_failure(keys[0])
        register_failure(keys[1], ADDRESS_MAX_FAILURES)
    return attempt


def check_second_factor(user: User, verify: Callable[[], bool]) -> bool:
    """verify() behind the user's second-factor lockout: False while locked (verify is not called),
    a failure counted when it says no, the count ended when it says yes."""
    key = user_key(user)
    if is_locked(key):
        return False
    if verify():
        register_success(key)
        return True
    register_failure(key)
    return False


@dataclass(frozen=True)
class LockoutStatus:
    """What the owner sees on a user's page: failures in a row and the wait, if any."""

    failures: int
    last_failure_at: datetime
    locked_until: datetime | None

    @property
    def locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > now()

    @property
    def seconds_left(self) -> int:
        """Seconds until the wait ends (0 when not locked)."""
        if not self.locked or self.locked_until is None:
            return 0
        return max(0, int((self.locked_until - now()).total_seconds() + 0.999))


def _user_keys(user: User) -> list[str]:
    """Every key a user's failures are counted under: their login and email in their account, their
    second factor."""
    account = db.session.get(Account, user.account_id)
    return [identifier_key(account, "", user.login), identifier_key(account, "", user.email), user_key(user)]


_BY_KEYS = select(LoginThrottle).where(LoginThrottle.key.in_(bindparam("keys", expanding=True)))  # built once


def _rows(keys: Iterable[str]) -> list[LoginThrottle]:
    return list(db.session.scalars(_BY_KEYS, {"keys": list(keys)}))


def lockout_status(user: User) -> LockoutStatus | None:
    """The user's current failure count and wait (the worst of their keys), or None when there is none."""
    fresh_after = now() - FAILURE_RESET
    rows = [row for row in _rows(_user_keys(user)) if row.last_failure_at >= fresh_after]
    if not rows:
        return None
    locks = [row.locked_until for row in rows if row.locked_until is not None]
    return LockoutStatus(
        failures=max(row.failures for row in rows),
        last_failure_at=max(row.last_failure_at for row in rows),
        locked_until=max(locks) if locks else None,
    )


def clear_lockout(user: User, *, actor: Actor) -> None:
    """The owner ends a user's lockout and failure count (their login, email and second-factor keys)."""
    status = lockout_status(user)
    register_success(*_user_keys(user))
    record(
        "user.lockout_clear",
        user,
        actor=actor,
        changes={"failures": status.failures if status else 0, "was_locked": bool(status and status.locked)},
    )
