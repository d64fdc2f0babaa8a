"""Redis goes away mid-run and comes back (issue 19).

The portal keeps serving: rate limits fail open to counts kept in each process (never to no limit
at all), which is logged; /readyz says the store is unreachable; the database lockout still
guards sign-in. When Redis answers again /readyz is ready, every process goes back to the shared
counts, and a limit of N allows N in total again."""

from __future__ import annotations

import json
import time
from pathlib import Path

from portal import migrate
from tests.conftest import make_test_app
from tests.helpers import PASSWORD, Portal
from tests.live import Browser, Gunicorn, RedisServer, portal_env, running, wait_until
from tests.topology.conftest import needs_postgresql_and_redis

PER_LOGIN = 4
pytestmark = needs_postgresql_and_redis


def _events(server: Gunicorn, name: str) -> int:
    count = 0
    for line in server.output().splitlines():
        if line.startswith("{") and f'"event":"{name}"' in line:
            count += 1
    return count


def _reset_requests(url: str, login: str, times: int) -> list[int]:
    client = Browser(url, address="198.51.100.7")
    return [client.post("/password-reset", {"account": "acme", "login": login}).status for _ in range(times)]


def test_the_portal_serves_through_a_redis_outage_and_recovers(
    fresh_database: str, redis_binary: str, tmp_path: Path
) -> None:
    app = make_test_app(fresh_database)
    migrate.upgrade(app)
    portal = Portal(app)
    account, _owner = portal.account("Acme")
    portal.user(account, "during-outage")
    redis = RedisServer(tmp_path / "redis.log", redis_binary)
    server = Gunicorn(
        "gunicorn",
        portal_env(
            fresh_database, REDIS_URL=redis.url, TRUSTED_PROXIES="1", RATELIMIT_PER_LOGIN=f"{PER_LOGIN} per minute"
        ),
        tmp_path / "gunicorn.log",
    )
    try:
        with running(server, redis):
            redis.start()
            server.start()
            assert Browser(server.url).get("/readyz").status == 200

            redis.stop()  # Redis is gone
            ready = Browser(server.url).get("/readyz")
            assert ready.status == 503
            assert json.loads(ready.body)["checks"]["rate_limit_store"] == {
                "ok": False,
                "store": "redis",
                "error": "unreachable",
            }
            assert Browser(server.url).get("/healthz").status == 200

            started = time.monotonic()
            person = Browser(server.url, address="198.51.100.8")
            assert person.sign_in("acme", "during-outage", PASSWORD).status == 303  # sign-in still works
            assert person.get("/me").status == 200
            assert time.monotonic() - started < 5  # no request waits on the dead store

            # Counted per process meanwhile: with two workers, N per minute allows at most 2N, never unlimited.
            statuses = _reset_requests(server.url, "outage-probe", 2 * PER_LOGIN + 1)
            assert PER_LOGIN <= statuses.count(200) + statuses.count(303) <= 2 * PER_LOGIN, statuses
            assert 429 in statuses
            assert _events(server, "rate_limit_store_unreachable") >= 1

            redis = RedisServer(tmp_path / "redis-again.log", redis_binary, port=redis.port).start()  # it is back
            wait_until(lambda: Browser(server.url).get("/readyz").status == 200, 10, "/readyz to be ready again")

            # Each process that fell back goes back to Redis at its next guarded request after its backoff.
            probe = iter(range(1000))
            wait_until(
                lambda: (
                    _reset_requests(server.url, f"probe-{next(probe)}", 1)
                    and _events(server, "rate_limit_store_recovered") >= _events(server, "rate_limit_store_unreachable")
                ),
                60,
                "every worker back on Redis",
                every=0.3,
            )
            statuses = _reset_requests(server.url, "after-outage", 2 * PER_LOGIN + 1)
            assert statuses.count(429) == PER_LOGIN + 1, statuses  # one count again, shared by both workers
    finally:
        redis.stop()
        app.extensions["portal.engine"].dispose()
