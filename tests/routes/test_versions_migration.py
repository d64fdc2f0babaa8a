"""Migration 7e3a9c1d5b20 (issue 14, one optimistic lock): roles and groups get an integer version; the rows
already there start at 1, and their next save moves it on. On SQLite, and on PostgreSQL when DATABASE_URL
names one (in a database of its own, made and dropped here)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal import migrate
from tests.conftest import make_test_app

BEFORE = "d5e1a7c3b9f2"


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'versions.db'}"
        return
    name = f"portal_versions_{uuid.uuid4().hex[:8]}"
    server = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def test_existing_roles_and_groups_get_version_1(empty_database: str) -> None:
    app = make_test_app(empty_database)
    migrate.upgrade(app, BEFORE)
    engine = app.extensions["portal.engine"]
    sqlite = engine.dialect.name == "sqlite"

    def uid() -> Any:
        value = uuid.uuid4()
        return value.hex if sqlite else value

    account, role, group = uid(), uid(), uid()
    when = "2026-01-01 00:00:00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts (id, name, sign_in_name, require_mfa, created_at) "
                "VALUES (:id, 'Old', 'old', false, :t)"
            ),
            {"id": account, "t": when},
        )
        connection.execute(
            text(
                "INSERT INTO roles (id, account_id, name, description, permissions, is_builtin, "
                "created_at, updated_at) VALUES (:id, :a, 'support', '', '[]', false, :t, :t)"
            ),
            {"id": role, "a": account, "t": when},
        )
        connection.execute(
            text(
                "INSERT INTO groups (id, account_id, name, description, created_at, updated_at) "
                "VALUES (:id, :a, 'Engineering', '', :t, :t)"
            ),
            {"id": group, "a": account, "t": when},
        )
    migrate.upgrade(app)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM roles")).scalar_one() == 1
        assert connection.execute(text("SELECT version FROM groups")).scalar_one() == 1

    from portal import actors, db
    from portal.groups import services as groups
    from portal.models import Group

    with app.test_request_context():
        stored = db.session.get_one(Group, uuid.UUID(str(group)) if sqlite else group)
        groups.update_group(stored, "Platform", "", expected_version=1, actor=actors.system())
        db.session.commit()
        assert stored.version == 2
    engine.dispose()
