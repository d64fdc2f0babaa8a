"""The lean page: an unauthenticated bare Flask + SQLAlchemy Core + Jinja page of 20 of the seeded
account's people, read from the portal's own database, served by gunicorn like the portal.

    GET /users                 the first 20 by name (the portal's default order and its index)
    GET /users?q=user12        an email-prefix search (a range on the (account_id, email) index)
    GET /users?page=N          a deep page by OFFSET

Each page counts its matches ("1,000,001 people, page 1 of 50,001") and lists 20 rows with a link, the
name, email, status and sign-up date: what a hand-written page would do, with no sign-in, no session,
no permissions and no request log. LEAN_DATABASE_URL and LEAN_ACCOUNT_ID say which database and account.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from flask import Flask, request
from sqlalchemy import DateTime, String, TextualSelect, Uuid, bindparam, create_engine, text

app = Flask(__name__)
engine = create_engine(os.environ.get("LEAN_DATABASE_URL", "sqlite://"))
ACCOUNT = uuid.UUID(os.environ.get("LEAN_ACCOUNT_ID", str(uuid.UUID(int=0))))
PER_PAGE = 20
_ACCOUNT = bindparam("account", type_=Uuid)
_WHERE = "WHERE account_id = :account"
# A prefix as a range, so that both databases seek the (account_id, email) index (emails are lower-case).
_PREFIX = " AND email >= :low AND email < :high"


def _rows(where: str, order: str) -> TextualSelect:
    return (
        text(
            f"SELECT id, first_name, last_name, email, status, created_at FROM users {where}"
            f" ORDER BY {order} LIMIT :limit OFFSET :offset"
        )
        .bindparams(_ACCOUNT)
        .columns(id=Uuid, first_name=String, last_name=String, email=String, status=String, created_at=DateTime)
    )


_LIST = _rows(_WHERE, "first_name, last_name, id")
_COUNT = text(f"SELECT count(*) FROM users {_WHERE}").bindparams(_ACCOUNT)
_SEARCH = _rows(_WHERE + _PREFIX, "email")
_SEARCH_COUNT = text(f"SELECT count(*) FROM users {_WHERE}{_PREFIX}").bindparams(_ACCOUNT)
_PAGE = app.jinja_env.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>People</title></head>
<body><main><h1>People</h1>
<form method="get" action="/users"><input type="search" name="q" value="{{ q }}"> <button>Search</button></form>
<p>{{ "{:,}".format(total) }} people, page {{ page }} of {{ pages }}</p>
<table><thead><tr><th>Name</th><th>Email</th><th>Status</th><th>Joined</th></tr></thead><tbody>
{% for row in rows %}<tr><td><a href="/users/{{ row.id }}">{{ row.first_name }} {{ row.last_name }}</a></td>
<td>{{ row.email }}</td><td>{{ row.status }}</td><td>{{ row.created_at.strftime("%Y-%m-%d") }}</td></tr>
{% endfor %}</tbody></table>
<nav>{% if page > 1 %}<a href="?q={{ q }}&amp;page={{ page - 1 }}">‹ Previous</a>{% endif %}
{% if page < pages %}<a href="?q={{ q }}&amp;page={{ page + 1 }}">Next ›</a>{% endif %}</nav>
</main></body></html>
""")


@app.get("/users")
def users() -> str:
    q = request.args.get("q", "").strip().lower()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    params: dict[str, Any] = {"account": ACCOUNT, "limit": PER_PAGE, "offset": (page - 1) * PER_PAGE}
    with engine.connect() as connection:
        if q:
            params.update(low=q, high=q[:-1] + chr(ord(q[-1]) + 1))
            total = connection.execute(_SEARCH_COUNT, params).scalar_one()
            rows = connection.execute(_SEARCH, params).all()
        else:
            total = connection.execute(_COUNT, params).scalar_one()
            rows = connection.execute(_LIST, params).all()
    pages = max(1, -(-total // PER_PAGE))
    return _PAGE.render(q=q, page=page, pages=pages, total=total, rows=rows)


def probe(paths: list[str]) -> dict[str, dict[str, Any]]:
    """SQL statements, bytes and median in-process time of each path (the Flask test client)."""
    import statistics
    import time

    from sqlalchemy import event

    client = app.test_client()
    found = {}
    for path in paths:
        client.get(path)  # warm
        count = 0

        def on_execute(*_args: object) -> None:
            nonlocal count
            count += 1

        event.listen(engine, "before_cursor_execute", on_execute)
        response = client.get(path)
        event.remove(engine, "before_cursor_execute", on_execute)
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
        found[path] = {
            "status": response.status_code,
            "statements": count,
            "bytes": len(response.get_data()),
            "ms": round(statistics.median(timings), 2),
        }
    return found


if __name__ == "__main__":  # python -m bench.lean PATH...: prints a JSON line
    import json
    import sys

    print(json.dumps(probe(sys.argv[1:])))
