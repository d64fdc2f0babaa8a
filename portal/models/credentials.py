"""A person's other credentials: MFA recovery codes, API keys, password-reset tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
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
    """A key that acts with its owner's permissions; only its SHA-256 is kept (SECURITY K1)."""

    __tablename__ = "api_keys"

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The visible start of the key ("ap_Xy12…"), to tell keys apart in lists and logs.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
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
