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
    result = app.test_cli_runner().invoke(
        args=[
            "portal",
            "create-account",
            "--name",
            "Globex",
            "--login",
            "hank",
            "--email",
            "hank@example.com",
            "--first-name",
            "Hank",
            "--last-name",
            "Scorpio",
            "--password",
            "cypress creek volcano lair",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Created account 'Globex'" in result.output and "/a/globex/login" in result.output
    owner = portal.scalar(select(User).where(User.login == "hank"))
    assert owner.is_owner and owner.first_name == "Hank"
    client = portal.client(owner, password="cypress creek volcano lair")
    assert client.get(f"/accounts/{owner.account_id}/users").status_code == 200


def test_create_account_refuses_a_weak_password(app: Flask, portal: Portal) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "portal",
            "create-account",
            "--name",
            "Globex",
            "--login",
            "hank",
            "--email",
            "hank@example.com",
            "--password",
            "password1234",
        ]
    )
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
    # An invitee has not set a password yet, let alone MFA: the demo shows none with MFA on.
    pending_with_mfa = select(func.count()).where(User.status == "pending", User.mfa_enabled.is_(True))
    assert portal.scalar(pending_with_mfa) == 0
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
            connection.execute(
                text("INSERT INTO accounts (id, name, require_mfa, created_at) VALUES (:id, :name, 0, :at)"),
                {"id": account_id, "name": name, "at": f"2026-01-0{n + 1} 00:00:00"},
            )
    migrate.upgrade(app)
    with engine.connect() as connection:
        names = dict(connection.execute(text("SELECT id, sign_in_name FROM accounts")).all())
        triggers = set(connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
    assert [names[i] for i in ids] == ["acme", "acme-2", "account", "cafe-zurich"]
    assert "trg_accounts_user_counts" in triggers
    engine.dispose()


def test_the_api_migration_gives_existing_keys_every_permission(tmp_path: object) -> None:
    """Keys made before scopes keep working: they get the whole catalogue (bounded, as every key, by their
    owner's default roles); earlier audit events are marked as made on the pages."""
    import json
    import uuid
    from pathlib import Path

    from sqlalchemy import text

    from portal import migrate
    from portal.permissions import Permission
    from tests.conftest import make_test_app

    app = make_test_app(f"sqlite:///{Path(str(tmp_path)) / 'old.db'}")
    migrate.upgrade(app, "467c289d28a3")
    engine = app.extensions["portal.engine"]
    account, user = uuid.uuid4().hex, uuid.uuid4().hex
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts (id, name, sign_in_name, require_mfa, created_at) "
                "VALUES (:id, 'Old', 'old', 0, '2026-01-01 00:00:00')"
            ),
            {"id": account},
        )
        connection.execute(
            text(
                "INSERT INTO users (id, account_id, login, email, first_name, last_name, company_name, "
                "address, postal_code, city, state, country, phone, must_change_password, status, "
                "is_owner, is_sso, mfa_enabled, version, created_at, updated_at) VALUES (:id, :a, "
                "'old', 'old@example.com', '', '', '', '', '', '', '', '', '', 0, 'active', 1, 0, 0, "
                "1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            ),
            {"id": user, "a": account},
        )
        connection.execute(
            text(
                "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at) VALUES "
                "(:id, :u, 'ci', 'ap_x', 'h', '2026-01-01 00:00:00')"
            ),
            {"id": uuid.uuid4().hex, "u": user},
        )
        connection.execute(
            text(
                "INSERT INTO audit_events (id, account_id, actor_label, action, target_type, "
                "target_id, target_label, changes, ip_address, user_agent, correlation_id, "
                "created_at) VALUES (:id, :a, 'old', 'user.update', '', '', '', '{}', '', '', '', "
                "'2026-01-01 00:00:00')"
            ),
            {"id": uuid.uuid4().hex, "a": account},
        )
    migrate.upgrade(app)
    with engine.connect() as connection:
        scopes = connection.execute(text("SELECT scopes FROM api_keys")).scalar_one()
        via = connection.execute(text("SELECT via, api_key_name FROM audit_events")).one()
    assert json.loads(scopes) == [p.value for p in Permission]
    assert tuple(via) == ("web", "")
    engine.dispose()


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
