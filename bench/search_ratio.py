"""Search against the list, in-process: the users page, a broad search and a narrow one, interleaved
(list, broad, narrow, list, …) so that the machine's other load falls on all three alike; prints the
statements each sends, the median milliseconds and the medians of the per-round ratios list ÷ search
(≥ 1.0: the search costs no more than the list; issue 20).

    python -m bench.search_ratio bench/.data/portal-sqlite-1000000.json [--rounds 9] [--runs 15] [--freeze] [--fresh]

--freeze: gc.freeze() once the app is made and warm, as a gunicorn worker does at its start.
--fresh: each search a query of the same breadth not asked in the 90 before it (`user13`, `user14`, …;
`user10001`, `user10002`, …) instead of the same one again: what statements built once per query could not keep.

The JSON is a seeded database's SeedInfo (bench/seed.py); PostgreSQL works the same given one.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import itertools
import statistics
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.inprocess import _TOKEN, NARROW_SEARCH, SEARCH
from bench.seed import SECRET_KEY, SeedInfo


def _fresh(kind: str) -> Any:
    """Queries of the same breadth as SEARCH (broad) or NARROW_SEARCH, each new for 90 searches."""
    if kind == "broad":
        return itertools.cycle(f"user{a}{b}" for a in range(1, 10) for b in range(10))
    return (f"user{n}" for n in itertools.cycle(range(10_000, 100_000)))


def measure(info: SeedInfo, rounds: int, runs: int, freeze: bool = False, fresh: bool = False) -> dict[str, Any]:
    from portal import create_app

    app = create_app({"DATABASE_URL": info.database_url, "SECRET_KEY": SECRET_KEY})
    engine = app.extensions["portal.engine"]
    client = app.test_client()
    token = _TOKEN.search(client.get("/login").get_data(as_text=True))
    assert token, "the login page carries no CSRF token"
    client.post("/login", data={**info.sign_in_fields(), "csrf_token": token.group(1)})
    base = f"/accounts/{info.account_id}/users"
    pages = {"list": base, "broad": f"{base}?q={SEARCH}", "narrow": f"{base}?q={NARROW_SEARCH}"}
    statements: dict[str, int] = {}
    for name, url in pages.items():
        assert client.get(url).status_code == 200, url  # warm
        count = 0

        def on_execute(*_args: object) -> None:
            nonlocal count
            count += 1

        event.listen(engine, "before_cursor_execute", on_execute)
        client.get(url)
        event.remove(engine, "before_cursor_execute", on_execute)
        statements[name] = count
    if freeze:
        gc.freeze()
    queries = {name: _fresh(name) for name in ("broad", "narrow")} if fresh else {}
    times: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(rounds):
        for name, url in pages.items():
            spent = []
            for _ in range(runs):
                asked = f"{base}?q={next(queries[name])}" if name in queries else url
                started = time.perf_counter()
                client.get(asked)
                spent.append((time.perf_counter() - started) * 1000)
            times[name].append(statistics.median(spent))
    engine.dispose()
    ratios = {
        name: statistics.median(a / b for a, b in zip(times["list"], times[name], strict=True))
        for name in ("broad", "narrow")
    }
    return {
        "statements": statements,
        "ms": {n: round(statistics.median(t), 2) for n, t in times.items()},
        "list/search": {n: round(r, 2) for n, r in ratios.items()},
        "urls": pages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed_info", type=Path)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() once the app is warm")
    parser.add_argument("--fresh", action="store_true", help="each search a query not asked just before")
    options = parser.parse_args()
    info = SeedInfo.load(options.seed_info)
    assert info, f"no seed info in {options.seed_info}"
    with contextlib.redirect_stderr(io.StringIO()):  # the request log
        result = measure(info, options.rounds, options.runs, options.freeze, options.fresh)
    flags = " ".join(f"--{flag}" for flag in ("freeze", "fresh") if getattr(options, flag))
    print(f"{info.database_url.split(':')[0]} {info.users:,} users {flags}".rstrip())
    for key, value in result.items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
