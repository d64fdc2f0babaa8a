"""The schema comes from the migrations and matches the models; the operator commands work."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import func, select

from portal.db import Base
from portal.demo import DEMO_LOGIN, DEMO_PASSWORD
from portal.models import Account, Group, GroupMember, User
from tests.helpers import Portal


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection", "ignore:autogenerate skipping")
def test_migrations_from_empty_match_the_models(app: Flask) -> None:
    """The session's database was migrated from empty (conftest); nothing differs from the models."""
    with app.extensions["portal.engine"].connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() is not None


def test_create_account_command(app: Flask, portal: Portal) -> None:
    result = app.test_cli_runner().invoke(args=[
        "portal", "create-account", "--name", "Globex", "--login", "hank", "--email", "hank@example.com",
        "--first-name", "Hank", "--last-name", "Scorpio", "--password", "cypress creek volcano lair",
    ])
    assert result.exit_code == 0, result.output
    assert "Created account 'Globex'" in result.output and "/a/globex/login" in result.output
    owner = portal.scalar(select(User).where(User.login == "hank"))
    assert owner.is_owner and owner.first_name == "Hank"
    client = portal.client(owner, password="cypress creek volcano lair")
    assert client.get(f"/accounts/{owner.account_id}/users").status_code == 200


def test_create_account_refuses_a_weak_password(app: Flask, portal: Portal) -> None:
    result = app.test_cli_runner().invoke(args=[
        "portal", "create-account", "--name", "Globex", "--login", "hank", "--email", "hank@example.com",
        "--password", "password1234",
    ])
    assert result.exit_code != 0
    assert "too common" in result.output
    assert portal.scalar(select(func.count()).select_from(Account)) == 0


def test_demo_command_seeds_once_and_prints_how_to_sign_in(app: Flask, portal: Portal) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["portal", "demo"])
    assert first.exit_code == 0, first.output
    assert f"login '{DEMO_LOGIN}'" in first.output and DEMO_PASSWORD in first.output
    assert "http://portal.example.com/a/demo/login" in first.output
    assert runner.invoke(args=["portal", "demo"]).exit_code == 0
    assert portal.scalar(select(func.count()).select_from(Account)) == 1
    assert portal.scalar(select(func.count()).select_from(User)) == 51
    assert portal.scalar(select(func.count()).select_from(Group)) == 4
    assert portal.scalar(select(func.count()).select_from(GroupMember)) > 10
    owner = portal.scalar(select(User).where(User.login == DEMO_LOGIN))
    page = portal.client(owner, password=DEMO_PASSWORD).get(f"/accounts/{owner.account_id}/users")
    assert page.status_code == 200 and "50 users" in page.get_data(as_text=True)


def test_the_sign_in_name_migration_names_existing_accounts(tmp_path: object) -> None:
    """Accounts made before sign-in names get one from their name, unique, and keep their user counts."""
    import uuid
    from pathlib import Path

    from sqlalchemy import text

    from portal import migrate
    from tests.conftest import make_test_app

    app = make_test_app(f"sqlite:///{Path(str(tmp_path)) / 'old.db'}")
    migrate.upgrade(app, "6693cebbab54")
    engine = app.extensions["portal.engine"]
    ids = [uuid.uuid4().hex for _ in range(4)]
    with engine.begin() as connection:
        for n, (account_id, name) in enumerate(zip(ids, ["Acme", "ACME!", "Ñ", "Café Zürich"], strict=True)):
            connection.execute(text("INSERT INTO accounts (id, name, require_mfa, created_at) "
                                    "VALUES (:id, :name, 0, :at)"), {"id": account_id, "name": name,
                                                                      "at": f"2026-01-0{n + 1} 00:00:00"})
    migrate.upgrade(app)
    with engine.connect() as connection:
        names = dict(connection.execute(text("SELECT id, sign_in_name FROM accounts")).all())
        triggers = set(connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
    assert [names[i] for i in ids] == ["acme", "acme-2", "account", "cafe-zurich"]
    assert "trg_accounts_user_counts" in triggers
    engine.dispose()
