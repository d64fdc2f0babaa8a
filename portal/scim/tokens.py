"""Provisioning tokens: make (shown once, only its SHA-256 kept), rotate (the old one lives 24 h more),
revoke, and the bearer check of every SCIM request, with its per-token rate limit and the request log."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import cast

from flask import current_app
from limits import parse
from sqlalchemy import Table, bindparam, delete, func, insert, select, true, update

from portal import db, tokens
from portal.actors import Actor
from portal.audit.services import record
from portal.db import utcnow
from portal.errors import NotFound
from portal.extensions import limiter
from portal.models import Account, ProvisioningToken, ScimRequest

PREFIX = "scim_"
GRACE = timedelta(hours=24)
LOG_SIZE = 20  # the provisioning page shows the last 20 requests
TRIM_EVERY = 16  # older rows are deleted by one request in TRIM_EVERY (at random): the table stays small, and
# a request seldom pays for the delete


def _new(account: Account, actor: Actor) -> tuple[str, ProvisioningToken]:
    token, token_hash = tokens.new_token_and_digest(PREFIX)
    row = ProvisioningToken(
        account_id=account.id, prefix=token[:12], token_hash=token_hash, created_by_id=actor.user.id
    )
    db.session.add(row)
    db.session.flush()
    return token, row


def usable_tokens(account_id: uuid.UUID) -> list[ProvisioningToken]:
    """The account's tokens that still work, newest first."""
    now = utcnow()
    rows = db.session.scalars(
        select(ProvisioningToken)
        .where(ProvisioningToken.account_id == account_id, ProvisioningToken.revoked_at.is_(None))
        .order_by(ProvisioningToken.created_at.desc())
    )
    return [row for row in rows if row.is_usable(now)]


def make_token(account: Account, *, actor: Actor) -> str:
    """A new token (the only time it is seen). Any token that works still ends now: the page makes one at a
    time, and rotating is the way to have two for a while."""
    now = utcnow()
    ended = [row.prefix for row in usable_tokens(account.id)]
    for row in usable_tokens(account.id):
        row.revoked_at = now
    token, row = _new(account, actor)
    record("provisioning_token.create", account, actor=actor, changes={"prefix": row.prefix, "ended": ended})
    return token


def rotate_token(account: Account, *, actor: Actor) -> str:
    """A new token; those that work now keep working for 24 hours (time to paste the new one into the
    identity provider), then die."""
    until = utcnow() + GRACE
    kept = []
    for row in usable_tokens(account.id):
        if row.expires_at is None or row.expires_at > until:
            row.expires_at = until
        kept.append(row.prefix)
    token, row = _new(account, actor)
    record(
        "provisioning_token.rotate",
        account,
        actor=actor,
        changes={"prefix": row.prefix, "old_until": until.isoformat(), "old": kept},
    )
    return token


def revoke_token(account: Account, token_id: uuid.UUID, *, actor: Actor) -> None:
    """The token stops working at once."""
    row = db.session.scalar(
        select(ProvisioningToken).where(ProvisioningToken.id == token_id, ProvisioningToken.account_id == account.id)
    )
    if row is None or row.revoked_at is not None:
        raise NotFound("No such provisioning token.")
    row.revoked_at = utcnow()
    record("provisioning_token.revoke", account, actor=actor, changes={"prefix": row.prefix})


_TOKEN_AND_ACCOUNT = (  # built once: every SCIM request reads it
    select(ProvisioningToken, Account)
    .join(Account, Account.id == ProvisioningToken.account_id)
    .where(ProvisioningToken.token_hash == bindparam("token_hash"))
)


def authenticate(account_id: uuid.UUID, token: str) -> tuple[ProvisioningToken, Account] | None:
    """The token of this account that the bearer holds, if it works, with its account, in one statement
    (another account's: None, so a 401)."""
    if not token.startswith(PREFIX):
        return None
    found = db.session.execute(_TOKEN_AND_ACCOUNT, {"token_hash": tokens.digest(token)}).first()
    if found is None:
        return None
    row, account = found
    if row.account_id != account_id or not row.is_usable(utcnow()):
        return None
    return row, account


