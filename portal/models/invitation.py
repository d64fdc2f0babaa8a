"""An invitation to join an account (seed 002): roles to grant and groups to join on acceptance.

The token is never stored, only its SHA-256. `expired` is not a stored status: a pending
invitation whose expiry has passed *is* expired, without any job having to mark it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, created_at, uuid_pk


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"  # derived: pending and past expires_at; never stored


class Invitation(Base):
    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted', 'revoked')", name="status"),
        # The list, newest first, and the same with a status filter (expired = pending + expires_at).
        Index("ix_invitations_account_id_created_at", "account_id", "created_at", "id"),
        Index("ix_invitations_account_id_status_created_at", "account_id", "status", "created_at", "id"),
    )

    id: Mapped[uuid_pk]
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # The pending user made at invitation; gone (NULL) once the invitation is revoked.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(String(90))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=InvitationStatus.PENDING.value)
    expires_at: Mapped[datetime]
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    sent_count: Mapped[int] = mapped_column(default=1)
    last_sent_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    # The latest email sent for it: its delivery state (queued, sent, failed and why).
    email_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("outbox_emails.id", ondelete="SET NULL"), index=True)
    # Made by the account's identity provider over SCIM: no inviter and no roles; the person only chooses
    # a password (their login and profile are the provider's).
    provisioned: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)  # the optimistic lock (portal.versioning)
    created_at: Mapped[created_at]

    __mapper_args__ = {"version_id_col": version}

    def effective_status(self, now: datetime) -> InvitationStatus:
        """The status a person sees: a pending invitation past its expiry is expired."""
        if self.status == InvitationStatus.PENDING and self.is_expired(now):
            return InvitationStatus.EXPIRED
        return InvitationStatus(self.status)

    def is_expired(self, now: datetime) -> bool:
        """Whether the expiry date has passed."""
        return self.expires_at <= now

    def is_usable(self, now: datetime) -> bool:
        """Whether its link may still be accepted."""
        return self.status == InvitationStatus.PENDING and not self.is_expired(now) and self.user_id is not None

    def __str__(self) -> str:
        return self.email

    def __repr__(self) -> str:
        return f"<Invitation {self.email!r} {self.status} of {self.account_id}>"


class InvitationRole(Base):
    """A role to grant when the invitation is accepted (re-checked against the inviter then)."""

    __tablename__ = "invitation_roles"

    invitation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True, index=True)
    # The end of the grant made on accepting (an import's access_expires); passed by then: not granted.
    expires_at: Mapped[datetime | None]


class InvitationGroup(Base):
    """A group the invited person joins (a pending membership until they accept)."""

    __tablename__ = "invitation_groups"

    invitation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )
