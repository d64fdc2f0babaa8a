"""PostgreSQL restarts under a running portal (issue 13 §4): the pooled connections it killed are noticed and
replaced before use, so the first request after the restart is answered as usual.

The restart needs the server's own command: .ci/run exports it as PORTAL_TEST_PG_RESTART for its
throwaway cluster. Elsewhere (SQLite, or a server this suite must not restart) the test is skipped.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from flask import Flask
from sqlalchemy import text

from tests.helpers import Portal

RESTART = os.environ.get("PORTAL_TEST_PG_RESTART", "")


def test_requests_after_a_postgresql_restart_succeed(app: Flask, portal: Portal) -> None:
    engine = app.extensions["portal.engine"]
    if engine.dialect.name != "postgresql":
        pytest.skip("runs on PostgreSQL only (DATABASE_URL=postgresql+psycopg://…)")
    if not RESTART:
        pytest.skip(
            "PORTAL_TEST_PG_RESTART is not set: .ci/run sets it to the command that restarts its "
            "throwaway PostgreSQL cluster"
        )
    account, owner = portal.account()
    client = portal.client(owner)
    users = f"/accounts/{account.id}/users"
    assert client.get(users).status_code == 200
    # Fill the pool with several live connections, all of which the restart will kill.
    held = [engine.connect() for _ in range(4)]
    for connection in held:
        connection.execute(text("SELECT 1"))
    for connection in held:
        connection.close()
    pids_before = {row[0] for row in _backend_pids(engine)}

    subprocess.run(RESTART, shell=True, check=True, timeout=60, capture_output=True)

    answers = [client.get(users).status_code for _ in range(6)]
    assert answers == [200] * 6
    assert (
        client.post(f"/accounts/{account.id}/invitations", {"emails": "after-restart@example.com"}).status_code == 303
    )  # a write, too
    assert not pids_before & {row[0] for row in _backend_pids(engine)}  # really a new server process


def _backend_pids(engine: object) -> list[tuple[int]]:
    with engine.connect() as connection:  # type: ignore[attr-defined]
        return list(connection.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")))
