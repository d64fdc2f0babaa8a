"""Secret tokens: a new random one, the digest that is all the database keeps of it, a keyed digest, and comparing
two secrets.

Sign-in sessions, password-reset links, invitation and email-change links, API keys and SCIM provisioning
tokens are all made and looked up here. The digest is a plain SHA-256 in lower-case hex (64 characters):
the tokens carry 256 random bits, so no salt or slow hash is needed, and a lookup by digest is one indexed
equality. Changing the algorithm or the encoding would make every stored row unreachable.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement

TOKEN_BYTES = 32  # 256 bits from the operating system's CSPRNG
LAST_USED_EVERY = timedelta(minutes=1)  # a credential's last use is written at most this often


def new_token(prefix: str = "") -> str:
    """A new random token (URL-safe, 43 characters after `prefix`), shown once and never stored."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> str:
    """What is stored of a token: its SHA-256, in lower-case hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token_and_digest(prefix: str = "") -> tuple[str, str]:
    """A new token and its digest: the token for the person, the digest for the database."""
    token = new_token(prefix)
    return token, digest(token)


def keyed_digest(purpose: str, value: str) -> str:
    """An HMAC-SHA256 (hex) of the value under the app's SECRET_KEY, for counting something (a login, an address)
    without keeping it in clear; `purpose` ("login", "ratelimit") keeps one use's keys apart from another's."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, purpose.encode() + b":" + value.encode(), hashlib.sha256).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Whether two secrets are equal, in time that does not tell how much of them matched."""
    return hmac.compare_digest(given.encode(), expected.encode())


def last_use_due(last_used: datetime | None, now: datetime) -> bool:
    """Whether a credential's (an API key's, a provisioning token's) last use is due to be written: at most once
    a minute, so that a burst of requests writes it once and most reads stay reads."""
    return last_used is None or last_used < now - LAST_USED_EVERY


def last_use_stale(column: Any, now: datetime) -> ColumnElement[bool]:
    """last_use_due as the UPDATE's condition, so that requests racing past the check still write once."""
    return column.is_(None) | (column < now - LAST_USED_EVERY)  # type: ignore[no-any-return]
