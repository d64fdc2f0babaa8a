"""users: each order of the users list has an index that holds what its `from` offset reads

Issue 20: a bookmarked deep page (`?from=50000` without a cursor) finds its first row by an OFFSET over
the sort's index, then reads the page by keyset. The OFFSET tests every entry it passes for the owner
flag and the status filter, so the index has to hold them, or each entry walked costs a table row:
ix_users_account_id_created_at (account_id, created_at, id) made `?sort=created&from=50000` read 50,000
rows at 100k users. Each order's index gains is_owner and status after its sort key (the email order,
served by the (account_id, email) unique constraint's index, gets one of its own), and the three
narrower ones are dropped: their leading columns are the new ones', so every other read is served as
before. PostgreSQL then answers the OFFSET with an index-only scan, SQLite with a covering index.

On a large PostgreSQL table, create the new indexes first by hand with CREATE INDEX CONCURRENTLY under
the same names, and this migration finds them there (docs/operations.md, upgrades).

Revision ID: 4906e5f20d5c
Revises: e7a2c4b6d8f1
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

from alembic import op

revision = "4906e5f20d5c"
down_revision = "e7a2c4b6d8f1"
branch_labels = None
depends_on = None

LIST = ["is_owner", "status"]
NEW = {
    "ix_users_account_id_first_name_list": ["account_id", "first_name", "last_name", "id", "email", "login", *LIST],
    "ix_users_account_id_email_list": ["account_id", "email", "id", *LIST],
    "ix_users_account_id_created_at_list": ["account_id", "created_at", "id", *LIST],
    "ix_users_account_id_last_login_at_list": ["account_id", "last_login_at", "id", *LIST],
}
OLD = {
    "ix_users_account_id_first_name_search": [
        "account_id",
        "first_name",
        "last_name",
        "id",
        "email",
        "login",
        "is_owner",
    ],
    "ix_users_account_id_created_at": ["account_id", "created_at", "id"],
    "ix_users_account_id_last_login_at": ["account_id", "last_login_at", "id"],
}


def upgrade() -> None:
    for name, columns in NEW.items():
        op.create_index(name, "users", columns, unique=False, if_not_exists=True)
    for name in OLD:
        op.drop_index(name, table_name="users", if_exists=True)


def downgrade() -> None:
    for name, columns in OLD.items():
        op.create_index(name, "users", columns, unique=False, if_not_exists=True)
    for name in NEW:
        op.drop_index(name, table_name="users", if_exists=True)
