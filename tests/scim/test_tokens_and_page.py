"""The provisioning token: its rate limit (429 with Retry-After), rotation with a 24-hour grace on a
controlled clock, revocation, last used; and the provisioning page without JavaScript and with htmx."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from flask import Flask
from sqlalchemy import event, select

from portal import db
from portal.models import Account, ProvisioningToken, ScimRequest, User
from portal.scim import tokens
from tests.helpers import CallCounter, Portal, actor_of
from tests.scim.conftest import Scim, make_token

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The tokens' clock (grace periods, last used), frozen; move it with clock.now += …"""
    frozen = Clock()
    monkeypatch.setattr(tokens, "utcnow", frozen)
    return frozen


def _rotate(app: Flask, account_id: object, actor_id: object) -> str:
    with app.test_request_context():
        token = tokens.rotate_token(db.session.get(Account, account_id), actor=actor_of(actor_id))
        db.session.commit()
    return token


def _owner(portal: Portal) -> User:
    return portal.scalar(select(User).where(User.is_owner))


def test_rate_limit_answers_429_with_retry_after(app: Flask, scim: Scim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "RATELIMIT_SCIM", "3 per minute")
    assert [scim.get("/Users").status_code for _ in range(3)] == [200, 200, 200]
    refused = scim.get("/Users")
    assert refused.status_code == 429 and refused.mimetype == "application/scim+json"
    assert refused.get_json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert scim.post("/Users", {"userName": "ada@example.com"}).status_code == 429  # writes too: nothing made


def test_rotation_keeps_the_old_token_24_hours(app: Flask, portal: Portal, scim: Scim, clock: Clock) -> None:
    old = Scim(app.test_client(), scim.account_id, scim.token)
    new = Scim(app.test_client(), scim.account_id, _rotate(app, scim.account_id, _owner(portal).id))
    assert old.get("/Users").status_code == 200 and new.get("/Users").status_code == 200
    clock.now = START + timedelta(hours=23, minutes=59)
    assert old.get("/Users").status_code == 200 and new.get("/Users").status_code == 200
    clock.now = START + timedelta(hours=24, seconds=1)
    assert old.get("/Users").status_code == 401
    assert new.get("/Users").status_code == 200
    clock.now = START + timedelta(days=400)  # the new one has no end until it is rotated or revoked
    assert new.get("/Users").status_code == 200


def test_revoked_and_foreign_tokens_stop_at_once(app: Flask, portal: Portal, scim: Scim) -> None:
    row = portal.scalar(select(ProvisioningToken))
    owner = _owner(portal)
    admin = portal.client(owner)
    assert admin.post(f"/accounts/{scim.account_id}/settings/provisioning/tokens/{row.id}/revoke").status_code == 303
    assert scim.get("/Users").status_code == 401
    again = admin.post(f"/accounts/{scim.account_id}/settings/provisioning/tokens/{row.id}/revoke")
    assert again.status_code == 404


def test_last_used_is_kept_at_most_once_a_minute(portal: Portal, scim: Scim, clock: Clock) -> None:
    def last_used() -> datetime | None:
        return portal.scalar(select(ProvisioningToken.last_used_at))

    assert last_used() is None
    scim.get("/Users")
    assert last_used() == START
    clock.now = START + timedelta(seconds=30)
    scim.get("/Users")
    assert last_used() == START  # a burst writes it once
    clock.now = START + timedelta(minutes=2)
    scim.get("/Groups")
    assert last_used() == START + timedelta(minutes=2)


def test_the_page_without_javascript(app: Flask, portal: Portal, scim: Scim) -> None:
    owner = _owner(portal)
    admin = portal.client(owner)
    url = f"/accounts/{scim.account_id}/settings/provisioning"
    for _ in range(25):
        scim.get("/Users?filter=userName%20eq%20%22x%40example.com%22")
    page = admin.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<html" in html and f"/scim/v2/{scim.account_id}" in html
    assert scim.token not in html  # shown once, when made; never again
    assert html.count("<td>GET</td>") == 20  # the last 20 requests, no more
    assert portal.scalar(select(ScimRequest.path).limit(1)).endswith("/Users")  # the path only, no query
    assert "Provisioning" in admin.get(f"/accounts/{scim.account_id}/settings").get_data(as_text=True)
    made = admin.post(f"{url}/token")
    assert made.status_code == 200 and "<html" in made.get_data(as_text=True)
    token = re.search(r'value="(scim_[^"]+)" aria-label="Provisioning token"', made.get_data(as_text=True))
    assert token is not None
    assert Scim(app.test_client(), scim.account_id, token.group(1)).get("/Users").status_code == 200
    assert scim.get("/Users").status_code == 401  # making a token ends the ones that worked
    rotated = admin.post(f"{url}/rotate")
    assert rotated.status_code == 200 and "(rotated)" in rotated.get_data(as_text=True)


