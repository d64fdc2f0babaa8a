"""invitation role expiry

Issue 18: an imported person's roles may be time-bound like their memberships: the invitation keeps the
end of each role it grants on accepting. Additive (nullable): the code before it runs unchanged.

Revision ID: e7a2c4b6d8f1
Revises: 7f3a9c2e5b1d
Create Date: 2026-12-05 04:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "e7a2c4b6d8f1"
down_revision = "7f3a9c2e5b1d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invitation_roles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", portal.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invitation_roles", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
