"""CPU per page of this tree against another checkout of the portal (an older commit), in-process on one seeded
SQLite database: the users list, both searches, a user's page and a group's members, each tree in its own
process, the two alternating, thread CPU time per request (medians). What "half the CPU per page" is measured by
when the machine's speed moves from day to day (issue 20, round five):

    git worktree add --detach /tmp/issue20 fd5fcf6      # the code when issue 20 was filed
    python -m bench.cpu_against /tmp/issue20 --users 1000000 [--pairs 3] [--runs 60]

The other tree is only imported (its `portal` package), never seeded or migrated: the database is this tree's
(`python -m bench breakdown --users N` seeds it), so the other code must read the same schema.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.inprocess import _TOKEN, page_urls  # neither imports portal: the other tree's is imported below
from bench.seed import SECRET_KEY, SeedInfo

HERE = Path(__file__).resolve().parents[1]
PAGES = ("users", "search", "search narrow", "user", "members")


def measure(root: str, seed_json: str, runs: int) -> dict[str, float]:
    """Median thread CPU ms a request of each page, the portal imported from root (run in a process of its own)."""
    sys.path.insert(0, root)
    import portal  # noqa: PLC0415 (imported from root, once sys.path names it)
    from portal import create_app  # noqa: PLC0415

    assert str(Path(portal.__file__).resolve()).startswith(root), portal.__file__

    info = SeedInfo.load(Path(seed_json))
    assert info is not None, f"no seeded database: {seed_json} (python -m bench breakdown --users N seeds it)"
    logging.disable(logging.CRITICAL)
    app = create_app({"DATABASE_URL": info.database_url, "SECRET_KEY": SECRET_KEY})
    client = app.test_client()
    token = _TOKEN.search(client.get("/login").get_data(as_text=True))
    assert token, "the login page carries no CSRF token"
    client.post("/login", data={**info.sign_in_fields(), "csrf_token": token.group(1)})
    urls = page_urls(info, has_members_page=True)
    pages = {name: str(urls[name]) for name in PAGES}
    spent: dict[str, list[float]] = {name: [] for name in pages}
    with contextlib.redirect_stderr(io.StringIO()):  # the request log
        for name, url in pages.items():
            answer = client.get(url)
            assert answer.status_code == 200, (name, answer.status_code)
            for _ in range(10):
                client.get(url)
        for _ in range(runs):
            for name, url in pages.items():
                started = time.thread_time()
                client.get(url)
                spent[name].append(time.thread_time() - started)
    return {name: round(statistics.median(values) * 1000, 3) for name, values in spent.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_against", description=__doc__.split("\n\n")[0])
    parser.add_argument("other", help="the other checkout's root (it holds portal/)")
    parser.add_argument("--users", type=int, default=1_000_000, help="a seeded SQLite size in bench/.data")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one tree in this process
    args = parser.parse_args(argv)
    seed_json = str(HERE / "bench" / ".data" / f"portal-sqlite-{args.users}.json")
    if args.one:
        print(json.dumps(measure(args.one, seed_json, args.runs)))
        return
    trees = {"other": str(Path(args.other).resolve()), "this": str(HERE)}
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for pair in range(args.pairs):
        for name, root in trees.items():
            command = [sys.executable, "-m", "bench.cpu_against", root, "--users", str(args.users)]
            command += ["--runs", str(args.runs), "--one", root]
            out = subprocess.run(command, cwd=HERE, capture_output=True, text=True, check=True).stdout
            figures[name].append(json.loads(out.splitlines()[-1]))
            print(f"pair {pair + 1} {name}: {figures[name][-1]}", flush=True)
    print("page: other ms → this ms (this ÷ other, medians of the pairs)")
    for page in figures["this"][0]:
        other = statistics.median(f[page] for f in figures["other"])
        this = statistics.median(f[page] for f in figures["this"])
        print(f"  {page}: {other:.2f} → {this:.2f} ({this / other:.2f})")


if __name__ == "__main__":
    main()
