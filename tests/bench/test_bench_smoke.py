"""The benchmark (bench/, issue 9) in smoke mode, so that CI runs it and it cannot rot: a few
hundred users, the portal and the bare ceiling under gunicorn, every page loaded for a moment by
a Python loop (wrk not needed), the CSV export streamed. On PostgreSQL (DATABASE_URL) it seeds a
database of its own next to the tests' one, and drops it afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def smoke_database_url() -> Iterator[str]:
    """ "" for SQLite; on PostgreSQL a fresh database beside the tests' one (the tests' is left alone)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield ""
        return
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    parsed = make_url(url)
    name = f"{parsed.database}_bench_smoke"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_benchmark_smoke(tmp_path: Path, smoke_database_url: str) -> None:
    command = [sys.executable, "-m", "bench", "smoke", "--users", "300", "--data-dir", str(tmp_path)]
    if smoke_database_url:
        command += ["--database-url", smoke_database_url]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=170)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "smoke: ok" in result.stdout
    # Every measured page answered under load, and the table was printed.
    for page in ("users", "search", "deep", "user"):
        assert f"\n{page} " in result.stdout, result.stdout[-3000:]


def test_sso_benchmark_smoke() -> None:
    """`python -m bench sso` (issue 21) with two people: it signs them in twice each through the mock
    provider, and discovery and the JWKS are fetched once for the whole run (cached)."""
    result = subprocess.run(
        [sys.executable, "-m", "bench", "sso", "--n", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": ""},
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines() if line and not line.startswith("{"))
    assert float(lines["returning_sign_in_ms_p50"]) > 0 and float(lines["provider_ms_p50"]) > 0
    assert lines["discovery_fetches"].strip() == "1" and lines["jwks_fetches"].strip() == "1"
