"""The schema comes from the migrations and matches the models; the operator commands work."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import func, select

from portal import migrate
from portal.db import Base
from portal.demo import DEMO_LOGIN, DEMO_PASSWORD
from portal.models import Account, Group, GroupMember, User
from tests.conftest import make_test_app
from tests.helpers import Client, Portal


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
    assert "Created account 'Globex'" in result.output
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
    assert runner.invoke(args=["portal", "demo"]).exit_code == 0
    assert portal.scalar(select(func.count()).select_from(Account)) == 1
    assert portal.scalar(select(func.count()).select_from(User)) == 51
    assert portal.scalar(select(func.count()).select_from(Group)) == 4
    assert portal.scalar(select(func.count()).select_from(GroupMember)) > 10
    owner = portal.scalar(select(User).where(User.login == DEMO_LOGIN))
    page = portal.client(owner, password=DEMO_PASSWORD).get(f"/accounts/{owner.account_id}/users")
    assert page.status_code == 200 and "50 users" in page.get_data(as_text=True)


def test_a_database_never_migrated_gets_a_page_that_says_what_to_do(tmp_path: Path) -> None:
    app = make_test_app(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    client = Client(app.test_client())
    response = client.post("/login", {"login": "peter", "password": "whatever it is"})
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "The database is not set up yet" in body and "flask --app app portal migrate" in body
    assert "Traceback" not in body and "sqlalchemy" not in body.lower()
    migrate.upgrade(app)  # once migrated, the same request is an ordinary answer
    assert client.post("/login", {"login": "peter", "password": "whatever it is"}).status_code == 401
