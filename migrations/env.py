"""Alembic environment: runs on the connection portal.migrate hands over, or on DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

from alembic import context
from sqlalchemy import Connection

from portal import models  # noqa: F401  (every table registers with Base.metadata)
from portal.config import load_config
from portal.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = load_config(Path(__file__).resolve().parent.parent / "instance")["DATABASE_URL"]
    with make_engine(url).connect() as new_connection:
        run(new_connection)
