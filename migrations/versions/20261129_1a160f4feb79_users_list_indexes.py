"""users list: indexes for keyset paging and prefix search, per-status user counts kept by triggers

Revision ID: 1a160f4feb79
Revises: a530a8b1e76b
Create Date: 2026-11-29 08:14:08.520951
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "1a160f4feb79"
down_revision = "a530a8b1e76b"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    """CREATE TRIGGER trg_accounts_user_counts AFTER INSERT ON accounts BEGIN
         INSERT INTO account_user_counts (account_id, status, n)
         VALUES (NEW.id, 'pending', 0), (NEW.id, 'active', 0), (NEW.id, 'disabled', 0);
       END""",
    """CREATE TRIGGER trg_users_count_insert AFTER INSERT ON users WHEN NOT NEW.is_owner BEGIN
         UPDATE account_user_counts SET n = n + 1 WHERE account_id = NEW.account_id AND status = NEW.status;
       END""",
    """CREATE TRIGGER trg_users_count_delete AFTER DELETE ON users WHEN NOT OLD.is_owner BEGIN
         UPDATE account_user_counts SET n = n - 1 WHERE account_id = OLD.account_id AND status = OLD.status;
       END""",
    """CREATE TRIGGER trg_users_count_update AFTER UPDATE OF status, is_owner ON users BEGIN
         UPDATE account_user_counts SET n = n - 1
           WHERE account_id = OLD.account_id AND status = OLD.status AND NOT OLD.is_owner;
         UPDATE account_user_counts SET n = n + 1
           WHERE account_id = NEW.account_id AND status = NEW.status AND NOT NEW.is_owner;
       END""",
]

# PostgreSQL: statement-level triggers over transition tables, so that a bulk insert of many
# users updates each counter row once per statement, not once per row (per-row updates of one
# row in one transaction grow a version chain and get slower with every row).
POSTGRESQL_TRIGGERS = [
    """CREATE FUNCTION account_user_counts_on_account() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO account_user_counts (account_id, status, n)
         VALUES (NEW.id, 'pending', 0), (NEW.id, 'active', 0), (NEW.id, 'disabled', 0);
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER trg_accounts_user_counts AFTER INSERT ON accounts
       FOR EACH ROW EXECUTE FUNCTION account_user_counts_on_account()""",
    """CREATE FUNCTION account_user_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'INSERT' THEN
           UPDATE account_user_counts c SET n = c.n + d.k
           FROM (SELECT account_id, status, count(*) AS k FROM new_rows WHERE NOT is_owner
                 GROUP BY account_id, status) d
           WHERE c.account_id = d.account_id AND c.status = d.status;
         ELSIF TG_OP = 'DELETE' THEN
           UPDATE account_user_counts c SET n = c.n - d.k
           FROM (SELECT account_id, status, count(*) AS k FROM old_rows WHERE NOT is_owner
                 GROUP BY account_id, status) d
           WHERE c.account_id = d.account_id AND c.status = d.status;
         ELSE
           UPDATE account_user_counts c SET n = c.n + d.k
           FROM (SELECT account_id, status, sum(k) AS k FROM (
                   SELECT account_id, status, -1 AS k FROM old_rows WHERE NOT is_owner
                   UNION ALL
                   SELECT account_id, status, 1 AS k FROM new_rows WHERE NOT is_owner) moves
                 GROUP BY account_id, status HAVING sum(k) <> 0) d
           WHERE c.account_id = d.account_id AND c.status = d.status;
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER trg_users_count_insert AFTER INSERT ON users REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION account_user_counts_apply()""",
    """CREATE TRIGGER trg_users_count_delete AFTER DELETE ON users REFERENCING OLD TABLE AS old_rows
       FOR EACH STATEMENT EXECUTE FUNCTION account_user_counts_apply()""",
    """CREATE TRIGGER trg_users_count_update AFTER UPDATE ON users
       REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION account_user_counts_apply()""",
]


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_account_id_created_at", ["account_id", "created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_users_account_id_first_name", ["account_id", "first_name", "last_name", "id"], unique=False
        )
        batch_op.create_index("ix_users_account_id_last_login_at", ["account_id", "last_login_at", "id"], unique=False)
    op.create_index("ix_users_account_id_lower_first_name", "users", ["account_id", sa.text("lower(first_name)")])
    op.create_index("ix_users_account_id_lower_last_name", "users", ["account_id", sa.text("lower(last_name)")])

    op.create_table(
        "account_user_counts",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_user_counts_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "status", name=op.f("pk_account_user_counts")),
    )
    triggers = POSTGRESQL_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)
    # Accounts and users that exist already get their counts now.
    op.execute(
        """INSERT INTO account_user_counts (account_id, status, n)
           SELECT a.id, s.status, (SELECT count(*) FROM users u
                                   WHERE u.account_id = a.id AND u.status = s.status AND NOT u.is_owner)
           FROM accounts a CROSS JOIN (SELECT 'pending' AS status UNION ALL SELECT 'active'
                                       UNION ALL SELECT 'disabled') s"""
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("trg_users_count_insert", "trg_users_count_delete", "trg_users_count_update"):
            op.execute(f"DROP TRIGGER {name} ON users")
        op.execute("DROP TRIGGER trg_accounts_user_counts ON accounts")
        op.execute("DROP FUNCTION account_user_counts_apply()")
        op.execute("DROP FUNCTION account_user_counts_on_account()")
    else:
        for name in (
            "trg_accounts_user_counts",
            "trg_users_count_insert",
            "trg_users_count_delete",
            "trg_users_count_update",
        ):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("account_user_counts")
    op.drop_index("ix_users_account_id_lower_last_name", table_name="users")
    op.drop_index("ix_users_account_id_lower_first_name", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_account_id_last_login_at")
        batch_op.drop_index("ix_users_account_id_first_name")
        batch_op.drop_index("ix_users_account_id_created_at")
