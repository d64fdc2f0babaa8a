"""The benchmark run: seed, serve, sign in, load every page with wrk, interleaved with the bare
Flask ceiling and the peers' same pages (Django admin, Flask-AppBuilder, the lean page; bench/peers.py),
round after round; then medians and ratios."""

from __future__ import annotations

import http.client
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import load, peers
from bench.inprocess import api_credential, probe, scim_credential
from bench.pg import DEFAULT_PORT, Cluster
from bench.procs import CLOCK_TICKS, Server, busy_ticks, cpu_ticks
from bench.seed import SECRET_KEY, SeedInfo, migrations_fingerprint, schema_fingerprint, schema_head, seed
from bench.snapshot import HOME, code_fingerprint, git_state

ROOT = Path(__file__).resolve().parent.parent  # the tree under test (a snapshot of it, usually)
BENCH = ROOT / "bench"
PAGES = ("users", "search", "search narrow", "deep", "user", "members")

Log = Callable[[str], None]


@dataclass
class Options:
    users: list[int]
    dbs: list[str]
    rounds: int = 3
    duration: float = 5.0
    threads: int = 2
    connections: int = 16
    fab: bool = True
    django: bool = True
    lean: bool = True
    loader: str = "wrk"
    reseed: bool = False
    pg_port: int = DEFAULT_PORT
    csv: bool = True
    data_dir: Path = HOME / ".data"
    out: Path | None = None
    warmup: int = 20
    whatif: list[str] = field(default_factory=list)  # bench/whatif.py fixes, for before/after figures
    database_url: str = ""  # seed the portal here (emptied first) instead of a database of its own
    command: str = ""
    log: Log = field(default=print)


# --- the machine ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "nproc": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": _version(["wrk", "--version"]),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def _version(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True).stdout.splitlines()[0][:60]
    except (OSError, IndexError):
        return ""


# --- seeding ------------------------------------------------------------------------------------------


def portal_database(options: Options, db: str, n: int, cluster: Cluster | None) -> SeedInfo:
    """A seeded portal database: reused on SQLite when it was made by this seeder at this schema."""
    if options.database_url:
        empty_database(options.database_url)
        options.log(f"  seeding the portal with {n:,} users…")
        return seed(options.database_url, n, log=options.log)
    if db == "postgresql":
        assert cluster is not None
        options.log(f"  seeding the portal on PostgreSQL with {n:,} users…")
        return seed(cluster.create_database(f"portal_{n}"), n, log=options.log)
    options.data_dir.mkdir(parents=True, exist_ok=True)  # breakdown and profile come here first on a new clone
    path = options.data_dir / f"portal-sqlite-{n}.db"
    meta = path.with_suffix(".json")
    info = SeedInfo.load(meta)
    if info and path.exists() and not options.reseed:
        head = schema_head()
        if info.schema != head:  # newer migrations: upgrade the database as production would
            options.log(f"  upgrading {path.name} from {info.schema} to {head}")
            _upgrade(info.database_url)
            info.schema = head
            info.save(meta)
        if schema_fingerprint(info.database_url) == migrations_fingerprint(options.data_dir):
            options.log(f"  reusing {path.name} (seeded in {info.seconds:.0f} s)")
            return info
        options.log(f"  {path.name}'s schema is not what the migrations make now (edited in place?): seeding again")
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    options.log(f"  seeding the portal on SQLite with {n:,} users…")
    info = seed(f"sqlite:///{path}", n, log=options.log)
    info.save(meta)
    return info


def _upgrade(url: str) -> None:
    from bench.seed import make_app
    from portal import migrate

    app = make_app(url)
    migrate.upgrade(app)
    app.extensions["portal.engine"].dispose()


def empty_database(url: str) -> None:
    """Drop everything in a database the benchmark was given (SQLite: the file)."""
    from sqlalchemy import create_engine, text

    if url.startswith("sqlite:///"):
        for stale in Path(url.removeprefix("sqlite:///")).parent.glob(Path(url).name + "*"):
            stale.unlink()
        return
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


# --- measuring -----------------------------------------------------------------------------------------


class CpuMeter:
    """Cores used, during a load run, by processes that are neither measured nor measuring (other
    people's work on a shared machine): the whole machine's busy time minus the servers', the
    database's, the load generator's and this process's."""

    def __init__(self, own: Callable[[], list[int]]) -> None:
        self.own = own

    def _snapshot(self) -> tuple[float, float, float, float]:
        pids = self.own()
        children = os.times()
        return (
            time.monotonic(),
            busy_ticks() / CLOCK_TICKS,
            sum(cpu_ticks(p) for p in pids) / CLOCK_TICKS,
            children.children_user + children.children_system + time.process_time(),
        )

    def __enter__(self) -> CpuMeter:
        self.start = self._snapshot()
        return self

    def __exit__(self, *_exc: object) -> None:
        end = self._snapshot()
        elapsed = end[0] - self.start[0]
        foreign = (end[1] - self.start[1]) - (end[2] - self.start[2]) - (end[3] - self.start[3])
        self.foreign = max(0.0, foreign / elapsed) if elapsed else 0.0


def warm(server: Server, path: str, cookie: str, requests: int, seconds: float = 3.0) -> None:
    """A few requests first (templates compiled, caches and pages warm), at most for a few seconds."""
    deadline = time.monotonic() + seconds
    for _ in range(requests):
        load.fetch(server.port, path, cookie)
        if time.monotonic() > deadline:
            break


def run_load(
    options: Options,
    url: str,
    cookie: str,
    meter: CpuMeter,
    server: Server,
    database: Callable[[], list[int]] | None = None,
) -> load.LoadResult:
    with meter:
        if options.loader == "wrk":
            result = load.run_wrk(url, cookie, options.duration, options.threads, options.connections)
        else:
            result = load.run_python(url, cookie, options.duration, options.connections)
    result.foreign_cpu = round(meter.foreign, 2)
    result.rss_kb = tuple(server.rss_kb())
    if not server.settle(also=database):
        # Requests slower than the run leave a backlog in the listen queue that the workers would
        # go on serving (for minutes at a second or more each), under the next measurement: start
        # the server again instead, and warm it up.
        result.restarted = True
        server.stop(quick=True)
        server.start()
        path = url.split(str(server.port), 1)[1]
        warm(server, path, cookie, options.warmup)
    return result


def sample_rss(server: Server, stop: threading.Event, peaks: dict[int, int], every: float = 0.1) -> None:
    while not stop.is_set():
        for pid in server.worker_pids():
            try:
                rss = int(
                    next(
                        line.split()[1]
                        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                        if line.startswith("VmRSS:")
                    )
                )
            except (OSError, StopIteration):
                continue
            peaks[pid] = max(peaks.get(pid, 0), rss)
        stop.wait(every)


def stream_csv(server: Server, path: str, cookie: str) -> dict[str, Any]:
    """Stream the CSV export through curl, counting its lines while sampling the workers' RSS."""
    before = server.rss_kb()
    peaks: dict[int, int] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(server, stop, peaks))
    sampler.start()
    started = time.monotonic()
    command = ["curl", "-sS", "-N", "-H", f"Cookie: {cookie}", f"http://127.0.0.1:{server.port}{path}"]
    curl = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert curl.stdout is not None
    lines = size = 0
    while chunk := curl.stdout.read(1 << 16):
        lines += chunk.count(b"\n")
        size += len(chunk)
    curl.wait()
    seconds = time.monotonic() - started
    stop.set()
    sampler.join()
    stderr = curl.stderr.read().decode() if curl.stderr else ""
    return {
        "rows": max(0, lines - 1),
        "bytes": size,
        "seconds": round(seconds, 1),
        "rows_per_s": round(max(0, lines - 1) / seconds) if seconds else 0,
        "rss_before_mb": round(max(before or [0]) / 1024, 1),
        "rss_peak_mb": round(max(peaks.values() or [0]) / 1024, 1),
        "curl_exit": curl.returncode,
        "curl_error": stderr.strip()[:200],
        "worker_timeout": server.timeout,
    }


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def summarize(config: dict[str, Any]) -> dict[str, Any]:
    """Per page: medians over the rounds, and the median of the per-round ratios (to the ceiling and to
    each peer's same page: `vs_<peer>`, `vs_<peer>_rounds`, and the peer's own figures under `peers`)."""
    rounds = config["rounds"]
    summary: dict[str, Any] = {}
    for name in config["pages"]:
        portal = [r["pages"][name]["portal"] for r in rounds]
        ceiling = [r["pages"][name]["ceiling"] for r in rounds]
        vs_ceiling = [p["rps"] / c["rps"] for p, c in zip(portal, ceiling, strict=True) if c["rps"]]
        summary[name] = {
            "rps": round(_median([p["rps"] for p in portal]), 1),
            "p50_ms": round(_median([p["p50_ms"] for p in portal]), 2),
            "p99_ms": round(_median([p["p99_ms"] for p in portal]), 2),
            "ceiling_rps": round(_median([c["rps"] for c in ceiling]), 1),
            "vs_ceiling_rounds": [round(x, 3) for x in vs_ceiling],
            "vs_ceiling": round(_median(vs_ceiling), 3),
            "rss_mb": round(max(max(p["rss_kb"] or (0,)) for p in portal) / 1024, 1),
            "non_2xx": sum(p["non_2xx"] for p in portal),
            "errors": sum(p["errors"] for p in portal),
            "foreign_cpu_max": max(
                max(p["foreign_cpu"], c["foreign_cpu"]) for p, c in zip(portal, ceiling, strict=True)
            ),
            "peers": {},
        }
        for peer in peers.NAMES:
            theirs = [
                (r["pages"][name]["portal"]["rps"], r["pages"][name][peer]) for r in rounds if peer in r["pages"][name]
            ]
            ratios = [mine / their["rps"] for mine, their in theirs if their["rps"]]
            summary[name][f"vs_{peer}_rounds"] = [round(x, 2) for x in ratios]
            summary[name][f"vs_{peer}"] = round(_median(ratios), 2) if ratios else None
            if theirs:
                summary[name]["peers"][peer] = {
                    "url": config["peer_urls"][peer][name],
                    "rps": round(_median([t["rps"] for _, t in theirs]), 1),
                    "p50_ms": round(_median([t["p50_ms"] for _, t in theirs]), 2),
                    "p99_ms": round(_median([t["p99_ms"] for _, t in theirs]), 2),
                    "rss_mb": round(max(max(t["rss_kb"] or (0,)) for _, t in theirs) / 1024, 1),
                }
    fab_list = summary.get("users", {}).get("peers", {}).get("fab")
    if fab_list:  # FAB's users list, as earlier results files had it
        summary["_fab"] = fab_list
    return summary


def print_config(config: dict[str, Any], log: Log) -> None:
    probes = {p["name"]: p for p in config["probes"]}
    names = [peer for peer in peers.NAMES if peer in config.get("peer_urls", {})]
    log("")
    log(
        f"== {config['db']}, {config['users']:,} users — medians of {len(config['rounds'])} rounds "
        f"({config['loader']} -t{config['threads']} -c{config['connections']}, {config['duration']:g} s each)"
    )
    log(
        f"{'page':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'SQL':>4} {'bytes':>7} {'ceiling':>8} "
        f"{'×ceiling':>9}" + "".join(f" {'×' + peers.LABELS[p]:>14}" for p in names) + f"  {'RSS MB':>6}"
    )
    for name, s in config["summary"].items():
        if name.startswith("_"):
            continue
        p = probes.get(name, {})
        log(
            f"{name:<12} {s['rps']:>8.1f} {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f} {p.get('statements', 0):>4} "
            f"{p.get('bytes', 0):>7} {s['ceiling_rps']:>8.1f} {s['vs_ceiling']:>9.3f}"
            + "".join(f" {s[f'vs_{peer}'] if s[f'vs_{peer}'] is not None else '—':>14}" for peer in names)
            + f"  {s['rss_mb']:>6.1f}"
            + (f"  !! {s['non_2xx']} non-2xx" if s["non_2xx"] else "")
        )
    log(
        "per-round ratios (portal ÷ peer, same page): "
        + "; ".join(
            f"{name} "
            + ", ".join(f"{peers.LABELS[peer]} {s[f'vs_{peer}_rounds']}" for peer in names if s[f"vs_{peer}_rounds"])
            for name, s in config["summary"].items()
            if not name.startswith("_")
        )
    )
    for peer in names:
        probes_of = config["peer_probes"].get(peer, {})
        for name, s in config["summary"].items():
            theirs = s.get("peers", {}).get(peer) if not name.startswith("_") else None
            if theirs:
                pp = probes_of.get(name, {})
                log(
                    f"  {peers.LABELS[peer] + ' ' + name:<22} {theirs['rps']:>8.1f} req/s p50 {theirs['p50_ms']:>7.2f}"
                    f" p99 {theirs['p99_ms']:>8.2f} ms  SQL {pp.get('statements', '?'):>3}  {pp.get('bytes', 0):>6} B"
                    f"  in-process {pp.get('ms', '?')} ms  RSS {theirs['rss_mb']} MB  {theirs['url']}"
                )
    for peer, pages in config.get("peer_unanswered", {}).items():
        for name, problem in pages.items():
            log(f"  {peers.LABELS[peer] + ' ' + name:<22} {problem}: no ratio")
    for p in config["probes"]:
        if p["name"] not in config["summary"]:
            log(
                f"  in-process only: {p['name']}: {p['statements']} statements, {p['ms']} ms, status {p['status']}"
                + (f" ({p['note']})" if p["note"] else "")
            )
    csv = config.get("csv")
    if csv:
        log(
            f"  CSV: {csv['rows']:,} rows, {csv['bytes'] / 1e6:.1f} MB in {csv['seconds']} s "
            f"({csv['rows_per_s']:,} rows/s); worker RSS {csv['rss_before_mb']} MB before, peak {csv['rss_peak_mb']} MB"
            + (f"; curl exit {csv['curl_exit']}: {csv['curl_error']}" if csv["curl_exit"] else "")
        )


