"""The scaled-out shape, tested as it runs (issue 19): PostgreSQL, Redis, gunicorn instances and
workers as real processes. Only where both stores are given: DATABASE_URL (PostgreSQL) and
TEST_REDIS_URL (a redis-server that .ci/run starts for its PostgreSQL pass)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "")

# Each test module of this folder carries it: `pytestmark = needs_postgresql_and_redis`.
needs_postgresql_and_redis = [
    pytest.mark.skipif(
        not DATABASE_URL.startswith("postgresql"),
        reason="the topology tests need PostgreSQL (DATABASE_URL=postgresql+psycopg://…; .ci/run's second pass)",
    ),
    pytest.mark.skipif(
        not REDIS_URL,
        reason="the topology tests need Redis (TEST_REDIS_URL=redis://…; .ci/run "
        "starts Debian's redis-server for its PostgreSQL pass)",
    ),
]


@pytest.fixture(scope="module")
def fresh_database() -> Iterator[str]:
    """A database of its own beside the tests' one (left alone), dropped afterwards."""
    url = DATABASE_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    parsed = make_url(url)
    name = f"{parsed.database}_topo_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def redis_binary() -> str:
    """Debian's redis-server, for a test that stops and starts a Redis of its own."""
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else "")
    if not found:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return found
