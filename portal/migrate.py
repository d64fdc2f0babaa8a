"""Bring a database's schema up to date with the Alembic migrations (never create_all)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Flask
from sqlalchemy import Connection

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


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


@dataclass(frozen=True)
class SchemaState:
    """The database's migration revisions next to this code's head."""

    database: tuple[str, ...]
    code: tuple[str, ...]
    status: str  # "current", "behind" (run `flask portal migrate`), or "ahead" (a newer release migrated it)

    @property
    def usable(self) -> bool:
        """Whether this code can serve from the database: current, or ahead by additive (expand) migrations."""
        return self.status != "behind"


def schema_state(connection: Connection) -> SchemaState:
    """Where the database's schema stands against this code's migrations."""
    scripts = _scripts()
    code = tuple(sorted(scripts.get_heads()))
    database = tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    if database == code:
        status = "current"
    elif database and not all(_known(scripts, revision) for revision in database):
        status = "ahead"
    else:
        status = "behind"
    return SchemaState(database, code, status)


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


def schema_is_behind(app: Flask) -> bool:
    """Whether the database was never migrated, or is behind the newest migration."""
    with app.extensions["portal.engine"].connect() as connection:
        return schema_state(connection).status == "behind"
