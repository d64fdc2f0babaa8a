"""Bring a database's schema up to date with the Alembic migrations (never create_all)."""

from __future__ import annotations

import warnings

from alembic import command
from alembic.config import Config
from flask import Flask

from portal import ROOT


def alembic_config() -> Config:
    """Alembic's config pointing at the repository's migrations."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return config


def upgrade(app: Flask, revision: str = "head") -> None:
    """Run the migrations up to the revision on the app's database."""
    config = alembic_config()
    with app.extensions["portal.engine"].begin() as connection, warnings.catch_warnings():
        # Batch mode on SQLite reflects tables and cannot read expression indexes back; it says so.
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def schema_is_behind(app: Flask) -> bool:
    """Whether the database was never migrated, or is behind the newest migration."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with app.extensions["portal.engine"].connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() != head
