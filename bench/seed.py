"""Seed one account with N users, their roles and group memberships, by bulk insert.

The schema comes from the migrations (portal.migrate.upgrade). The account, its built-in roles
and its owner are made by the portal's own service; the N users, their role assignments and
memberships are written in batches: executemany through SQLAlchemy Core on SQLite (its
triggers keep account_user_counts row by row), COPY on PostgreSQL (its statement-level triggers
count each COPY at once), then VACUUM ANALYZE as autovacuum would. On both, the migrations'
secondary indexes are dropped for the load and created again from their own definitions (one
sort each rather than a million random inserts); constraint indexes stay. The counts are checked.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import Engine, select, text

SEED_VERSION = 3
OWNER_LOGIN = "bench-owner"
OWNER_EMAIL = "bench-owner@example.com"
OWNER_PASSWORD = "bench-owner-password-1"
SECRET_KEY = "bench-secret-key-bench-secret-key-bench-secret-key"
BATCH = 20_000
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
# Group name and the share of users in it: about 1.35 memberships per user; "All staff" is the biggest.
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
# Extra roles beside "member" and how often a user holds them.
EXTRA_ROLES = [("user-manager", 0.02), ("group-manager", 0.01), ("auditor", 0.005), ("account-admin", 0.002)]
COMPANIES = ["Acme Robotics", "Acme Robotics GmbH", "Acme Robotics Ltd", "Acme Robotics SAS", ""]
CITIES = [
    ("Berlin", "", "DE"),
    ("London", "", "GB"),
    ("Austin", "TX", "US"),
    ("Lyon", "", "FR"),
    ("Toronto", "ON", "CA"),
    ("Madrid", "", "ES"),
    ("Seattle", "WA", "US"),
    ("Osaka", "", "JP"),
]
STREETS = ["Main Street", "Station Road", "High Street", "Park Avenue", "Church Lane", "Mill Road"]


@dataclass
class SeedInfo:
    """What the runner needs to know about a seeded database."""

    database_url: str
    users: int
    account_id: str
    owner_login: str
    owner_password: str
    big_group_id: str
    big_group_members: int
    sample_user_id: str
    role_assignments: int
    memberships: int
    seconds: float
    schema: str = ""  # the Alembic head the database was migrated to
    seed_version: int = SEED_VERSION
    owner_account: str = "bench-corp"  # the account's sign-in name

    def sign_in_fields(self) -> dict[str, str]:
        """The owner's sign-in form: account, login, password."""
        return {"account": self.owner_account, "login": self.owner_login, "password": self.owner_password}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> SeedInfo | None:
        try:
            data = json.loads(path.read_text())
            return cls(**data) if data.get("seed_version") == SEED_VERSION else None
        except (OSError, ValueError, TypeError):
            return None


def schema_head() -> str:
    """The migrations' head revision(s): a seeded database is reused only at the same schema."""
    from alembic.script import ScriptDirectory

    from portal.migrate import alembic_config

    return ",".join(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def schema_fingerprint(database_url: str) -> str:
    """A digest of a SQLite database's tables, indexes and triggers as sqlite_master records them."""
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            " ORDER BY type, name"
        ).all()
    engine.dispose()
    # A table rebuilt by Alembic's batch mode lists its constraints in no fixed order: compare the
    # definitions line by line, sorted.
    normalized = [
        (kind, name, table, sorted(line.strip().rstrip(",") for line in sql.splitlines()))
        for kind, name, table, sql in rows
    ]
    return hashlib.sha256(repr(normalized).encode()).hexdigest()[:16]


def migrations_fingerprint(tmp: Path) -> str:
    """The fingerprint of an empty SQLite database migrated now (catches migrations edited in place)."""
    from portal import migrate

    path = tmp / "fingerprint.db"
    for stale in tmp.glob("fingerprint.db*"):
        stale.unlink()
    app = make_app(f"sqlite:///{path}")
    migrate.upgrade(app)
    app.extensions["portal.engine"].dispose()
    fingerprint = schema_fingerprint(f"sqlite:///{path}")
    for stale in tmp.glob("fingerprint.db*"):
        stale.unlink()
    return fingerprint