def measure(options: Options, db: str, n: int, cluster: Cluster | None) -> dict[str, Any]:
    """One database and one N: seed, probe, serve, load in rounds, stream the CSV."""
    info = portal_database(options, db, n, cluster)
    if options.whatif:
        from bench.whatif import apply_ddl

        engine = _engine(info.database_url)
        apply_ddl(engine, options.whatif)
        engine.dispose()
    try:
        return _measure(options, db, n, cluster, info)
    finally:
        if options.whatif:
            engine = _engine(info.database_url)
            apply_ddl(engine, options.whatif, undo=True)
            engine.dispose()


def _app(info: SeedInfo) -> Any:
    """The portal's app on the seeded database, in this process (to make an API key for the load runs)."""
    from portal import create_app

    return create_app({"DATABASE_URL": info.database_url, "SECRET_KEY": SECRET_KEY})


def _engine(url: str) -> Any:
    from portal.db import make_engine

    return make_engine(url)


def portal_server(info: SeedInfo, log: Path, whatif: list[str], timeout: int = 30) -> Server:
    """The portal under gunicorn (2 sync workers), configured for production but over plain HTTP."""
    # Rate-limit counts per process on purpose: the benchmark signs in once and measures pages, not limits.
    env = {
        "DATABASE_URL": info.database_url,
        "SECRET_KEY": SECRET_KEY,
        "PORTAL_ENV": "production",
        "SESSION_COOKIE_SECURE": "0",
        "PORTAL_BASE_URL": "http://127.0.0.1",
        "RATELIMIT_STORAGE_URI": "memory://",
        # the per-key limits of the JSON API and SCIM would answer wrk with 429s: lifted for the load runs
        "RATELIMIT_API": "100000000 per minute",
        "RATELIMIT_SCIM": "100000000 per minute",
    }
    app = "app:app"
    if whatif:
        env.update({"BENCH_WHATIF": ",".join(whatif), "BENCH_WHATIF_SERVE": "1"})
        app = "bench.whatif:app"
    return Server("portal", Path(sys.executable).parent / "gunicorn", app, ROOT, env, log, timeout=timeout)


def peer_names(options: Options) -> list[str]:
    return [name for name in peers.NAMES if getattr(options, name)]


def _check_and_warm(
    portal: Server, ceiling: Server, pages: dict[str, str], credential: Callable[[str], str], warmup: int
) -> dict[str, int]:
    """Each page answers 200 over HTTP (its size noted for the ceiling's page of the same bytes); both warmed."""
    sizes = {}
    for name, url in pages.items():
        answer = load.fetch(portal.port, url, credential(name))
        if answer.status != 200:
            raise RuntimeError(f"{name} {url} answered {answer.status} over HTTP")
        sizes[name] = len(answer.body)
        warm(portal, url, credential(name), warmup)
        warm(ceiling, f"/bytes/{sizes[name]}", "", warmup)
    return sizes


def _check_and_warm_peers(others: list[peers.Peer], warmup: int, log: Any) -> dict[str, dict[str, str]]:
    """Each peer signs in through its own form; each of its pages answers 200 (its size noted) and is warmed.
    A page that does not answer (an error, or no answer before gunicorn's timeout kills the worker) is left
    out of the rounds and returned, per peer, with what happened: the run goes on with the others."""
    unanswered: dict[str, dict[str, str]] = {}
    for peer in others:
        peer.sign_in_now()
        for name, path in list(peer.pages.items()):
            try:
                answer = load.fetch(peer.server.port, path, peer.cookie)
                problem = "" if answer.status == 200 else f"answered {answer.status}"
            except (OSError, http.client.HTTPException) as error:
                problem = f"no answer ({type(error).__name__}: the worker was killed at its timeout or failed)"
            if problem:
                log(f"  {peer.label} {name} {path}: {problem}; left out of the rounds")
                unanswered.setdefault(peer.name, {})[name] = problem
                del peer.pages[name]
                continue
            peer.sizes[name] = len(answer.body)
            warm(peer.server, path, peer.cookie, warmup)
    return unanswered


