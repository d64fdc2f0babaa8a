"""A requested change of a person's email, pending until the new address confirms it (SECURITY E1).

Only the SHA-256 of the link's token is kept. A change is open until it is confirmed, cancelled
(by the person, an admin who may act on them, or a newer request), or past expires_at; at most
one change per user is open at a time.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, created_at, uuid_pk


class EmailChange(Base):
    __tablename__ = "email_changes"
    __table_args__ = (
        # One open change per user: a newer request cancels the older one in the same transaction.
        Index(
            "uq_email_changes_one_open",
            "user_id",
            unique=True,
            sqlite_where=text("confirmed_at IS NULL AND cancelled_at IS NULL"),
            postgresql_where=text("confirmed_at IS NULL AND cancelled_at IS NULL"),
        ),
    )

    id: Mapped[uuid_pk]
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    new_email: Mapped[str] = mapped_column(String(90))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Who asked: the person, or an admin (NULL once that admin is deleted).
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    expires_at: Mapped[datetime]
    # Wrong passwords typed on the confirm page; at MAX_FAILURES the change is cancelled.
    failures: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[created_at]
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    def is_open(self, now: datetime) -> bool:
        """Neither confirmed nor cancelled, and not expired: its link may still be used."""
        return self.confirmed_at is None and self.cancelled_at is None and self.expires_at > now

    def __repr__(self) -> str:
        return f"<EmailChange of {self.user_id} to {self.new_email!r}>"
