"""Account sign-in names: the short name people sign in to, as AWS IAM account aliases or Keycloak realms.

A login or an email names a person only within an account, so sign-in asks for the account first.
The name is lower-case letters, digits and hyphens (2 to 40, starting and ending with a letter or
digit), unique across the deployment, suggested from the account's name at sign-up.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from typing import Any

from sqlalchemy import select
from wtforms import Field, ValidationError
from wtforms.validators import Length, Regexp

from portal import db
from portal.models import Account

PATTERN = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$"
MESSAGE = "Use lower-case letters, digits and hyphens, starting and ending with a letter or digit."
MAX_LENGTH = 40
_NOT_ALLOWED = re.compile(r"[^a-z0-9]+")


def normalise(name: str) -> str:
    """A sign-in name as typed, as it is compared: trimmed and lower-cased."""
    return name.strip().lower()


def is_valid(name: str) -> bool:
    """Whether the (normalised) name has the form of a sign-in name."""
    return 2 <= len(name) <= MAX_LENGTH and re.match(PATTERN, name) is not None


def slug(account_name: str) -> str:
    """The account name as a sign-in name: accents dropped, the rest a hyphen ("Café Zürich" -> "cafe-zurich")."""
    ascii_name = unicodedata.normalize("NFKD", account_name).encode("ascii", "ignore").decode()
    stem = _NOT_ALLOWED.sub("-", ascii_name.lower()).strip("-")[:30].strip("-")
    return stem if len(stem) >= 2 else "account"


def is_taken(name: str, except_account: uuid.UUID | None = None) -> bool:
    """Whether another account already has this sign-in name."""
    statement = select(Account.id).where(Account.sign_in_name == normalise(name))
    if except_account is not None:
        statement = statement.where(Account.id != except_account)
    return db.session.scalar(statement) is not None


def suggest(account_name: str) -> str:
    """A free sign-in name for an account of this name: its slug, else the slug and a number."""
    stem = slug(account_name)
    for candidate in [stem, *(f"{stem}-{n}" for n in range(2, 10))]:
        if not is_taken(candidate):
            return candidate
    return f"{stem}-{secrets.token_hex(3)}"


def account_named(name: str) -> Account | None:
    """The account with this sign-in name, if any."""
    name = normalise(name)
    if not is_valid(name):
        return None
    return db.session.scalar(select(Account).where(Account.sign_in_name == name))


def rules() -> list[Any]:
    """WTForms validators for a sign-in name field (uniqueness is checked by the form that knows the account)."""
    return [Length(min=2, max=MAX_LENGTH), Regexp(PATTERN, message=MESSAGE)]


def unique(except_account: uuid.UUID | None = None) -> Any:
    """A WTForms validator: the name is not another account's."""

    def check(_form: Any, field: Field) -> None:
        if field.data and is_taken(field.data, except_account):
            raise ValidationError("Another account already uses this sign-in name.")

    return check