def _measure(options: Options, db: str, n: int, cluster: Cluster | None, info: SeedInfo) -> dict[str, Any]:
    log = options.log
    log("  probing pages in-process (statements, time)…")
    urls, probes = probe(info)
    pages = {name: url for name, url in urls.items() if url}
    skipped = [name for name, url in urls.items() if not url]
    config: dict[str, Any] = {
        "db": db,
        "users": n,
        "whatif": options.whatif,
        "seed": info.__dict__,
        "urls": urls,
        "skipped": skipped,
        "probes": [p.as_dict() for p in probes],
        "pages": list(pages),
        "rounds": [],
        "loader": options.loader,
        "threads": options.threads,
        "connections": options.connections,
        "duration": options.duration,
    }
    logs = options.data_dir / "logs" / f"{db}-{n}"
    for old in logs.glob("*.log"):
        old.unlink()
    others = peers.make(peer_names(options), options, db, n, cluster, info, logs)
    config["peer_urls"] = {peer.name: peer.pages for peer in others}
    config["peer_seeds"] = {peer.name: peer.seed for peer in others}
    config["peer_probes"] = {peer.name: peer.probes for peer in others}
    venv_bin = Path(sys.executable).parent
    servers = {
        "portal": portal_server(info, logs / "portal.log", options.whatif),
        "ceiling": Server("ceiling", venv_bin / "gunicorn", "bench.ceiling:app", ROOT, {}, logs / "ceiling.log"),
    }
    for peer in others:
        servers[peer.name] = peer.server
    try:
        for server in servers.values():
            server.start()
        own = lambda: [pid for s in servers.values() for pid in s.all_pids()] + (cluster.pids() if cluster else [])  # noqa: E731
        meter = CpuMeter(own)
        database = cluster.pids if cluster else None
        portal = servers["portal"]
        cookie = load.sign_in(portal.port, "/login", info.sign_in_fields(), 303)
        bearer = api_credential(_app(info), info)  # the JSON API's pages: a key, never the cookie
        provisioning = scim_credential(_app(info), info)  # SCIM: the account's provisioning token

        def credential(name: str) -> str:
            if name.startswith("scim"):
                return provisioning
            return bearer if name.startswith("api") else cookie

        sizes = _check_and_warm(portal, servers["ceiling"], pages, credential, options.warmup)
        config["sizes"] = sizes
        config["peer_unanswered"] = _check_and_warm_peers(others, options.warmup, log)
        config["peer_sizes"] = {peer.name: peer.sizes for peer in others}
        for round_no in range(1, options.rounds + 1):
            log(f"  round {round_no}/{options.rounds}")
            this_round: dict[str, Any] = {"round": round_no, "pages": {}}
            for name, url in pages.items():
                # Signing in again keeps the session fresh however long the run (idle timeout).
                if round_no > 1 and name == next(iter(pages)):
                    cookie = load.sign_in(portal.port, "/login", info.sign_in_fields(), 303)
                mine = run_load(
                    options, f"http://127.0.0.1:{portal.port}{url}", credential(name), meter, portal, database
                )
                ceiling = run_load(
                    options,
                    f"http://127.0.0.1:{servers['ceiling'].port}/bytes/{sizes[name]}",
                    "",
                    meter,
                    servers["ceiling"],
                )
                this_round["pages"][name] = {"portal": mine.as_dict(), "ceiling": ceiling.as_dict()}
                log(
                    f"    {name:<8} {mine.rps:8.1f} req/s p50 {mine.p50_ms:6.2f} p99 {mine.p99_ms:7.2f} ms"
                    f" | ceiling {ceiling.rps:7.1f} → ×{mine.rps / ceiling.rps if ceiling.rps else 0:.3f}"
                    f" | other load {max(mine.foreign_cpu, ceiling.foreign_cpu):.2f} cores"
                    + (f" | {mine.non_2xx} non-2xx!" if mine.non_2xx else "")
                    + (f" | {mine.errors} timeouts/errors" if mine.errors else "")
                    + (" | restarted (backlog)" if mine.restarted else "")
                )
                _check_body(mine, sizes[name], name)
                for peer in others:  # each peer's same page, right after the portal's
                    their_path = peer.pages.get(name)
                    if their_path is None:
                        continue
                    theirs = run_load(
                        options,
                        f"http://127.0.0.1:{peer.server.port}{their_path}",
                        peer.cookie,
                        meter,
                        peer.server,
                        database,
                    )
                    this_round["pages"][name][peer.name] = theirs.as_dict()
                    log(
                        f"      {peer.label:<12} {theirs.rps:8.1f} req/s p50 {theirs.p50_ms:6.2f} p99 "
                        f"{theirs.p99_ms:7.2f} ms "
                        + (f"→ ×{mine.rps / theirs.rps:.2f}" if theirs.rps else "(none answered: no ratio)")
                        + (f" | {theirs.non_2xx} non-2xx!" if theirs.non_2xx else "")
                    )
                    _check_body(theirs, peer.sizes[name], f"{peer.label} {name}")
            config["rounds"].append(this_round)
        config["rss_after_mb"] = [round(kb / 1024, 1) for kb in portal.rss_kb()]
        config["hwm_after_mb"] = [round(kb / 1024, 1) for kb in portal.hwm_kb()]
        if options.csv:
            csv_path = f"/accounts/{info.account_id}/users.csv"
            result = stream_csv(portal, csv_path, cookie)
            if result["rows"] < n:
                # A sync worker that streams for longer than gunicorn's --timeout is killed mid-file.
                log(
                    f"  CSV cut short at {result['rows']:,} rows ({result['seconds']} s, "
                    f"curl exit {result['curl_exit']});"
                    " again with --timeout 0"
                )
                config["csv_with_default_timeout"] = result
                portal.stop()
                portal.timeout = 0
                portal.start()
                cookie = load.sign_in(portal.port, "/login", info.sign_in_fields(), 303)
                result = stream_csv(portal, csv_path, cookie)
            config["csv"] = result
    finally:
        for server in servers.values():
            server.stop()
    config["summary"] = summarize(config)
    print_config(config, log)
    return config


