"""Roles of an account and who holds them; a held role is *default* (active at sign-in) or not."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ColumnElement, ForeignKey, String, UniqueConstraint, or_
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, created_at, utcnow, uuid_pk

if TYPE_CHECKING:
    from portal.models.user import User


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[uuid_pk]
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(255), default="")
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_builtin: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)  # the optimistic lock (portal.versioning)
    created_at: Mapped[created_at]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<Role {self.name!r} of {self.account_id}>"


def in_force(
    expires_at: ColumnElement[datetime | None] | Any, now: datetime | ColumnElement[Any]
) -> ColumnElement[bool]:
    """A grant (role or membership) counts while it has no expiry or its expiry is still ahead: the one
    condition every permission check and list applies, so an expired grant stops counting at once,
    before the worker's sweep deletes it."""
    return or_(expires_at.is_(None), expires_at > now)


class RoleAssignment(Base):
    __tablename__ = "role_assignments"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True, index=True)
    is_default: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[created_at]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)  # time-bound access: gone once passed

    user: Mapped[User] = relationship(back_populates="role_assignments", lazy="raise")
    role: Mapped[Role] = relationship(lazy="joined")
