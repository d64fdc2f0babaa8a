"""An account: the tenant every user, role and group belongs to."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, created_at, str100, uuid_pk


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (Index("uq_accounts_sign_in_name", "sign_in_name", unique=True),)

    id: Mapped[uuid_pk]
    name: Mapped[str100]
    # The short name people sign in to (/a/<sign_in_name>/login): letters, digits and hyphens,
    # stored lower-cased, unique across the deployment (portal.accounts.sign_in_names).
    sign_in_name: Mapped[str] = mapped_column(String(40))
    require_mfa: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[created_at]

    def __repr__(self) -> str:
        return f"<Account {self.id} {self.name!r}>"


class AccountUserCount(Base):
    """How many users (the owner aside) an account has in each status.

    Kept by database triggers (see the "users list indexes" migration), so that whichever code
    adds, removes or changes a user, the users page shows its row count without counting rows.
    """

    __tablename__ = "account_user_counts"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(default=0)