def _check_body(result: load.LoadResult, size: int, name: str) -> None:
    """A signed-out redirect is small and fast: make sure wrk read pages of the expected size."""
    if result.non_2xx or (result.requests and result.bytes_per_response < size * 0.9):
        raise RuntimeError(
            f"{name}: {result.non_2xx} non-2xx responses, {result.bytes_per_response:.0f} bytes per"
            f" response for a page of {size} bytes: not the page that was meant"
        )


def run(options: Options) -> dict[str, Any]:
    # A SIGTERM (kill <pid>) unwinds like Ctrl-C, so the servers and the PostgreSQL cluster stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if options.loader == "wrk" and not load.have_wrk():
        options.log("wrk is not installed (apt-get install -y wrk): using the Python load loop")
        options.loader = "python"
    peers.install(peer_names(options), options.log)
    options.data_dir.mkdir(parents=True, exist_ok=True)
    if options.whatif:
        from bench.whatif import apply_patches

        apply_patches(options.whatif)  # for the in-process probes; the servers apply them too
    started = datetime.now(UTC)
    out = options.out or HOME / "results" / f"{started:%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "command": options.command,
        "machine": machine(),
        "code": {
            "fingerprint": code_fingerprint(ROOT),
            "snapshot": os.environ.get("BENCH_SNAPSHOT", ""),
            "source_git": os.environ.get("BENCH_SOURCE_GIT") or " ".join(f"{k}={v}" for k, v in git_state().items()),
        },
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in options.__dict__.items() if k != "log"},
        "configs": [],
    }
    for db in options.dbs:
        cluster = Cluster(options.pg_port).start() if db == "postgresql" else None
        try:
            for n in options.users:
                options.log(f"\n## {db}, {n:,} users")
                results["configs"].append(measure(options, db, n, cluster))
                out.write_text(json.dumps(results, indent=1, default=str))
        finally:
            if cluster:
                cluster.stop()
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    out.write_text(json.dumps(results, indent=1, default=str))
    if code_fingerprint(ROOT) != results["code"]["fingerprint"]:
        results["code"]["changed_during_run"] = True
        out.write_text(json.dumps(results, indent=1, default=str))
        options.log("\nWARNING: the code under test changed during the run (run from a snapshot to avoid this)")
    options.log(f"\nresults: {out}")
    return results
