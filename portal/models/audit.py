"""An audit event: who changed what, on which object, when, from where (issue 8)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, created_at, uuid_pk


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        # The audit page reads newest first, by (created_at, id), within an account, alone or narrowed
        # by one of these columns (an equality): each filter is an index seek, and so is each page.
        Index("ix_audit_events_account_id_created_at_id", "account_id", "created_at", "id"),
        Index("ix_audit_events_account_id_action_created_at", "account_id", "action", "created_at", "id"),
        Index("ix_audit_events_account_id_actor_label_created_at", "account_id", "actor_label", "created_at", "id"),
        Index("ix_audit_events_account_id_target_id_created_at", "account_id", "target_id", "created_at", "id"),
        Index("ix_audit_events_account_id_target_label_created_at", "account_id", "target_label", "created_at", "id"),
        # A user's own recent actions (the user page); also serves the foreign key's ON DELETE SET NULL.
        Index("ix_audit_events_actor_id_created_at", "actor_id", "created_at", "id"),
        # The retention sweep: events older than AUDIT_RETENTION_DAYS, across accounts (portal/retention.py).
        Index("ix_audit_events_created_at", "created_at"),
    )

    id: Mapped[uuid_pk]
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # The actor is kept by id and by label: the label survives the actor's deletion.
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    target_label: Mapped[str] = mapped_column(String(200), default="")
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    correlation_id: Mapped[str] = mapped_column(String(64), default="")
    # How the change came in: web (a page), api (an API key), scim, cli (commands and workers).
    via: Mapped[str] = mapped_column(String(8), default="web")
    # The API key that made it, by id and by name: a record, not a reference (no foreign key), so that the
    # event keeps both after the key and its owner are gone.
    api_key_id: Mapped[uuid.UUID | None]
    api_key_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[created_at]

    def __repr__(self) -> str:
        return f"<AuditEvent {self.action} {self.target_type}:{self.target_id}>"
