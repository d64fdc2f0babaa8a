"""SQL statements, bytes and in-process time of admin pages (run with bench/.venv-django/bin/python, cwd
bench/djangoadmin), signed in as the superuser through the admin's login form with Django's test client.

    DJANGO_DATABASE_URL=... python count.py PATH...    -> prints a JSON line {path: {...}}
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

from django.core import signals  # noqa: E402
from django.db import close_old_connections, connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from seed import ADMIN_LOGIN, ADMIN_PASSWORD  # noqa: E402

# As Django's own test runner does: one connection for the whole count (closing it at the end of each
# request would drop the statements captured).
signals.request_started.disconnect(close_old_connections)
signals.request_finished.disconnect(close_old_connections)


def main(paths: list[str]) -> dict[str, object]:
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": ADMIN_LOGIN, "password": ADMIN_PASSWORD})
    assert response.status_code == 302, response.status_code
    found: dict[str, object] = {}
    for path in paths:
        client.get(path)  # warm: templates compiled
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        statements = len(queries)  # now: every request starts by emptying the connection's log
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
        found[path] = {
            "status": response.status_code,
            "statements": statements,
            "bytes": len(response.content),
            "ms": round(statistics.median(timings), 2),
        }
    return found


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