def test_the_request_log_keeps_the_last_requests_of_each_account(
    app: Flask, portal: Portal, scim: Scim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trim (one request in TRIM_EVERY; here every one) keeps the account's last LOG_SIZE requests, the newest,
    and no other account's; its statement is built once."""
    other, other_owner = portal.account("Other", login="boss")
    other_scim = Scim(app.test_client(), other.id, make_token(app, other, other_owner))
    for _ in range(3):
        assert other_scim.get("/Users").status_code == 200
    monkeypatch.setattr(tokens, "random", SimpleNamespace(randrange=lambda _n: 0))  # every request trims
    for n in range(tokens.LOG_SIZE + 5):
        scim.get(f"/Users/{n}")  # 404s are logged too
    with CallCounter() as calls:
        assert scim.get("/Users").status_code == 200
    assert not calls.statements_built
    with app.app_context():
        paths = db.session.scalars(select(ScimRequest.path).where(ScimRequest.account_id == scim.account_id)).all()
        others = db.session.scalars(select(ScimRequest.id).where(ScimRequest.account_id == other.id)).all()
    base = f"/scim/v2/{scim.account_id}/Users"
    assert len(paths) == tokens.LOG_SIZE and paths.count(base) == 1
    assert f"{base}/5" not in paths and f"{base}/6" in paths  # the 6 oldest went, the last 20 stay
    assert len(others) == 3


def test_the_request_log_commits_without_waiting_for_the_wal_on_postgresql(app: Flask, scim: Scim) -> None:
    """On PostgreSQL the log row's INSERT also sets synchronous_commit off for the request's transaction (no
    statement of its own); the row is kept all the same."""
    engine = app.extensions["portal.engine"]
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite runs with synchronous=NORMAL in WAL mode")
    sent: list[tuple[str, object]] = []
    on_execute = lambda _conn, _cursor, statement, params, *_rest: sent.append((statement, params))  # noqa: E731
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        assert scim.get("/Users").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    inserts = [(statement, params) for statement, params in sent if "INSERT INTO scim_requests" in statement]
    assert len(inserts) == 1 and "set_config(" in inserts[0][0] and "synchronous_commit" in str(inserts[0][1])
    assert not [statement for statement, _params in sent if "SET LOCAL" in statement]
    with app.app_context():
        assert db.session.scalar(select(ScimRequest.path).where(ScimRequest.account_id == scim.account_id))


def test_the_page_with_htmx_and_its_refusals(app: Flask, portal: Portal, scim: Scim) -> None:
    owner = _owner(portal)
    admin = portal.client(owner)
    url = f"/accounts/{scim.account_id}/settings/provisioning"
    swapped = admin.post(f"{url}/rotate", hx=True)
    html = swapped.get_data(as_text=True)
    assert swapped.status_code == 200 and "<html" not in html and 'id="provisioning"' in html
    assert 'id="scim-token"' in html and "HX-Request" in swapped.headers["Vary"]
    tokens_before = _count_tokens(portal)
    forged = admin.post(f"{url}/token", csrf=False)
    assert forged.status_code == 400 and _count_tokens(portal) == tokens_before  # CSRF: refused, nothing made
    assert admin.post(f"{url}/rotate", hx=True, csrf=False).status_code == 400
    assert _count_tokens(portal) == tokens_before
    account = portal.get(Account, scim.account_id)
    member = portal.user(account, "member1")
    member_client = portal.client(member)
    assert member_client.get(url).status_code == 403  # account:manage only
    assert member_client.post(f"{url}/token").status_code == 403
    other, other_owner = portal.account("Other", login="boss")
    assert portal.client(other_owner).get(f"/accounts/{scim.account_id}/settings/provisioning").status_code in (
        403,
        404,
    )


def _count_tokens(portal: Portal) -> int:
    from sqlalchemy import func

    return int(portal.scalar(select(func.count()).select_from(ProvisioningToken)))
