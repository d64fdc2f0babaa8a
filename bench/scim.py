"""SCIM throughput: users provisioned per second through POST /Users (a fresh account), then
`GET /Users?filter=userName eq "…"` lookups per second, against the portal under gunicorn.

    .venv/bin/python -m bench scim --users 10000 [--database-url postgresql+psycopg://…] [--threads 4]

SQLite by default (a fresh file under --data-dir). The 1M-user lookup figure: seed with `bench run`'s seeder
first and pass --lookups-only with --database-url (not run by CI: it takes hours on 2 cores).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]


def _setup(database_url: str) -> tuple[str, str]:
    """Migrate, make an account and a provisioning token; (account id, token)."""
    code = (
        "from portal import create_app, migrate, db\n"
        "from portal.accounts.services import OwnerDetails, create_account\n"
        "from portal import actors\n"
        "from portal.scim import tokens\n"
        f"app = create_app({{'DATABASE_URL': {database_url!r}}})\n"
        "migrate.upgrade(app)\n"
        "import uuid\n"
        "with app.test_request_context():\n"
        "    name = 'scim-' + uuid.uuid4().hex[:8]\n"
        "    account, owner = create_account('SCIM bench', OwnerDetails(name, name + '@example.com', 'x' * 12))\n"
        "    db.session.flush()\n"
        "    token = tokens.make_token(account, actor=actors.person(owner))\n"
        "    db.session.commit()\n"
        "    print(account.id, token)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    account_id, token = out.stdout.split()[-2:]
    return account_id, token


def _serve(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORTAL_ENV": "production",
        "SESSION_COOKIE_SECURE": "0",
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_SCIM": "1000000 per minute",
        "PORTAL_BASE_URL": "http://127.0.0.1",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}", "app:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _run(port: int, requests: list[tuple[str, str, str | None]], threads: int, token: str) -> tuple[float, int]:
    """Send the requests over `threads` keep-alive connections; (seconds, failures)."""
    failures = [0]
    lock = threading.Lock()
    chunks = [requests[i::threads] for i in range(threads)]

    def worker(chunk: list[tuple[str, str, str | None]]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for method, path, body in chunk:
            connection.request(
                method,
                path,
                body=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
            )
            response = connection.getresponse()
            response.read()
            if response.status >= 300:
                with lock:
                    failures[0] += 1
        connection.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started, failures[0]


def main(users: int, database_url: str, data_dir: Path, threads: int, lookups: int) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    if not database_url:
        database_url = f"sqlite:///{data_dir / f'scim-{int(time.time())}.db'}"
    account_id, token = _setup(database_url)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = _serve(database_url, port, data_dir / "scim-gunicorn.log")
    try:
        for _ in range(200):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        base = f"/scim/v2/{account_id}"
        creates = [
            (
                "POST",
                f"{base}/Users",
                json.dumps(
                    {
                        "userName": f"user{i}@example.com",
                        "externalId": f"ext-{i}",
                        "name": {"givenName": f"First{i}", "familyName": f"Last{i}"},
                        "emails": [{"value": f"user{i}@example.com", "primary": True}],
                    }
                ),
            )
            for i in range(users)
        ]
        seconds, failed = _run(port, creates, threads, token)
        print(f"scim create: {users} users in {seconds:.1f} s = {users / seconds:.0f} users/s ({failed} failed)")
        step = max(1, users // lookups)
        gets = [
            ("GET", f"{base}/Users?filter=" + quote(f'userName eq "user{(i * step) % users}@example.com"'), None)
            for i in range(lookups)
        ]
        seconds, failed_lookups = _run(port, gets, threads, token)
        print(
            f"scim lookup: {lookups} userName eq lookups in {seconds:.1f} s = {lookups / seconds:.0f}/s "
            f"({failed_lookups} failed) at {users} users"
        )
        ok = failed == 0 and failed_lookups == 0
        print("scim: ok" if ok else "scim: FAILED")
        return 0 if ok else 1
    finally:
        server.terminate()
        server.wait(timeout=30)


__all__ = ["main"]
