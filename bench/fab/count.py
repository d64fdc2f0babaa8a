"""SQL statements and in-process time of FAB's /users/list/ (run with bench/.venv-fab/bin/python, cwd bench/fab).

FAB_DATABASE_URL=... python count.py /users/list/    -> prints a JSON line
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time

os.environ["FAB_UPDATE_PERMS"] = "0"

from seed import ADMIN_LOGIN, ADMIN_PASSWORD  # noqa: E402
from sqlalchemy import event  # noqa: E402

from app import app, db  # noqa: E402


def main(path: str) -> dict[str, object]:
    client = app.test_client()
    page = client.get("/login/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', page
    )
    assert token, "no csrf token on FAB's login page"
    response = client.post(
        "/login/", data={"username": ADMIN_LOGIN, "password": ADMIN_PASSWORD, "csrf_token": token.group(1)}
    )
    assert response.status_code == 302, response.status_code
    with app.app_context():
        engine = db.engine
    client.get(path)  # warm: templates compiled, caches filled
    count = 0

    def on_execute(*_args: object) -> None:
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    response = client.get(path)
    event.remove(engine, "before_cursor_execute", on_execute)
    assert response.status_code == 200, response.status_code
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
    return {"statements": count, "bytes": len(response.get_data()), "ms": round(statistics.median(timings), 2)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "/users/list/")))
