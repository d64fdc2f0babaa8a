"""What a signed-in page costs around its view (issue 20): the sign-in check, Flask's dispatch, the hooks, the
security headers, the session cookie, the request log and the metrics, counted in Python calls (not timed)."""

from __future__ import annotations

import pytest

from tests.helpers import CallCounter, Portal, account_url


@pytest.mark.parametrize(("endpoint", "path"), [("accounts.users.index", "/users"), ("accounts.users.show", "/users/")])
def test_a_signed_in_page_costs_a_bounded_number_of_calls_around_its_view(
    portal: Portal, endpoint: str, path: str
) -> None:
    account, owner = portal.account()
    someone = portal.user(account, "someone")
    client = portal.client(owner)
    url = account_url(account, path + (str(someone.id) if path.endswith("/") else ""))
    client.get(url)  # the first page after sign-in stores the session's CSRF token (and caches the permissions)
    client.get(url)
    with CallCounter(outside=portal.app.view_functions[endpoint]) as calls:
        assert client.get(url).status_code == 200
    spent = calls.by_function
    ran = {name.rsplit("/", 1)[-1] for name in spent}
    # flask-limiter's hooks: this page declares no limit. The session cookie: unchanged, so not signed again.
    assert not [name for name in spent if "flask_limiter" in name], spent.most_common(10)
    assert "serializer.py:dumps" not in ran and "sessions.py:save_session" in ran
    assert "serializer.py:__init__" not in ran  # the cookie's serializer is made once (portal.session_cookie)
    # Headers are appended, not set one by one (each set scans every header of the response): Vary and the
    # correlation id are the two set (eight more before).
    assert sum(n for name, n in spent.items() if name.endswith("datastructures/headers.py:set")) == 2
    # Around the view, with the test client's own work: 2,065 calls before issue 20's cuts (limiter hooks, the
    # cookie re-signed, eight header scans, the sign-in statement's expanding parameter, the cookie's serializer
    # made twice a request), 1,549 after on SQLite; psycopg's own calls make ~1,860 on PostgreSQL.
    bound = 1950 if portal.app.extensions["portal.engine"].dialect.name == "postgresql" else 1650
    assert calls.count <= bound, spent.most_common(25)
