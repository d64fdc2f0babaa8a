"""SQLite savepoints keep the request's transaction (services use them; they must never commit)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.db import make_engine


def test_a_savepoint_as_the_first_write_commits_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'savepoints.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER UNIQUE)")
    session = Session(engine)
    session.execute(text("SELECT 1"))  # reads run outside a transaction in pysqlite
    with session.begin_nested():
        session.execute(text("INSERT INTO t VALUES (1)"))
    session.execute(text("INSERT INTO t VALUES (2)"))
    session.rollback()  # the request failed: nothing of it stays, the savepoint's row included
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT x FROM t").all() == []

    with pytest.raises(IntegrityError), session.begin_nested():  # a refused write leaves the rest usable
        session.execute(text("INSERT INTO t VALUES (3)"))
        session.execute(text("INSERT INTO t VALUES (3)"))
    session.execute(text("INSERT INTO t VALUES (4)"))
    session.commit()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT x FROM t").all() == [(4,)]
    engine.dispose()
