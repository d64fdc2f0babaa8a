"""invitations

Revision ID: 915fc3e8bc2b
Revises: 1a160f4feb79
Create Date: 2026-11-29 08:17:29.383035
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "915fc3e8bc2b"
down_revision = "1a160f4feb79"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(length=90), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("invited_by_id", sa.Uuid(), nullable=True),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("last_sent_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("email_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'accepted', 'revoked')", name=op.f("ck_invitations_status")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_invitations_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["email_id"], ["outbox_emails.id"], name=op.f("fk_invitations_email_id_outbox_emails"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"], ["users.id"], name=op.f("fk_invitations_invited_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_invitations_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index("ix_invitations_account_id_created_at", ["account_id", "created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_invitations_account_id_status_created_at", ["account_id", "status", "created_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_invitations_email_id"), ["email_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invitations_invited_by_id"), ["invited_by_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invitations_user_id"), ["user_id"], unique=False)

    op.create_table(
        "invitation_groups",
        sa.Column("invitation_id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_invitation_groups_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_invitation_groups_invitation_id_invitations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("invitation_id", "group_id", name=op.f("pk_invitation_groups")),
    )
    with op.batch_alter_table("invitation_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitation_groups_group_id"), ["group_id"], unique=False)

    op.create_table(
        "invitation_roles",
        sa.Column("invitation_id", sa.Uuid(), nullable=False),
        sa.Column("role_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_invitation_roles_invitation_id_invitations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_invitation_roles_role_id_roles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("invitation_id", "role_id", name=op.f("pk_invitation_roles")),
    )
    with op.batch_alter_table("invitation_roles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitation_roles_role_id"), ["role_id"], unique=False)

    # The outbox page (newest first) and the daily invitation limit (the last 24 hours).
    with op.batch_alter_table("outbox_emails", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_emails_account_id_created_at", ["account_id", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_emails", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_emails_account_id_created_at")

    with op.batch_alter_table("invitation_roles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_roles_role_id"))

    op.drop_table("invitation_roles")
    with op.batch_alter_table("invitation_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_groups_group_id"))

    op.drop_table("invitation_groups")
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitations_user_id"))
        batch_op.drop_index(batch_op.f("ix_invitations_invited_by_id"))
        batch_op.drop_index(batch_op.f("ix_invitations_email_id"))
        batch_op.drop_index("ix_invitations_account_id_status_created_at")
        batch_op.drop_index("ix_invitations_account_id_created_at")

    op.drop_table("invitations")
