"""Seed the Flask-AppBuilder peer (run with bench/.venv-fab/bin/python, cwd bench/fab).

    FAB_DATABASE_URL=... python seed.py N         -> prints a JSON line

The schema and the admin come from FAB's own tooling (`flask fab create-db`, `flask fab create-admin`);
then N users with the same names as the portal's seed, the Public role each and group memberships
with the same shares are bulk-inserted with SQLAlchemy Core (COPY on PostgreSQL).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "bench-admin-password-1"
HERE = Path(__file__).resolve().parent
NAMES = HERE.parent.parent / "portal" / "data"
GROUPS = [
    ("All staff", 0.50),
    ("Engineering", 0.20),
    ("Sales", 0.10),
    ("Support", 0.08),
    ("Operations", 0.06),
    ("Marketing", 0.05),
    ("Finance", 0.03),
    ("Design", 0.02),
    ("Legal", 0.01),
    ("Berlin office", 0.10),
    ("London office", 0.10),
    ("Austin office", 0.10),
]
BATCH = 20_000
NOW = datetime(2026, 11, 29, 12, 0)


def _flask(*args: str) -> None:
    flask = Path(sys.executable).with_name("flask")
    subprocess.run(
        [str(flask), "--app", "app", "fab", *args],
        cwd=HERE,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _copy(cursor, table: str, columns: list[str], rows: list[tuple]) -> None:  # type: ignore[no-untyped-def]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def main(n: int, seed: int = 7) -> dict[str, object]:
    started = time.perf_counter()
    _flask("create-db")
    _flask(
        "create-admin",
        "--username",
        ADMIN_LOGIN,
        "--firstname",
        "Admin",
        "--lastname",
        "User",
        "--email",
        "admin@example.com",
        "--password",
        ADMIN_PASSWORD,
    )
    os.environ["FAB_UPDATE_PERMS"] = "0"
    from flask_appbuilder.security.sqla.models import Group
    from sqlalchemy import text
    from werkzeug.security import generate_password_hash

    from app import app, db  # noqa: E402  (after the tables exist)

    firsts = (NAMES / "first-names.txt").read_text().split()
    lasts = (NAMES / "last-names.txt").read_text().split()
    rng = random.Random(seed)
    password = generate_password_hash("bench-user-password-1")
    user_cols = [
        "id",
        "first_name",
        "last_name",
        "username",
        "password",
        "active",
        "email",
        "last_login",
        "login_count",
        "fail_login_count",
        "created_on",
        "changed_on",
    ]
    with app.app_context():
        engine = db.engine
        with engine.begin() as connection:
            public = connection.scalar(text("SELECT id FROM ab_role WHERE name = 'Public'"))
            for name, share in GROUPS:  # through the model's table: its id comes from a sequence on PostgreSQL
                connection.execute(
                    Group.__table__.insert(),
                    {"name": name, "label": name, "description": f"About {share:.0%} of the people"},
                )
            group_ids = [
                connection.scalar(text("SELECT id FROM ab_group WHERE name = :n"), {"n": name}) for name, _ in GROUPS
            ]
            first_id = connection.scalar(text("SELECT max(id) FROM ab_user")) + 1
            first_role_row = connection.scalar(text("SELECT coalesce(max(id), 0) FROM ab_user_role")) + 1
        postgres = engine.dialect.name == "postgresql"
        raw = engine.raw_connection()
        cursor = raw.cursor()
        if not postgres:
            cursor.execute("PRAGMA synchronous = OFF")
            cursor.execute("PRAGMA cache_size = -1000000")
        users: list[tuple] = []
        roles: list[tuple] = []
        groups: list[tuple] = []
        n_roles = n_groups = 0
        role_id = first_role_row  # ids of the association rows (FAB's tables have their own id column)
        group_row_id = 1

        def flush() -> None:
            if postgres:
                _copy(cursor, "ab_user", user_cols, users)
                _copy(cursor, "ab_user_role", ["id", "user_id", "role_id"], roles)
                _copy(cursor, "ab_user_group", ["id", "user_id", "group_id"], groups)
            else:
                marks = ", ".join("?" * len(user_cols))
                cursor.executemany(
                    f"INSERT INTO ab_user ({', '.join(user_cols)}) VALUES ({marks})",
                    [tuple(str(v) if isinstance(v, datetime) else v for v in u) for u in users],
                )
                cursor.executemany("INSERT INTO ab_user_role (id, user_id, role_id) VALUES (?, ?, ?)", roles)
                cursor.executemany("INSERT INTO ab_user_group (id, user_id, group_id) VALUES (?, ?, ?)", groups)
            users.clear()
            roles.clear()
            groups.clear()

        for i in range(n):
            first, last = rng.choice(firsts), rng.choice(lasts)
            user_id = first_id + i
            created = NOW - timedelta(seconds=rng.randint(3600, 3 * 365 * 86400))
            active = rng.random() < 0.9
            users.append(
                (
                    user_id,
                    first.title(),
                    last.title(),
                    f"{first}.{last}.{i}".lower(),
                    password,
                    active,
                    f"user{i}.{first}.{last}@example.com".lower(),
                    NOW - timedelta(seconds=rng.randint(60, 400 * 86400)) if active else None,
                    rng.randint(0, 300),
                    0,
                    created,
                    created,
                )
            )
            roles.append((role_id, user_id, public))
            role_id += 1
            n_roles += 1
            for group_id, (_name, share) in zip(group_ids, GROUPS, strict=True):
                if rng.random() < share:
                    groups.append((group_row_id, user_id, group_id))
                    group_row_id += 1
                    n_groups += 1
            if len(users) == BATCH:
                flush()
        if users:
            flush()
        if postgres:
            for table, sequence in (
                ("ab_user", "ab_user_id_seq"),
                ("ab_user_role", "ab_user_role_id_seq"),
                ("ab_user_group", "ab_user_group_id_seq"),
            ):
                cursor.execute(f"SELECT setval('{sequence}', (SELECT max(id) FROM {table}))")
        raw.commit()
        raw.close()
        if postgres:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
    return {
        "users": n,
        "roles": n_roles,
        "memberships": n_groups,
        "admin_login": ADMIN_LOGIN,
        "admin_password": ADMIN_PASSWORD,
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
