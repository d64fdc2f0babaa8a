"""single sign-on (OIDC, issue 21): connections, identities, auth requests, recovery codes, group mappings

Additive (an "expand" step): new tables, and two columns of login_sessions (how the person signed in,
and an end of the session's own), the first with a server default so that existing rows need no backfill.

Revision ID: b04ba1174a69
Revises: 3216baf98b80
Create Date: 2026-12-02 01:20:55.618395
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "b04ba1174a69"
down_revision = "3216baf98b80"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sso_connections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=60), nullable=False),
        sa.Column("discovery_url", sa.String(length=500), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret_sealed", sa.Text(), nullable=False),
        sa.Column("settings_version", sa.Integer(), nullable=False),
        sa.Column("tested_version", sa.Integer(), nullable=True),
        sa.Column("tested_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tested_by_id", sa.Uuid(), nullable=True),
        sa.Column("test_claims", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("activated_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("require_sso", sa.Boolean(), nullable=False),
        sa.Column("session_hours", sa.Integer(), nullable=False),
        sa.Column("require_portal_totp", sa.Boolean(), nullable=False),
        sa.Column("jit_enabled", sa.Boolean(), nullable=True),
        sa.Column("authoritative_domains", sa.String(length=500), nullable=False),
        sa.Column("groups_claim", sa.String(length=100), nullable=False),
        sa.Column("allow_admin_groups", sa.Boolean(), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_sso_connections_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tested_by_id"], ["users.id"], name=op.f("fk_sso_connections_tested_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_connections")),
        sa.UniqueConstraint("account_id", name=op.f("uq_sso_connections_account_id")),
    )
    op.create_table(
        "sso_recovery_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=255), nullable=False),
        sa.Column("used_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("used_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_sso_recovery_codes_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["used_by_id"], ["users.id"], name=op.f("fk_sso_recovery_codes_used_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_recovery_codes")),
    )
    with op.batch_alter_table("sso_recovery_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_recovery_codes_account_id"), ["account_id"], unique=False)

    op.create_table(
        "sso_auth_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_verifier_sealed", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("next_path", sa.String(length=500), nullable=False),
        sa.Column("link_user_id", sa.Uuid(), nullable=True),
        sa.Column("link_claims", sa.JSON(), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sso_connections.id"],
            name=op.f("fk_sso_auth_requests_connection_id_sso_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_user_id"], ["users.id"], name=op.f("fk_sso_auth_requests_link_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sso_auth_requests_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_auth_requests")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_sso_auth_requests_state_hash")),
    )
    with op.batch_alter_table("sso_auth_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_auth_requests_connection_id"), ["connection_id"], unique=False)
        batch_op.create_index("ix_sso_auth_requests_created_at", ["created_at"], unique=False)

    op.create_table(
        "sso_group_mappings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("claim_value", sa.String(length=255), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("role_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sso_connections.id"],
            name=op.f("fk_sso_group_mappings_connection_id_sso_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_sso_group_mappings_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_sso_group_mappings_role_id_roles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_group_mappings")),
        sa.UniqueConstraint(
            "connection_id",
            "claim_value",
            "group_id",
            name=op.f("uq_sso_group_mappings_connection_id_claim_value_group_id"),
        ),
    )
    with op.batch_alter_table("sso_group_mappings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_group_mappings_connection_id"), ["connection_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sso_group_mappings_group_id"), ["group_id"], unique=False)

    op.create_table(
        "sso_identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("granted_role_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sso_connections.id"],
            name=op.f("fk_sso_identities_connection_id_sso_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sso_identities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_identities")),
        sa.UniqueConstraint("connection_id", "subject", name=op.f("uq_sso_identities_connection_id_subject")),
        sa.UniqueConstraint("user_id", name=op.f("uq_sso_identities_user_id")),
    )
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auth_method", sa.String(length=16), nullable=False, server_default="password"))
        batch_op.add_column(sa.Column("expires_at", portal.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("auth_method")

    op.drop_table("sso_identities")
    with op.batch_alter_table("sso_group_mappings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_group_mappings_group_id"))
        batch_op.drop_index(batch_op.f("ix_sso_group_mappings_connection_id"))

    op.drop_table("sso_group_mappings")
    with op.batch_alter_table("sso_auth_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_sso_auth_requests_created_at")
        batch_op.drop_index(batch_op.f("ix_sso_auth_requests_connection_id"))

    op.drop_table("sso_auth_requests")
    with op.batch_alter_table("sso_recovery_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_recovery_codes_account_id"))

    op.drop_table("sso_recovery_codes")
    op.drop_table("sso_connections")
