"""An account: the tenant every user, role and group belongs to."""

from __future__ import annotations

from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, created_at, str100, uuid_pk


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[uuid_pk]
    name: Mapped[str100]
    require_mfa: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[created_at]

    def __repr__(self) -> str:
        return f"<Account {self.id} {self.name!r}>"
