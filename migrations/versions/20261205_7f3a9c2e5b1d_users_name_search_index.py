"""users: the name-order index holds what a search reads (email, login, is_owner), replacing the narrower one

A broad search (`?q=` matching more than a few thousand users) walks the users list's name order
and keeps the rows that match. With ix_users_account_id_first_name (account_id, first_name,
last_name, id) every entry walked cost a table row to test the email, login and owner flag: ~1,900
row reads for a page of `user12` at a million users. ix_users_account_id_first_name_search adds
those columns after the sort key, so the walk is index-only (PostgreSQL: an index-only scan; SQLite
reads a table row only for the entries that match). Its leading columns are the old index's, so the
unfiltered list is served as before and the old index is dropped.

On a large PostgreSQL table, create it first by hand with CREATE INDEX CONCURRENTLY under the same
name, and this migration finds it there (docs/operations.md, upgrades).

Revision ID: 7f3a9c2e5b1d
Revises: 7f3a9c2e1b64
Create Date: 2026-12-05 04:30:00
"""

from __future__ import annotations

from alembic import op

revision = "7f3a9c2e5b1d"
down_revision = "7f3a9c2e1b64"
branch_labels = None
depends_on = None

COLUMNS = ["account_id", "first_name", "last_name", "id", "email", "login", "is_owner"]


def upgrade() -> None:
    op.create_index("ix_users_account_id_first_name_search", "users", COLUMNS, unique=False, if_not_exists=True)
    op.drop_index("ix_users_account_id_first_name", table_name="users", if_exists=True)


def downgrade() -> None:
    op.create_index(
        "ix_users_account_id_first_name",
        "users",
        ["account_id", "first_name", "last_name", "id"],
        unique=False,
        if_not_exists=True,
    )
    op.drop_index("ix_users_account_id_first_name_search", table_name="users", if_exists=True)