def make_app(database_url: str) -> Flask:
    from portal import create_app

    return create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY})


def _names(kind: str) -> list[str]:
    from portal import ROOT

    return (ROOT / "portal" / "data" / f"{kind}-names.txt").read_text().split()


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


@dataclass
class Batch:
    users: list[dict[str, Any]]
    assignments: list[dict[str, Any]]
    members: list[dict[str, Any]]


def _batches(
    n: int, account_id: uuid.UUID, roles: dict[str, uuid.UUID], groups: list[uuid.UUID], password_hash: str, seed: int
) -> Iterator[Batch]:
    rng = random.Random(seed)
    firsts, lasts = _names("first"), _names("last")
    batch = Batch([], [], [])
    for i in range(n):
        first, last = rng.choice(firsts), rng.choice(lasts)
        user_id = _uuid(rng)
        status = rng.choices(("active", "pending", "disabled"), (85, 10, 5))[0]
        created = NOW - timedelta(seconds=rng.randint(3600, 3 * 365 * 86400))
        city, state, country = rng.choice(CITIES)
        batch.users.append(
            {
                "id": user_id,
                "account_id": account_id,
                "login": f"{first}.{last}.{i}".lower(),
                "email": f"user{i}.{first}.{last}@example.com".lower(),
                "first_name": first.title(),
                "last_name": last.title(),
                "company_name": rng.choice(COMPANIES),
                "address": f"{rng.randint(1, 200)} {rng.choice(STREETS)}",
                "postal_code": f"{rng.randint(10000, 99999)}",
                "city": city,
                "state": state,
                "country": country,
                "phone": f"+1 555 {rng.randint(1000000, 9999999)}",
                "password_hash": None if status == "pending" else password_hash,
                "must_change_password": False,
                "status": status,
                "is_owner": False,
                "is_sso": False,
                "mfa_enabled": rng.random() < 0.3,
                "version": 1,
                "created_at": created,
                "updated_at": created,
                "last_login_at": None
                if status == "pending"
                else NOW - timedelta(seconds=rng.randint(60, min(400 * 86400, int((NOW - created).total_seconds())))),
            }
        )
        held = ["member"] + [name for name, share in EXTRA_ROLES if rng.random() < share]
        for name in held:
            batch.assignments.append(
                {
                    "user_id": user_id,
                    "role_id": roles[name],
                    "is_default": name == "member" or rng.random() < 0.9,
                    "created_at": created,
                }
            )
        for group_id, (_name, share) in zip(groups, GROUPS, strict=True):
            if rng.random() < share:
                joined = created + timedelta(seconds=rng.randint(0, int((NOW - created).total_seconds())))
                batch.members.append({"id": _uuid(rng), "group_id": group_id, "user_id": user_id, "created_at": joined})
        if len(batch.users) == BATCH:
            yield batch
            batch = Batch([], [], [])
    if batch.users:
        yield batch


def _create_account(app: Flask) -> tuple[uuid.UUID, dict[str, uuid.UUID], list[uuid.UUID], str]:
    from portal import db
    from portal.accounts.services import OwnerDetails, create_account
    from portal.auth.passwords import hash_password
    from portal.models import Group, Role

    with app.app_context():
        account, _owner = create_account(
            "Bench Corp", OwnerDetails(OWNER_LOGIN, OWNER_EMAIL, OWNER_PASSWORD, "Bench", "Owner"), "bench-corp"
        )
        groups = [
            Group(account_id=account.id, name=name, description=f"About {share:.0%} of the people")
            for name, share in GROUPS
        ]
        db.session.add_all(groups)
        db.session.flush()
        roles = {r.name: r.id for r in db.session.scalars(select(Role).where(Role.account_id == account.id))}
        group_ids = [g.id for g in groups]
        account_id = account.id
        db.session.commit()
    return account_id, roles, group_ids, hash_password("bench-user-password-1")


