"""A person's other credentials: MFA recovery codes, API keys, password-reset tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, created_at, uuid_pk


class RecoveryCode(Base):
    """One of the ten single-use MFA recovery codes, stored as an argon2 hash (SECURITY M3)."""

    __tablename__ = "recovery_codes"

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None]
    created_at: Mapped[created_at]


class ApiKey(Base):
    """A key that acts with its scopes ∩ its owner's default-role permissions; only its SHA-256 is kept (K1)."""

    __tablename__ = "api_keys"

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The visible start of the key ("ap_Xy12…"), to tell keys apart in lists and logs.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The permissions chosen when the key was made (never more than the maker held then).
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[created_at]

    def is_usable(self, now: datetime) -> bool:
        """Not revoked and not expired."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class PasswordResetToken(Base):
    """A single-use link to choose a new password, valid for an hour (SECURITY R1)."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[created_at]


class OwnershipTransfer(Base):
    """The owner's proposal to hand the account to an account-admin, who must accept it."""

    __tablename__ = "ownership_transfers"

    id: Mapped[uuid_pk]
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    from_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    to_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, accepted, cancelled
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    created_at: Mapped[created_at]


class IdempotencyKey(Base):
    """The first answer to a POST sent with an Idempotency-Key, per API key, replayed for 24 hours.

    The row is inserted before the change it guards, in the same transaction: two requests with one
    key at once meet on the unique (api_key_id, key), and the second replays the first's answer.
    """

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (
        UniqueConstraint("api_key_id", "key"),
        Index("ix_api_idempotency_keys_created_at", "created_at"),  # expired rows are deleted by range
    )

    id: Mapped[uuid_pk]
    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(default=0)
    body: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[created_at]
