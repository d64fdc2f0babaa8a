"""A database error in the middle of a request (issue 13 §4): the last-resort page still renders on a
clean session, with the security headers and the correlation id."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from portal import db
from portal.db import make_engine
from portal.models import User
from portal.permissions import signed_in
from tests.conftest import make_test_app
from tests.helpers import PASSWORD, Client, Portal

UNREACHABLE = "/nonexistent-directory/portal.db"  # a database file that cannot be opened


@pytest.fixture
def failing_app(database_url: str, app: Flask) -> Flask:
    """The app (TESTING off, as in production) with two routes that break the session on purpose."""
    failing = make_test_app(database_url, TESTING=False)

    @failing.post("/test/duplicate-user")
    @signed_in
    def duplicate_user() -> str:
        """A unique violation at flush, after the session has read rows: the transaction is broken."""
        from flask_login import current_user

        me = db.session.scalars(select(User).where(User.id == current_user.id)).one()
        db.session.add(User(account_id=me.account_id, login=me.login, email=me.email, password_hash=None))
        db.session.flush()
        return "unreachable"

    @failing.post("/test/bad-sql")
    @signed_in
    def bad_sql() -> str:
        """A statement the database refuses (a ProgrammingError/OperationalError) mid-request."""
        db.session.execute(select(User.id).limit(1))
        db.session.execute(text("SELECT no_such_column FROM no_such_table"))
        return "unreachable"

    @failing.post("/test/lost-connection")
    @signed_in
    def lost_connection() -> str:
        """The database connection dies under the session mid-request (a server restart, a network cut)."""
        db.session.execute(select(User.id).limit(1))
        db.session.connection().connection.dbapi_connection.close()  # type: ignore[union-attr]
        db.session.execute(select(User.id).limit(1))
        return "unreachable"

    @failing.post("/test/database-gone")
    @signed_in
    def database_gone() -> str:
        """The database becomes unreachable mid-request: nothing can be read again, not even who is signed in."""
        db.session.execute(select(User.id).limit(1))
        failing.extensions["portal.live_engine"] = failing.extensions["portal.engine"]
        failing.extensions["portal.engine"] = make_engine(f"sqlite:///{UNREACHABLE}")
        raise RuntimeError("the database went away")

    return failing


def _headers_and_id(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    csp = headers["Content-Security-Policy"]
    assert "script-src 'nonce-" in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Correlation-Id"] == "probe-123"


@pytest.mark.parametrize("url", ["/test/duplicate-user", "/test/bad-sql", "/test/lost-connection"])
def test_last_resort_page_after_a_database_error_keeps_its_headers(
    failing_app: Flask, portal: Portal, url: str
) -> None:
    _account, owner = portal.account()
    client = Client(failing_app.test_client())
    client.sign_in(owner.login, PASSWORD)
    for hx in (False, True):
        headers = {"X-Correlation-Id": "probe-123", **({"HX-Request": "true"} if hx else {})}
        response = client.raw.post(url, data={"csrf_token": client.csrf()}, headers=headers)
        body = response.get_data(as_text=True)
        assert response.status_code == 500, body[:300]
        assert "Something went wrong" in body
        assert "Traceback" not in body and "IntegrityError" not in body and "no_such_table" not in body
        _headers_and_id(response)
        if hx:
            assert response.headers["HX-Retarget"] == "#messages"
        else:
            assert owner.full_name in body  # the layout rendered, signed in, on a usable session
    # The session is usable on the next request, and nothing of the failed one was kept.
    assert client.get(f"/accounts/{owner.account_id}/users").status_code == 200
    assert portal.scalar(select(func.count()).select_from(User)) == 1


def test_last_resort_page_when_the_database_is_unreachable(failing_app: Flask, portal: Portal) -> None:
    """Even the layout cannot render (it reads who is signed in): a bare page, with every header."""
    _account, owner = portal.account()
    client = Client(failing_app.test_client())
    client.sign_in(owner.login, PASSWORD)
    token = client.csrf()
    try:
        response = client.raw.post(
            "/test/database-gone", data={"csrf_token": token}, headers={"X-Correlation-Id": "probe-123"}
        )
    finally:
        failing_app.extensions["portal.engine"] = failing_app.extensions.pop("portal.live_engine")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in body and "went away" not in body and "Traceback" not in body
    _headers_and_id(response)
    assert client.get(f"/accounts/{owner.account_id}/users").status_code == 200
