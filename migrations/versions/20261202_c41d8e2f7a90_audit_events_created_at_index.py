"""audit events by time, for the retention sweep

The worker deletes audit events older than AUDIT_RETENTION_DAYS a batch at a time (issue 19);
without an index on created_at alone each batch would read the whole table. Additive (an
"expand" step): the code before it runs unchanged on the new schema. On a large PostgreSQL
table, create it first by hand with CREATE INDEX CONCURRENTLY under the same name, and this
migration finds it there (docs/operations.md, upgrades).

Revision ID: c41d8e2f7a90
Revises: 467c289d28a3
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "c41d8e2f7a90"
down_revision = "467c289d28a3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_created_at", "audit_events", ["created_at"], unique=False, if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_audit_events_created_at", table_name="audit_events")
