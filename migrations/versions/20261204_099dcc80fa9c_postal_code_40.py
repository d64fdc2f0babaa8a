"""Postal codes up to 40 characters (was 20)

What Active Directory keeps for postalCode (the Postal-Code attribute's Range-Upper is 40), and so what
Entra ID can send over SCIM: a provisioned user is never refused for the length of their postal code. Every
value valid before is valid still; only the column widens. On SQLite, which never enforces a VARCHAR's
length, only the declared type is rewritten, as in 5c1d2e3f4a5b (rebuilding `users` would fire the
ON DELETE CASCADE of every table that refers to it).

Revision ID: 099dcc80fa9c
Revises: 5c1d2e3f4a5b
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "099dcc80fa9c"
down_revision = "5c1d2e3f4a5b"
branch_labels = None
depends_on = None


def _postal_code_length(old: int, new: int) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE users ALTER COLUMN postal_code TYPE VARCHAR({new})")
        return
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    op.execute("PRAGMA writable_schema=ON")
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = replace(sql, :old, :new) WHERE type = 'table' AND name = 'users'"),
        {"old": f"postal_code VARCHAR({old}) NOT NULL", "new": f"postal_code VARCHAR({new}) NOT NULL"},
    )
    op.execute(f"PRAGMA schema_version={int(version) + 1}")  # every connection reads the schema again
    op.execute("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    _postal_code_length(20, 40)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # longer codes are cut to fit
        op.execute("UPDATE users SET postal_code = left(postal_code, 20) WHERE length(postal_code) > 20")
    else:
        op.execute("UPDATE users SET postal_code = substr(postal_code, 1, 20) WHERE length(postal_code) > 20")
    _postal_code_length(40, 20)