def _insert_sqlite(engine: Engine, batches: Iterator[Batch]) -> tuple[int, int]:
    from portal.models import GroupMember, RoleAssignment, User

    n_assign = n_members = 0
    with engine.connect() as connection:
        # A page cache big enough for the indexes (the default 2 MB thrashes through the WAL on a
        # million random UUID keys). Only this loading connection has it.
        connection.exec_driver_sql("PRAGMA cache_size = -2000000")
        connection.exec_driver_sql("PRAGMA synchronous = OFF")
        connection.commit()
        indexes = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN ('users', 'role_assignments', 'group_members')"
        ).all()
        for name, _sql in indexes:
            connection.exec_driver_sql(f'DROP INDEX "{name}"')
        for batch in batches:
            connection.execute(User.__table__.insert(), batch.users)
            connection.execute(RoleAssignment.__table__.insert(), batch.assignments)
            connection.execute(GroupMember.__table__.insert(), batch.members)
            n_assign += len(batch.assignments)
            n_members += len(batch.members)
        for _name, sql in indexes:
            connection.exec_driver_sql(sql)
        connection.commit()
    return n_assign, n_members


def _copy(cursor: Any, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _insert_postgresql(engine: Engine, batches: Iterator[Batch]) -> tuple[int, int]:
    n_assign = n_members = 0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            """SELECT indexname, indexdef FROM pg_indexes
               WHERE tablename IN ('users', 'role_assignments', 'group_members')
                 AND indexname NOT IN (SELECT conname FROM pg_constraint)"""
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        for batch in batches:
            _copy(cursor, "users", batch.users)
            _copy(cursor, "role_assignments", batch.assignments)
            _copy(cursor, "group_members", batch.members)
            n_assign += len(batch.assignments)
            n_members += len(batch.members)
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return n_assign, n_members


def seed(database_url: str, n: int, seed: int = 7, log: Any = print) -> SeedInfo:
    """Migrate the (empty) database and fill it; returns what the runner needs."""
    from portal import migrate
    from portal.models import AccountUserCount, GroupMember

    started = time.perf_counter()
    app = make_app(database_url)
    engine: Engine = app.extensions["portal.engine"]
    migrate.upgrade(app)
    account_id, roles, groups, password_hash = _create_account(app)
    sample: list[uuid.UUID] = []

    def batches_noting_sample() -> Iterator[Batch]:
        for i, batch in enumerate(_batches(n, account_id, roles, groups, password_hash, seed)):
            if i == (n // 2) // BATCH:  # the user in the middle of the insert order
                sample.append(batch.users[(n // 2) % BATCH]["id"])
            yield batch

    batches = batches_noting_sample()
    if engine.dialect.name == "postgresql":
        n_assign, n_members = _insert_postgresql(engine, batches)
    else:
        n_assign, n_members = _insert_sqlite(engine, batches)
    with engine.connect() as connection:
        counted = connection.scalar(
            select(text("sum(n)"))
            .select_from(AccountUserCount.__table__)
            .where(AccountUserCount.account_id == account_id)
        )
        big = connection.scalar(
            select(text("count(*)")).select_from(GroupMember.__table__).where(GroupMember.group_id == groups[0])
        )
    if counted != n:
        raise RuntimeError(f"account_user_counts says {counted} users, {n} were inserted")
    seconds = time.perf_counter() - started
    engine.dispose()
    log(f"  seeded {n:,} users, {n_assign:,} role assignments, {n_members:,} memberships in {seconds:.1f} s")
    return SeedInfo(
        database_url=database_url,
        users=n,
        account_id=str(account_id),
        owner_login=OWNER_LOGIN,
        owner_password=OWNER_PASSWORD,
        big_group_id=str(groups[0]),
        big_group_members=int(big or 0),
        sample_user_id=str(sample[0]),
        role_assignments=n_assign,
        memberships=n_members,
        seconds=round(seconds, 1),
        schema=schema_head(),
    )
