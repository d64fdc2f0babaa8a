"""PostgreSQL plans every statement for its values: no server-side prepared statement, whose generic plan would
serve every value alike (issue 20: the search's probe read the whole users table that way)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import bindparam, select, text

from portal.db import make_engine

URL = os.environ.get("DATABASE_URL", "")


@pytest.mark.skipif(not URL.startswith("postgresql"), reason="PostgreSQL only (DATABASE_URL)")
def test_a_statement_run_many_times_is_never_prepared_on_the_server() -> None:
    engine = make_engine(URL)
    statement = select(bindparam("n") + 1)
    try:
        with engine.connect() as connection:
            for n in range(10):  # psycopg's default prepares from the fifth run on
                assert connection.execute(statement, {"n": n}).scalar_one() == n + 1
            prepared = connection.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()
    finally:
        engine.dispose()
    assert prepared == 0