def mark_used(token_id: uuid.UUID, last_used: datetime | None = None) -> None:
    """Last used: at most once a minute per token, so that a burst of requests writes it once (the value the
    bearer check read says whether it is due, so most requests do not write at all)."""
    now = utcnow()
    if not tokens.last_use_due(last_used, now):
        return
    db.session.execute(
        update(ProvisioningToken)
        .where(ProvisioningToken.id == token_id, tokens.last_use_stale(ProvisioningToken.last_used_at, now))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


_limit = lru_cache(maxsize=8)(parse)  # RATELIMIT_SCIM parsed once (it is read per request: tests change it)


@dataclass(frozen=True)
class RateState:
    allowed: bool
    retry_after: int


def count_request(token_id: uuid.UUID) -> RateState:
    """Count one request of the token against RATELIMIT_SCIM (the portal's one limiter and its storage). The
    window's reset is asked for only when the request is refused (its Retry-After): an allowed request costs
    the storage one call."""
    item = _limit(str(current_app.config["RATELIMIT_SCIM"]))
    try:
        if limiter.limiter.hit(item, "scim", str(token_id)):
            return RateState(True, 0)
        reset, _remaining = limiter.limiter.get_window_stats(item, "scim", str(token_id))
    except Exception:  # noqa: BLE001 - as the limiter's swallow_errors: never fail a request on the storage
        current_app.logger.exception("The SCIM rate-limit storage failed")
        return RateState(True, 0)
    return RateState(False, max(1, int(reset - time.time())))


_LOG = cast(Table, ScimRequest.__table__)
_LOG_INSERT = insert(_LOG)  # a Core INSERT: no ORM object, no unit of work to flush
_LOG_COLUMNS = ("id", "account_id", "method", "path", "status", "created_at")
# On PostgreSQL the same row, and `SET LOCAL synchronous_commit TO OFF` in the same statement (set_config(…, true)
# in a CTE the row is selected from): the request's commit does not wait for the WAL to reach the disk, at no
# extra round trip.
_RELAXED = select(func.set_config("synchronous_commit", "off", true()).label("relaxed")).cte("relaxed")
_LOG_INSERT_RELAXED = insert(_LOG).from_select(
    _LOG_COLUMNS, select(*(bindparam(name, type_=_LOG.c[name].type) for name in _LOG_COLUMNS)).select_from(_RELAXED)
)
_KEPT = (  # the account's last LOG_SIZE requests
    select(ScimRequest.id)
    .where(ScimRequest.account_id == bindparam("account_id"))
    .order_by(ScimRequest.created_at.desc(), ScimRequest.id.desc())
    .limit(LOG_SIZE)
)
_TRIM = (  # built once: the trim runs in one request in TRIM_EVERY
    delete(ScimRequest)
    .where(ScimRequest.account_id == bindparam("account_id"), ScimRequest.id.not_in(_KEPT.scalar_subquery()))
    .execution_options(synchronize_session=False)
)


def log_request(account_id: uuid.UUID, method: str, path: str, status: int) -> None:
    """Keep the request (no body, no token) for the provisioning page, and only the last LOG_SIZE of them.

    The request log and last used are bookkeeping: on PostgreSQL the commit that keeps them does not wait for the
    WAL to reach the disk (a crash may lose the last few rows, never corrupt anything), set by the INSERT itself.
    SQLite runs with synchronous=NORMAL in WAL mode already."""
    relaxed = db.session.get_bind().dialect.name == "postgresql"
    db.session.execute(
        _LOG_INSERT_RELAXED if relaxed else _LOG_INSERT,
        {
            "id": uuid.uuid4(),
            "account_id": account_id,
            "method": method[:8],
            "path": path[:255],
            "status": status,
            "created_at": utcnow(),
        },
    )
    if random.randrange(TRIM_EVERY):  # noqa: S311 - which request trims is no secret
        return
    db.session.execute(_TRIM, {"account_id": account_id})


def recent_requests(account_id: uuid.UUID) -> list[ScimRequest]:
    """The last LOG_SIZE SCIM requests of the account, newest first."""
    return list(
        db.session.scalars(
            select(ScimRequest)
            .where(ScimRequest.account_id == account_id)
            .order_by(ScimRequest.created_at.desc(), ScimRequest.id.desc())
            .limit(LOG_SIZE)
        )
    )


def tokens_of(account_id: uuid.UUID) -> list[ProvisioningToken]:
    """Every token of the account that has not been revoked or run out, newest first."""
    return usable_tokens(account_id)
