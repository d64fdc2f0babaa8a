"""The account's provisioning tokens (SCIM, issue 16) and the log of the requests made with them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, created_at, uuid_pk


class ProvisioningToken(Base):
    """A bearer token of the account's identity provider; only its SHA-256 is kept (as API keys, K1).

    Rotating gives the old token an expiry 24 hours ahead (both work until then); revoking ends it at once.
    """

    __tablename__ = "provisioning_tokens"
    __table_args__ = (Index("ix_provisioning_tokens_account_id_created_at", "account_id", "created_at"),)

    id: Mapped[uuid_pk]
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # The visible start of the token ("scim_Ab12…"), to tell tokens apart on the page.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    expires_at: Mapped[datetime | None]  # set when a newer token replaced it (the grace period's end)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[created_at]

    def is_usable(self, now: datetime) -> bool:
        """Not revoked, and not past the end of its grace period."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class ScimRequest(Base):
    """One SCIM request, for the provisioning page: method, path, status and time (no bodies, no tokens)."""

    __tablename__ = "scim_requests"
    __table_args__ = (Index("ix_scim_requests_account_id_created_at", "account_id", "created_at"),)

    id: Mapped[uuid_pk]
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(255))
    status: Mapped[int]
    created_at: Mapped[created_at]
