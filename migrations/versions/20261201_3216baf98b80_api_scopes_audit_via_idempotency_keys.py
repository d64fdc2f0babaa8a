"""api: scoped keys, audit events marked with how they came in, idempotency keys (issue 15)

- api_keys.scopes: the permissions a key was made with. Keys made before scopes existed get every
  permission of the catalogue: a key acts with scopes ∩ its owner's current default-role permissions,
  so "everything" never lets an old key do more than its owner may, and no script that works today
  stops working. (Freezing what each owner held today would be no safer — the owner's roles bound the
  key anyway — and would silently narrow keys whose owners gain a role later.)
- audit_events.via (web|api|scim|cli), api_key_id and api_key_name: which surface and which key made
  the change. Existing events came from the pages or the command line; they are marked web.
  api_key_id is a record, not a foreign key: adding one would make SQLite copy the whole table.
- api_idempotency_keys: the first answer to a POST with an Idempotency-Key, per API key, for 24 hours.

Revision ID: 3216baf98b80
Revises: c41d8e2f7a90
Create Date: 2026-12-01 22:51:29.712929
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "3216baf98b80"
down_revision = "c41d8e2f7a90"
branch_labels = None
depends_on = None

ALL_PERMISSIONS = [
    "users:read",
    "users:write",
    "users:password",
    "users:mfa_reset",
    "invitations:read",
    "invitations:write",
    "roles:read",
    "roles:write",
    "groups:read",
    "groups:write",
    "audit:read",
    "account:manage",
]


def upgrade() -> None:
    op.create_table(
        "api_idempotency_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_idempotency_keys_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency_keys")),
        sa.UniqueConstraint("api_key_id", "key", name=op.f("uq_api_idempotency_keys_api_key_id_key")),
    )
    op.create_index("ix_api_idempotency_keys_created_at", "api_idempotency_keys", ["created_at"], unique=False)

    op.add_column("api_keys", sa.Column("scopes", sa.JSON(), nullable=False, server_default="[]"))
    api_keys = sa.table("api_keys", sa.column("scopes", sa.JSON()))
    op.execute(api_keys.update().values(scopes=ALL_PERMISSIONS))

    op.add_column("audit_events", sa.Column("via", sa.String(length=8), nullable=False, server_default="web"))
    op.add_column("audit_events", sa.Column("api_key_id", sa.Uuid(), nullable=True))
    op.add_column("audit_events", sa.Column("api_key_name", sa.String(length=100), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("api_key_name")
        batch_op.drop_column("api_key_id")
        batch_op.drop_column("via")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("scopes")
    op.drop_index("ix_api_idempotency_keys_created_at", table_name="api_idempotency_keys")
    op.drop_table("api_idempotency_keys")
