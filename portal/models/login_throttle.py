"""Failed sign-ins in a row for one login identifier, and the wait they impose (issue 8, SECURITY L4)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base


class LoginThrottle(Base):
    __tablename__ = "login_throttles"

    # HMAC-SHA256 of the normalised identifier (a login, an email, or a user id for the MFA step):
    # whatever was typed into the login field, a password by mistake included, is never stored.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    # Indexed so that stale rows (no failure for the reset period) are pruned by a range delete.
    last_failure_at: Mapped[datetime] = mapped_column(index=True)
    locked_until: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<LoginThrottle {self.key[:8]} failures={self.failures}>"
