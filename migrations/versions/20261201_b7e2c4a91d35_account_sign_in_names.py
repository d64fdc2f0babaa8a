"""account sign-in names

Every account gets a short, unique sign-in name (people sign in to an account: /a/<name>/login).
Existing accounts get one made from their name (accents dropped, anything but letters and digits
a hyphen), with a number added where two accounts would share it; owners can change it in the
account's settings.

Revision ID: b7e2c4a91d35
Revises: 6693cebbab54
Create Date: 2026-12-01 22:40:00
"""

from __future__ import annotations

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "b7e2c4a91d35"
down_revision = "6693cebbab54"
branch_labels = None
depends_on = None


def _slug(name: str) -> str:
    # A frozen copy of portal.accounts.sign_in_names.slug as it was when this migration was written.
    ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:30].strip("-")
    return stem if len(stem) >= 2 else "account"


def upgrade() -> None:
    # No batch mode: on SQLite it would rebuild `accounts` and lose its user-count trigger. SQLite adds a
    # NOT NULL column only with a default, so there the column gets '' until the backfill below.
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column(
        "accounts",
        sa.Column("sign_in_name", sa.String(length=40), nullable=not sqlite, server_default="" if sqlite else None),
    )

    accounts = sa.table(
        "accounts",
        sa.column("id"),
        sa.column("name"),
        sa.column("created_at"),
        sa.column("sign_in_name", sa.String(40)),
    )
    connection = op.get_bind()
    taken: set[str] = set()
    rows = connection.execute(sa.select(accounts.c.id, accounts.c.name).order_by(accounts.c.created_at)).all()
    for account_id, name in rows:
        stem = _slug(name)
        candidate, n = stem, 1
        while candidate in taken:
            n += 1
            candidate = f"{stem}-{n}"
        taken.add(candidate)
        connection.execute(accounts.update().where(accounts.c.id == account_id).values(sign_in_name=candidate))

    if not sqlite:
        op.alter_column("accounts", "sign_in_name", existing_type=sa.String(length=40), nullable=False)
    op.create_index("uq_accounts_sign_in_name", "accounts", ["sign_in_name"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_accounts_sign_in_name", table_name="accounts")
    op.execute("ALTER TABLE accounts DROP COLUMN sign_in_name")  # SQLite >= 3.35: no table rebuild
