"""Single sign-on (OIDC, issue 21): an account's connection to its identity provider, the identities
linked through it, the one-time sign-in requests in flight, the account's recovery codes for when SSO
is required, and the mapping of the provider's groups to portal groups."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, created_at, utcnow, uuid_pk


class SsoConnection(Base):
    """One per account. Draft until "Test connection" passes with the current settings, then it may be
    activated; `require_sso` refuses password sign-in to everyone but the owner."""

    __tablename__ = "sso_connections"

    id: Mapped[uuid_pk]
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), unique=True)
    # What the button says: "Continue with <display_name>".
    display_name: Mapped[str] = mapped_column(String(60), default="")
    # The issuer or the discovery document's URL as the admin pasted it; `issuer` is the document's own `issuer`.
    discovery_url: Mapped[str] = mapped_column(String(500), default="")
    issuer: Mapped[str] = mapped_column(String(500), default="")
    client_id: Mapped[str] = mapped_column(String(255), default="")
    # The client secret, encrypted (Fernet, a key derived from SECRET_KEY); write-only: never rendered.
    client_secret_sealed: Mapped[str] = mapped_column(Text, default="")
    # Bumped by every change of the provider settings: a test counts only for the settings it was made with.
    settings_version: Mapped[int] = mapped_column(default=1)
    tested_version: Mapped[int | None]
    tested_at: Mapped[datetime | None]
    tested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    test_claims: Mapped[dict[str, object] | None] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(default=False)
    activated_at: Mapped[datetime | None]
    require_sso: Mapped[bool] = mapped_column(default=False)
    # Hours an SSO session lasts before it goes back to the provider (at most 24: daily at least).
    session_hours: Mapped[int] = mapped_column(default=12)
    # Ask the portal's own TOTP step after an SSO sign-in (off: the provider's MFA is the second factor).
    require_portal_totp: Mapped[bool] = mapped_column(default=False)
    # None: the default (on, unless SCIM is connected); else what the admin chose.
    jit_enabled: Mapped[bool | None]
    # Emails in these domains count as proven even without email_verified (the admin's word, with a warning).
    authoritative_domains: Mapped[str] = mapped_column(String(500), default="")
    groups_claim: Mapped[str] = mapped_column(String(100), default="groups")
    # Whether mapped groups may carry admin-level roles: only the owner turns it on.
    allow_admin_groups: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[created_at]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def tested(self) -> bool:
        """Whether "Test connection" passed with the settings as they are now."""
        return self.tested_version == self.settings_version


class SsoIdentity(Base):
    """A person of the account, known to the provider by `subject` (the `sub` claim): never by email."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("connection_id", "subject"),)

    id: Mapped[uuid_pk]
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sso_connections.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    subject: Mapped[str] = mapped_column(String(255))
    # The address the provider last sent, to tell a change at the provider.
    email: Mapped[str] = mapped_column(String(254), default="")
    # Roles this identity holds through the group mapping (taken away when the claim goes away).
    granted_role_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[created_at]
    last_sign_in_at: Mapped[datetime | None]


class SsoAuthRequest(Base):
    """One authorization request in flight: its state (hashed), nonce, PKCE verifier and purpose.

    Used once (a conditional UPDATE of used_at), within ten minutes, from the browser that started it.
    """

    __tablename__ = "sso_auth_requests"
    __table_args__ = (Index("ix_sso_auth_requests_created_at", "created_at"),)

    id: Mapped[uuid_pk]
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sso_connections.id", ondelete="CASCADE"), index=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(64))
    # The PKCE verifier, encrypted like the client secret.
    code_verifier_sealed: Mapped[str] = mapped_column(Text)
    # sign_in, test (an admin's "Test connection") or reauth (a signed-in person's fresh SSO sign-in).
    purpose: Mapped[str] = mapped_column(String(16), default="sign_in")
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    next_path: Mapped[str] = mapped_column(String(500), default="")
    # After the callback, when the person must re-authenticate to link an existing user (branch 3).
    link_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    link_claims: Mapped[dict[str, object] | None] = mapped_column(JSON)
    created_at: Mapped[created_at]
    used_at: Mapped[datetime | None]


class SsoRecoveryCode(Base):
    """One of the account's ten single-use codes, shown when SSO was required (argon2-hashed, as M3)."""

    __tablename__ = "sso_recovery_codes"

    id: Mapped[uuid_pk]
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None]
    used_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[created_at]


class SsoGroupMapping(Base):
    """A value of the provider's groups claim, and the portal group (and role) its holders get."""

    __tablename__ = "sso_group_mappings"
    __table_args__ = (UniqueConstraint("connection_id", "claim_value", "group_id"),)

    id: Mapped[uuid_pk]
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sso_connections.id", ondelete="CASCADE"), index=True)
    claim_value: Mapped[str] = mapped_column(String(255))
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    # Optionally a role its holders get too (never owner; an admin-level role only if the owner allows it).
    role_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    created_at: Mapped[created_at]
