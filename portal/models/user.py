"""A person in an account, with the full profile of seed 001 and a status of seed 002."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, created_at, searchable, str100, utcnow, uuid_pk

if TYPE_CHECKING:
    from portal.models.account import Account
    from portal.models.role import RoleAssignment


class UserStatus(StrEnum):
    PENDING = "pending"  # invited, has not accepted yet
    ACTIVE = "active"
    DISABLED = "disabled"


def full_name_of(first_name: str, last_name: str, email: str, status: str, login: str) -> str:
    """A person's name as the portal shows it (User.full_name; the users list's plain rows)."""
    name = f"{first_name} {last_name}".strip()
    return name or (email if status == UserStatus.PENDING else login)


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("account_id", "login"),
        UniqueConstraint("account_id", "email"),
        CheckConstraint("status IN ('pending', 'active', 'disabled')", name="status"),
        # At most one owner per account.
        Index(
            "uq_users_one_owner",
            "account_id",
            unique=True,
            # "= 1" as SQLAlchemy writes the condition on SQLite, so that queries can use the index.
            sqlite_where=text("is_owner = 1"),
            postgresql_where=text("is_owner"),
        ),
        # Sign-in looks a login or email up across accounts.
        Index("ix_users_email", "email"),
        Index("ix_users_login", "login"),
        # The users list, one index per sort order (id breaks ties), each holding the owner flag and the status
        # after its key, so that `from` alone is an index-only OFFSET (migration 4906e5f20d5c).
        Index("ix_users_account_id_created_at_list", "account_id", "created_at", "id", "is_owner", "status"),
        Index("ix_users_account_id_email_list", "account_id", "email", "id", "is_owner", "status"),
        # The name order also holds what a search reads, so that a broad search walks it index-only.
        Index(
            "ix_users_account_id_first_name_list",
            "account_id",
            "first_name",
            "last_name",
            "id",
            "email",
            "login",
            "is_owner",
            "status",
        ),
        Index("ix_users_account_id_last_login_at_list", "account_id", "last_login_at", "id", "is_owner", "status"),
        # Case-insensitive prefix search on names (emails and logins are stored lower-cased).
        Index("ix_users_account_id_lower_first_name", "account_id", func.lower(text("first_name"))),
        Index("ix_users_account_id_lower_last_name", "account_id", func.lower(text("last_name"))),
        # SCIM: the identity provider's id for the person, unique per account when set (NULLs never clash).
        Index("uq_users_account_id_external_id", "account_id", "external_id", unique=True),
    )

    id: Mapped[uuid_pk]
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # Stored lower-cased: logins and emails are unique per account without regard to case.
    login: Mapped[str] = mapped_column(searchable(254))
    email: Mapped[str] = mapped_column(searchable(90))
    first_name: Mapped[str] = mapped_column(searchable(100), default="")
    last_name: Mapped[str] = mapped_column(searchable(100), default="")
    company_name: Mapped[str100] = mapped_column(default="")
    address: Mapped[str] = mapped_column(String(255), default="")
    postal_code: Mapped[str] = mapped_column(String(40), default="")
    city: Mapped[str100] = mapped_column(default="")
    state: Mapped[str100] = mapped_column(default="")
    country: Mapped[str100] = mapped_column(default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE.value)
    is_owner: Mapped[bool] = mapped_column(default=False)
    is_sso: Mapped[bool] = mapped_column(default=False)
    # The identity provider's id for the person (SCIM externalId), stored as given.
    external_id: Mapped[str | None] = mapped_column(String(255))
    mfa_enabled: Mapped[bool] = mapped_column(default=False)
    # The TOTP secret, encrypted with a key derived from SECRET_KEY (portal.auth.mfa); never shown again.
    mfa_secret: Mapped[str | None] = mapped_column(String(255))
    # The last TOTP time step accepted: a code is never accepted twice (SECURITY M1).
    mfa_last_counter: Mapped[int | None]
    version: Mapped[int] = mapped_column(default=1)  # the optimistic lock (portal.versioning)
    created_at: Mapped[created_at]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None]

    account: Mapped[Account] = relationship(lazy="raise")
    role_assignments: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def full_name(self) -> str:
        """First and last name; when both are empty, an invitee's email (their login is a placeholder
        until they accept), anyone else's login."""
        return full_name_of(self.first_name, self.last_name, self.email, self.status, self.login)

    @property
    def is_active_user(self) -> bool:
        """Whether the person may sign in."""
        return self.status == UserStatus.ACTIVE

    @property
    def is_active(self) -> bool:  # Flask-Login: a disabled or pending user is not signed in
        return self.is_active_user

    def get_id(self) -> str | None:
        """Flask-Login keeps the server-side session's token in the cookie, not the user id."""
        token: str | None = self.__dict__.get("session_token")
        return token

    def __repr__(self) -> str:
        return f"<User {self.login!r} of {self.account_id}>"
