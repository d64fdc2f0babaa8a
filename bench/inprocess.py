"""In-process probes of the portal's pages: their URLs (following the pager's links as a person
would), the SQL statements each sends (the app engine's before_cursor_execute event, as
tests/helpers.py's StatementCounter does) and their median time without HTTP or concurrency."""

from __future__ import annotations

import contextlib
import io
import re
import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import event

from bench.load import links
from bench.seed import SECRET_KEY, SeedInfo

SEARCH = "user12"  # broad: an email prefix of 1.1 % of the users (111 at 10k, 11,111 at 1M)
NARROW_SEARCH = "user12345"  # narrow: a handful (1 at 100k, 11 at 1M)
_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class Probe:
    name: str
    url: str
    status: int
    statements: int
    ms: float
    bytes: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def page_urls(info: SeedInfo, has_members_page: bool) -> dict[str, str | None]:
    """The measured pages (the deep pages are found by following links, see probe()). The JSON API's list of
    users ("api users", "api deep": its keyset `after` half-way down) and a SCIM lookup by userName (what an
    identity provider sends before every create) sit beside the users page."""
    base = f"/accounts/{info.account_id}"
    return {
        "users": f"{base}/users",
        "search": f"{base}/users?q={SEARCH}",
        "search narrow": f"{base}/users?q={NARROW_SEARCH}",
        "deep": None,
        "user": f"{base}/users/{info.sample_user_id}",
        "members": f"{base}/groups/{info.big_group_id}/members" if has_members_page else None,
        "api users": f"/api/v1{base}/users",
        "api deep": None,
        "scim lookup": None,
    }


def api_credential(app: Any, info: SeedInfo) -> str:
    """A new API key of the seeded account's owner, as the Authorization header's value ("Bearer …")."""
    from sqlalchemy import select

    from portal import actors, db
    from portal.me.credentials import create_api_key
    from portal.models import User

    with app.app_context():
        owner = db.session.scalars(select(User).where(User.login == info.owner_login, User.is_owner.is_(True))).one()
        key = create_api_key(owner, "bench", None, actor=actors.person(owner))
        db.session.commit()
    return f"Bearer {key}"


def scim_credential(app: Any, info: SeedInfo) -> str:
    """A new provisioning token of the seeded account, as the Authorization header's value ("Bearer …")."""
    from sqlalchemy import select

    from portal import actors, db
    from portal.models import Account, User
    from portal.scim.tokens import make_token

    with app.test_request_context():
        owner = db.session.scalars(select(User).where(User.login == info.owner_login, User.is_owner.is_(True))).one()
        token = make_token(db.session.get_one(Account, owner.account_id), actor=actors.person(owner))
        db.session.commit()
    return f"Bearer {token}"


def scim_lookup(app: Any, info: SeedInfo) -> str:
    """`GET /Users?filter=userName eq "…"` for the sample user: an identity provider's lookup before a create."""
    from urllib.parse import quote

    from portal import db
    from portal.models import User

    with app.app_context():
        login = db.session.get_one(User, uuid.UUID(info.sample_user_id)).login
    condition = quote('userName eq "' + login + '"')
    return f"/scim/v2/{info.account_id}/Users?filter={condition}"


def api_deep_page(app: Any, info: SeedInfo) -> str:
    """The API's users list half-way down, by its keyset cursor (`after` = the email before that row), as the
    `next` link of the page before it reads."""
    from sqlalchemy import select

    from portal import db
    from portal.models import User
    from portal.pagination import encode_cursor

    start = max(1, info.users // 2)
    with app.app_context():
        email = db.session.scalar(
            select(User.email)
            .where(User.account_id == uuid.UUID(info.account_id), User.is_owner.is_(False))
            .order_by(User.email)
            .offset(start - 1)
            .limit(1)
        )
    return f"/api/v1/accounts/{info.account_id}/users?from={start}&after={encode_cursor([email])}"


def probe(info: SeedInfo, timing_runs: int = 7, extra: bool = True) -> tuple[dict[str, str | None], list[Probe]]:
    """Sign in through /login, find the pages, count each page's statements and time it."""
    with contextlib.redirect_stderr(io.StringIO()):  # the request log: one JSON line per request
        return _probe(info, timing_runs, extra)


def _probe(info: SeedInfo, timing_runs: int, extra: bool) -> tuple[dict[str, str | None], list[Probe]]:
    from portal import create_app

    app = create_app({"DATABASE_URL": info.database_url, "SECRET_KEY": SECRET_KEY})
    engine = app.extensions["portal.engine"]
    has_members = any(rule.endpoint == "accounts.groups.members" for rule in app.url_map.iter_rules())
    client = app.test_client()
    token = _TOKEN.search(client.get("/login").get_data(as_text=True))
    assert token, "the login page carries no CSRF token"
    answer = client.post("/login", data={**info.sign_in_fields(), "csrf_token": token.group(1)})
    if answer.status_code != 303:
        raise RuntimeError(f"signing in answered {answer.status_code}")
    urls = page_urls(info, has_members)
    urls["deep"] = deep_page(lambda url: client.get(url).get_data(as_text=True), urls["users"] or "")
    urls["api deep"] = api_deep_page(app, info)
    urls["scim lookup"] = scim_lookup(app, info)
    bearer = {"Authorization": api_credential(app, info)}
    provisioning = {"Authorization": scim_credential(app, info)}

    def get(url: str) -> Any:
        if url.startswith("/scim/"):
            return client.get(url, headers=provisioning)
        return client.get(url, headers=bearer if url.startswith("/api/") else None)

    measured = dict(urls)
    if extra:  # not loaded with wrk: a bookmarked offset without a cursor, and the unfiltered count of a search
        measured["offset (no cursor)"] = f"/accounts/{info.account_id}/users?from={info.users // 2}"
        measured["api offset (no cursor)"] = f"/api/v1/accounts/{info.account_id}/users?from={info.users // 2}"
    probes = []
    for name, url in measured.items():
        if url is None:
            probes.append(Probe(name, "", 0, 0, 0.0, 0, "page not in this build"))
            continue
        get(url)  # warm: templates compiled, pages cached
        count = 0

        def on_execute(*_args: object) -> None:
            nonlocal count
            count += 1

        event.listen(engine, "before_cursor_execute", on_execute)
        response = get(url)
        event.remove(engine, "before_cursor_execute", on_execute)
        timings = []
        for _ in range(timing_runs):
            started = time.perf_counter()
            get(url)
            timings.append((time.perf_counter() - started) * 1000)
        probes.append(
            Probe(
                name, url, response.status_code, count, round(statistics.median(timings), 2), len(response.get_data())
            )
        )
    engine.dispose()
    return urls, probes


def deep_page(get: Any, first_url: str) -> str:
    """Last », then ‹ Previous twice: a page near the end of the list, reached by its keyset cursor."""
    page = get(first_url)
    url = links(page).get("Last »")
    if url is None:  # a list of one page
        return first_url
    for _ in range(2):
        previous = links(get(url)).get("‹ Previous")
        if previous is None:
            break
        url = previous
    return str(url)
