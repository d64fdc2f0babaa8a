"""role and group versions

Issue 14: one optimistic lock. Roles and groups get the integer `version` users and invitations have
(portal.versioning); existing rows start at 1. Additive: the code before it runs unchanged.

Revision ID: 7e3a9c1d5b20
Revises: d5e1a7c3b9f2
Create Date: 2026-12-05 04:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "7e3a9c1d5b20"
down_revision = "d5e1a7c3b9f2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The server default fills the existing rows (both databases add a NOT NULL column with a default in place).
    with op.batch_alter_table("roles") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("groups") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("groups") as batch_op:
        batch_op.drop_column("version")
    with op.batch_alter_table("roles") as batch_op:
        batch_op.drop_column("version")
