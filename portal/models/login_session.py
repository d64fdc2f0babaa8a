"""A signed-in browser session, recorded server-side so it can be listed and ended."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, created_at, utcnow, uuid_pk


class LoginSession(Base):
    __tablename__ = "login_sessions"

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the random token kept in the cookie; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active_role_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[created_at]
    # When the person last proved who they are (sign-in or re-authentication): sensitive actions need it recent.
    authenticated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # How the person signed in: password, sso or break_glass (the owner's password sign-in while SSO is required).
    auth_method: Mapped[str] = mapped_column(String(16), default="password")
    # An end of its own, before the absolute timeout: an SSO session goes back to the provider by then.
    expires_at: Mapped[datetime | None]
    # The permissions this session holds, cached for the sign-in check (portal.auth.login_sessions):
    # comma-separated, NULL when not known; good until permissions_until (the first grant to expire).
    # Database triggers empty it and bump the stamp whenever the person's grants, one of their roles,
    # or this session's active roles change (migration 7f3a9c2e1b64), so it is never stale.
    permissions: Mapped[str | None] = mapped_column(Text)
    permissions_until: Mapped[datetime | None]
    permissions_stamp: Mapped[int] = mapped_column(default=0, server_default="0")

    def is_expired(self, now: datetime, idle: timedelta, absolute: timedelta) -> bool:
        """Whether the idle or the absolute timeout has passed."""
        return (
            now - self.last_seen_at > idle
            or now - self.created_at > absolute
            or (self.expires_at is not None and now >= self.expires_at)
        )
