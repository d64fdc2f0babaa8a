"""User groups and their members (seed 003); a member's status follows its user's."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, created_at, str100, utcnow, uuid_pk


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("account_id", "name"),
        # Names are unique in an account without regard to case.
        Index("uq_groups_account_id_lower_name", "account_id", func.lower(text("name")), unique=True),
        # SCIM: the identity provider's id for the group, unique per account when set.
        Index("uq_groups_account_id_external_id", "account_id", "external_id", unique=True),
    )

    id: Mapped[uuid_pk]
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str100]
    description: Mapped[str] = mapped_column(String(255), default="")
    # The identity provider's id for the group (SCIM externalId), stored as given.
    external_id: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(default=1)  # the optimistic lock (portal.versioning)
    created_at: Mapped[created_at]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class GroupMember(Base):
    __tablename__ = "group_members"
    __table_args__ = (
        UniqueConstraint("group_id", "user_id"),
        # The members page: newest first, keyset-paged.
        Index("ix_group_members_group_id_created_at", "group_id", "created_at", "id"),
    )

    id: Mapped[uuid_pk]
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[created_at]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)  # time-bound membership
