"""login session permissions cache

Issue 20: the sign-in check reads a session's permissions from its own row (one statement per
request). Triggers invalidate that cache exactly: any change to a person's role grants, to a role
(its permissions, or its deletion) or to the session's active roles empties it and bumps its stamp,
so a computation that raced with the change is never written back (the write-back names the stamp
it read). Additive: the code before it runs unchanged.

Revision ID: 7f3a9c2e1b64
Revises: 7e3a9c1d5b20
Create Date: 2026-12-02 04:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "7f3a9c2e1b64"
down_revision = "7e3a9c1d5b20"
branch_labels = None
depends_on = None

_FORGET = "permissions = NULL, permissions_until = NULL, permissions_stamp = permissions_stamp + 1"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER trg_role_assignments_forget_insert AFTER INSERT ON role_assignments BEGIN
          UPDATE login_sessions SET {_FORGET} WHERE user_id = NEW.user_id;
        END""",
    f"""CREATE TRIGGER trg_role_assignments_forget_update AFTER UPDATE ON role_assignments BEGIN
          UPDATE login_sessions SET {_FORGET} WHERE user_id IN (OLD.user_id, NEW.user_id);
        END""",
    f"""CREATE TRIGGER trg_role_assignments_forget_delete AFTER DELETE ON role_assignments BEGIN
          UPDATE login_sessions SET {_FORGET} WHERE user_id = OLD.user_id;
        END""",
    f"""CREATE TRIGGER trg_roles_forget_update AFTER UPDATE ON roles BEGIN
          UPDATE login_sessions SET {_FORGET}
          WHERE user_id IN (SELECT user_id FROM role_assignments WHERE role_id IN (OLD.id, NEW.id));
        END""",
    f"""CREATE TRIGGER trg_roles_forget_delete BEFORE DELETE ON roles BEGIN
          UPDATE login_sessions SET {_FORGET}
          WHERE user_id IN (SELECT user_id FROM role_assignments WHERE role_id = OLD.id);
        END""",
    f"""CREATE TRIGGER trg_login_sessions_forget AFTER UPDATE OF active_role_ids ON login_sessions
        WHEN NEW.active_role_ids IS NOT OLD.active_role_ids BEGIN
          UPDATE login_sessions SET {_FORGET} WHERE id = NEW.id;
        END""",
]

# PostgreSQL: statement-level triggers over transition tables (a bulk grant touches each session once).
POSTGRESQL_TRIGGERS = [
    f"""CREATE FUNCTION login_sessions_forget_grants() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP IN ('INSERT', 'UPDATE') THEN
            UPDATE login_sessions SET {_FORGET} WHERE user_id IN (SELECT user_id FROM new_rows);
          END IF;
          IF TG_OP IN ('DELETE', 'UPDATE') THEN
            UPDATE login_sessions SET {_FORGET} WHERE user_id IN (SELECT user_id FROM old_rows);
          END IF;
          RETURN NULL;
        END $$""",
    """CREATE TRIGGER trg_role_assignments_forget_insert AFTER INSERT ON role_assignments
       REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION login_sessions_forget_grants()""",
    """CREATE TRIGGER trg_role_assignments_forget_update AFTER UPDATE ON role_assignments
       REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION login_sessions_forget_grants()""",
    """CREATE TRIGGER trg_role_assignments_forget_delete AFTER DELETE ON role_assignments
       REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION login_sessions_forget_grants()""",
    f"""CREATE FUNCTION login_sessions_forget_role() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE login_sessions SET {_FORGET}
          WHERE user_id IN (SELECT user_id FROM role_assignments WHERE role_id = OLD.id);
          IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
          RETURN NEW;
        END $$""",
    """CREATE TRIGGER trg_roles_forget_update AFTER UPDATE ON roles
       FOR EACH ROW EXECUTE FUNCTION login_sessions_forget_role()""",
    """CREATE TRIGGER trg_roles_forget_delete BEFORE DELETE ON roles
       FOR EACH ROW EXECUTE FUNCTION login_sessions_forget_role()""",
    """CREATE FUNCTION login_sessions_forget_active() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.active_role_ids::text IS DISTINCT FROM OLD.active_role_ids::text THEN
            NEW.permissions := NULL;
            NEW.permissions_until := NULL;
            NEW.permissions_stamp := OLD.permissions_stamp + 1;
          END IF;
          RETURN NEW;
        END $$""",
    """CREATE TRIGGER trg_login_sessions_forget BEFORE UPDATE OF active_role_ids ON login_sessions
       FOR EACH ROW EXECUTE FUNCTION login_sessions_forget_active()""",
]

_NAMES = {
    "trg_role_assignments_forget_insert": "role_assignments",
    "trg_role_assignments_forget_update": "role_assignments",
    "trg_role_assignments_forget_delete": "role_assignments",
    "trg_roles_forget_update": "roles",
    "trg_roles_forget_delete": "roles",
    "trg_login_sessions_forget": "login_sessions",
}


def upgrade() -> None:
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("permissions", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("permissions_until", portal.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("permissions_stamp", sa.Integer(), nullable=False, server_default="0"))
    triggers = POSTGRESQL_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table in _NAMES.items():
        op.execute(f"DROP TRIGGER {name} ON {table}" if postgresql else f"DROP TRIGGER {name}")
    if postgresql:
        for function in ("login_sessions_forget_grants", "login_sessions_forget_role", "login_sessions_forget_active"):
            op.execute(f"DROP FUNCTION {function}()")
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.drop_column("permissions_stamp")
        batch_op.drop_column("permissions_until")
        batch_op.drop_column("permissions")
