"""Seed the Django admin peer (run with bench/.venv-django/bin/python, cwd bench/djangoadmin).

    DJANGO_DATABASE_URL=... PORTAL_DATABASE_URL=... PORTAL_ACCOUNT_ID=... PORTAL_SAMPLE_USER_ID=... python seed.py

The schema comes from Django's own `migrate` and the superuser from its own `createsuperuser`; then the
seeded account's people are read from the portal's database (the same logins, emails, names, statuses as
is_active, sign-up and last sign-in times, and the same group memberships) and bulk-inserted into
auth_user, auth_group and auth_user_groups (executemany on SQLite, COPY on PostgreSQL). Prints a JSON line.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "bench-admin-password-1"
HERE = Path(__file__).resolve().parent
BATCH = 20_000
USER_COLS = [
    "id",
    "password",
    "last_login",
    "is_superuser",
    "username",
    "first_name",
    "last_name",
    "email",
    "is_staff",
    "is_active",
    "date_joined",
]


def _manage(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=HERE,
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def _portal_rows(
    url: str, account_id: str
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, str]]]:
    """The account's people (not its owner), their memberships, and its groups, from the portal's database."""
    users = (
        "SELECT id, login, email, first_name, last_name, status, created_at, last_login_at FROM users"
        " WHERE account_id = {p} AND NOT is_owner"
    )
    members = (
        "SELECT m.user_id, m.group_id FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.account_id = {p}"
    )
    groups = "SELECT id, name FROM groups WHERE account_id = {p} ORDER BY name"
    if url.startswith("sqlite:///"):
        connection: Any = sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True)
        key: Any = account_id.replace("-", "")
        mark = "?"
    else:
        import psycopg

        connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        key, mark = account_id, "%s"
    try:
        return tuple(
            connection.execute(q.format(p=mark), (key,)).fetchall()  # type: ignore[return-value]
            for q in (users, members, groups)
        )
    finally:
        connection.close()


def main() -> dict[str, object]:
    started = time.perf_counter()
    _manage("migrate", "--noinput")
    _manage(
        "createsuperuser",
        "--noinput",
        "--username",
        ADMIN_LOGIN,
        "--email",
        "admin@example.com",
        env={"DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User
    from django.db import connection

    people, members, groups = _portal_rows(os.environ["PORTAL_DATABASE_URL"], os.environ["PORTAL_ACCOUNT_ID"])
    sample = str(os.environ.get("PORTAL_SAMPLE_USER_ID", "")).replace("-", "")
    group_ids = {}
    for portal_id, name in groups:
        group_ids[str(portal_id).replace("-", "")] = Group.objects.create(name=name).id
    big_group = group_ids[str(next(g for g, name in groups if name == "All staff")).replace("-", "")]
    password = make_password("bench-user-password-1")  # one hash for everyone, as the portal's seeder does
    first_id = (User.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    postgres = connection.vendor == "postgresql"
    connection.ensure_connection()
    raw = connection.connection
    cursor = raw.cursor()
    if not postgres:
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.execute("PRAGMA cache_size = -1000000")
    django_ids: dict[str, int] = {}
    sample_id = 0
    rows: list[tuple[Any, ...]] = []

    def flush(table: str, columns: list[str], batch: list[tuple[Any, ...]]) -> None:
        if postgres:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", batch)
        batch.clear()

    for i, (portal_id, login, email, first, last, status, created, last_login) in enumerate(people):
        user_id = first_id + i
        key = str(portal_id).replace("-", "")
        django_ids[key] = user_id
        if key == sample:
            sample_id = user_id
        rows.append(
            (user_id, password, last_login, False, login, first, last, email, False, status == "active", created)
        )
        if len(rows) == BATCH:
            flush("auth_user", USER_COLS, rows)
    flush("auth_user", USER_COLS, rows)
    for i, (user, group) in enumerate(members):
        rows.append((i + 1, django_ids[str(user).replace("-", "")], group_ids[str(group).replace("-", "")]))
        if len(rows) == BATCH:
            flush("auth_user_groups", ["id", "user_id", "group_id"], rows)
    flush("auth_user_groups", ["id", "user_id", "group_id"], rows)
    if postgres:
        for table in ("auth_user", "auth_user_groups"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    raw.commit()
    if postgres:
        raw.autocommit = True
        cursor.execute("VACUUM ANALYZE")
    else:
        cursor.execute("PRAGMA journal_mode = WAL")  # as the portal runs SQLite
    total = User.objects.count()
    return {
        "users": len(people),
        "users_total": total,
        "memberships": len(members),
        "groups": len(groups),
        "big_group_id": big_group,
        "sample_user_id": sample_id or first_id + len(people) // 2,
        "admin_login": ADMIN_LOGIN,
        "admin_password": ADMIN_PASSWORD,
        "django": django.get_version(),
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
