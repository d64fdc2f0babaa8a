"""SCIM provisioning: external ids, provisioning tokens, the SCIM request log, longer logins

Logins may now be what identity providers send as userName (an email address or UPN, up to 254
characters: letters, digits, . _ - @ +). Every login valid before is valid still (the old rule is a
subset of the new one); only the column widens. On SQLite, which never enforces a VARCHAR's length,
only the declared type is rewritten, the way SQLite's documentation gives for schema changes that leave
the stored rows as they are (ALTER TABLE, "other kinds of table schema changes"): rebuilding `users`
would fire the ON DELETE CASCADE of every table that refers to it, and drop its counting triggers. `external_id` on users and groups is the
provider's id, unique per account when set. Invitations get `provisioned` (made over SCIM: no
inviter, no roles). Additive: the code before it runs unchanged on the new schema.

Revision ID: 5c1d2e3f4a5b
Revises: b04ba1174a69
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "5c1d2e3f4a5b"
down_revision = "b04ba1174a69"
branch_labels = None
depends_on = None


def _login_length(old: int, new: int) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f'ALTER TABLE users ALTER COLUMN login TYPE VARCHAR({new}) COLLATE "C"')
        return
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    op.execute("PRAGMA writable_schema=ON")
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = replace(sql, :old, :new) WHERE type = 'table' AND name = 'users'"),
        {"old": f"login VARCHAR({old}) NOT NULL", "new": f"login VARCHAR({new}) NOT NULL"},
    )
    op.execute(f"PRAGMA schema_version={int(version) + 1}")  # every connection reads the schema again
    op.execute("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    _login_length(64, 254)
    op.add_column("users", sa.Column("external_id", sa.String(length=255), nullable=True))
    op.create_index("uq_users_account_id_external_id", "users", ["account_id", "external_id"], unique=True)
    op.add_column("groups", sa.Column("external_id", sa.String(length=255), nullable=True))
    op.create_index("uq_groups_account_id_external_id", "groups", ["account_id", "external_id"], unique=True)
    op.add_column("invitations", sa.Column("provisioned", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "provisioning_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("expires_at", portal.db.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", portal.db.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", portal.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_provisioning_tokens_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_provisioning_tokens_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_provisioning_tokens_token_hash")),
    )
    op.create_index(
        "ix_provisioning_tokens_account_id_created_at",
        "provisioning_tokens",
        ["account_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_provisioning_tokens_created_by_id"), "provisioning_tokens", ["created_by_id"], unique=False
    )
    op.create_table(
        "scim_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_scim_requests_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_requests")),
    )
    op.create_index(
        "ix_scim_requests_account_id_created_at", "scim_requests", ["account_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_scim_requests_account_id_created_at", table_name="scim_requests")
    op.drop_table("scim_requests")
    op.drop_index(op.f("ix_provisioning_tokens_created_by_id"), table_name="provisioning_tokens")
    op.drop_index("ix_provisioning_tokens_account_id_created_at", table_name="provisioning_tokens")
    op.drop_table("provisioning_tokens")
    op.drop_column("invitations", "provisioned")
    op.drop_index("uq_groups_account_id_external_id", table_name="groups")
    op.drop_column("groups", "external_id")
    op.drop_index("uq_users_account_id_external_id", table_name="users")
    op.drop_column("users", "external_id")
    _login_length(254, 64)
