"""The users page's CPU in-process (no HTTP, no concurrency), for issue 20's work on it:

    python -m bench.cpu profile --users 100000 [--loops 400] [--out FILE]   cProfile, sorted by tottime
    python -m bench.cpu time --users 100000 [--loops 400]                median wall and CPU (thread) time a page
    python -m bench.cpu loop --users 100000 --seconds 20                  a plain loop, for py-spy to sample
    python -m bench.cpu spy --users 100000 --seconds 20 --out FILE     py-spy on that loop, by function (requests only)
    python -m bench.cpu pages --users 100000 --out DIR                     the pages' HTML (CSRF tokens and
                                                                          nonces blanked), to diff before/after

It reuses the seeded SQLite databases of `python -m bench breakdown` (BENCH_HOME/.data).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.inprocess import _TOKEN, NARROW_SEARCH, SEARCH, deep_page
from bench.run import Options, portal_database
from bench.seed import SECRET_KEY

_VOLATILE = re.compile(r'(name="csrf-token" content="|name="csrf_token" value="|nonce="|nonce-)[^"\']+')


def signed_in_client(users: int) -> tuple[Any, Any, str]:
    """The app, a test client signed in as the seeded owner, and the users page's URL."""
    from portal import create_app

    info = portal_database(Options(users=[users], dbs=["sqlite"]), "sqlite", users, None)
    app = create_app({"DATABASE_URL": info.database_url, "SECRET_KEY": SECRET_KEY})
    client = app.test_client()
    token = _TOKEN.search(client.get("/login").get_data(as_text=True))
    assert token, "the login page carries no CSRF token"
    client.post("/login", data={**info.sign_in_fields(), "csrf_token": token.group(1)})
    return app, client, f"/accounts/{info.account_id}/users"


def profile(users: int, loops: int, out: Path | None) -> None:
    _app, client, url = signed_in_client(users)
    with contextlib.redirect_stderr(io.StringIO()):
        for _ in range(50):
            client.get(url)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(loops):
            client.get(url)
        profiler.disable()
        spent = (time.perf_counter() - started) / loops * 1000
    text = io.StringIO()
    text.write(f"GET {url} x {loops} under cProfile: {spent:.2f} ms a page (profiled, so slower than measured)\n")
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(35)
    result = re.sub(r"/\S*/(site-packages|wt-[a-z]+|cpu-main|main)/", "", text.getvalue())
    if out:
        out.write_text(result)
    print(result)


def timed(users: int, loops: int) -> None:
    """Median wall and CPU (thread) milliseconds a page: CPU time is steadier on a shared machine."""
    _app, client, url = signed_in_client(users)
    wall: list[float] = []
    cpu: list[float] = []
    with contextlib.redirect_stderr(io.StringIO()):
        for _ in range(50):
            client.get(url)
        for _ in range(loops):
            started, started_cpu = time.perf_counter(), time.thread_time()
            client.get(url)
            cpu.append(time.thread_time() - started_cpu)
            wall.append(time.perf_counter() - started)
    print(
        f"users page ({users:,} users), median of {loops}: wall {statistics.median(wall) * 1000:.2f} ms, "
        f"CPU {statistics.median(cpu) * 1000:.2f} ms"
    )


def loop(users: int, seconds: float) -> None:
    _app, client, url = signed_in_client(users)
    with contextlib.redirect_stderr(io.StringIO()):
        for _ in range(50):
            client.get(url)
        print("looping", file=sys.__stderr__, flush=True)
        end = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < end:
            client.get(url)
            n += 1
    print(f"{n} pages, {seconds / n * 1000:.2f} ms each")


def spy(users: int, seconds: float, out: Path | None, top: int = 30) -> None:
    """py-spy samples of the loop, only those inside a request, summed by function (not by line)."""
    from bench.profile import py_spy

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.json"
        command = [sys.executable, "-m", "bench.cpu", "loop", f"--users={users}", f"--seconds={seconds}"]
        subprocess.run(
            [py_spy(), "record", "--format", "speedscope", "-r", "250", "-o", str(raw), "--", *command],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        data = json.loads(raw.read_text())
    frames = [
        f"{f['name']} ({re.sub(r'.*/(site-packages|lib/python3[.0-9]+)/', '', f.get('file', ''))})"
        for f in data["shared"]["frames"]
    ]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0.0
    for profile_ in data["profiles"]:
        for stack, weight in zip(profile_["samples"], profile_["weights"], strict=True):
            names = [frames[i] for i in stack]
            if not any(name.startswith("Flask.wsgi_app") for name in names):
                continue
            total += weight
            own[names[-1]] += weight
            for name in set(names):
                inclusive[name] += weight
    lines = [f"py-spy, {seconds:.0f} s loop of the users page ({users:,} users): {total:.1f} s in requests", ""]
    lines += ["own time (share of the request samples):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top + 15)]
    text = "\n".join(re.sub(str(Path.cwd()) + "/", "", line) for line in lines)
    if out:
        out.write_text(text + "\n")
    print(text)


def pages(users: int, out: Path) -> None:
    _app, client, url = signed_in_client(users)
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stderr(io.StringIO()):
        found = {
            "users": url,
            "search": f"{url}?q={SEARCH}",
            "search-narrow": f"{url}?q={NARROW_SEARCH}",
            "sorted": f"{url}?sort=last_sign_in&dir=asc&take=50",
            "deep": deep_page(lambda u: client.get(u).get_data(as_text=True), url),
        }
        from bench.seed import SeedInfo

        info = SeedInfo.load(Options(users=[users], dbs=["sqlite"]).data_dir / f"portal-sqlite-{users}.json")
        assert info is not None
        found["members"] = f"/accounts/{info.account_id}/groups/{info.big_group_id}/members"
        found["user"] = f"/accounts/{info.account_id}/users/{info.sample_user_id}"
        for name, address in found.items():
            for kind, headers in (("page", None), ("fragment", {"HX-Request": "true"})):
                response = client.get(address, headers=headers)
                body = _VOLATILE.sub(r"\1…", response.get_data(as_text=True))
                (out / f"{name}.{kind}.html").write_text(f"{response.status_code} {address}\n{body}")
    print(f"{len(found) * 2} pages in {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu")
    parser.add_argument("command", choices=["profile", "time", "loop", "spy", "pages"])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--loops", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "profile":
        profile(args.users, args.loops, args.out)
    elif args.command == "time":
        timed(args.users, args.loops)
    elif args.command == "spy":
        spy(args.users, args.seconds, args.out)
    elif args.command == "loop":
        loop(args.users, args.seconds)
    else:
        pages(args.users, args.out or Path("pages"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
