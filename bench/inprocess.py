"""In-process probes of the portal's pages: their URLs (following the pager's links as a person
would), the SQL statements each sends (the app engine's before_cursor_execute event, as
tests/helpers.py's StatementCounter does) and their median time without HTTP or concurrency."""

from __future__ import annotations

import contextlib
import io
import re
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import event

from bench.load import links
from bench.seed import SECRET_KEY, SeedInfo

SEARCH = "user12"
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
    """The measured pages (the deep page is found by following links, see probe())."""
    base = f"/accounts/{info.account_id}"
    return {
        "users": f"{base}/users",
        "search": f"{base}/users?q={SEARCH}",
        "deep": None,
        "user": f"{base}/users/{info.sample_user_id}",
        "members": f"{base}/groups/{info.big_group_id}/members" if has_members_page else None,
    }


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
    measured = dict(urls)
    if extra:  # not loaded with wrk: a bookmarked offset without a cursor, and the unfiltered count of a search
        measured["offset (no cursor)"] = f"/accounts/{info.account_id}/users?from={info.users // 2}"
    probes = []
    for name, url in measured.items():
        if url is None:
            probes.append(Probe(name, "", 0, 0, 0.0, 0, "page not in this build"))
            continue
        client.get(url)  # warm: templates compiled, pages cached
        count = 0

        def on_execute(*_args: object) -> None:
            nonlocal count
            count += 1

        event.listen(engine, "before_cursor_execute", on_execute)
        response = client.get(url)
        event.remove(engine, "before_cursor_execute", on_execute)
        timings = []
        for _ in range(timing_runs):
            started = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        probes.append(Probe(name, url, response.status_code, count, round(statistics.median(timings), 2),
                            len(response.get_data())))
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
