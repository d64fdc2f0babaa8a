"""Where a page's time goes: each SQL statement with its time and query plan, and a py-spy profile
of the gunicorn workers while wrk loads the page. Files land in bench/profiles/:

    <stem>.sql.txt            the statements of one request, their times and plans
    <stem>.speedscope.json    py-spy record --format speedscope (open in https://www.speedscope.app)
    <stem>.top.txt            the load run's figures and the functions with the most samples
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench import load
from bench.inprocess import probe
from bench.pg import Cluster
from bench.run import ROOT, Options, _engine, portal_database, portal_server, stream_csv
from bench.seed import SECRET_KEY, SeedInfo
from bench.snapshot import HOME

PROFILES = HOME / "profiles"
PY_SPY = [HOME / ".venv-tools" / "bin" / "py-spy", Path(sys.executable).parent / "py-spy"]


def py_spy() -> str:
    for candidate in PY_SPY:
        if candidate.exists():
            return str(candidate)
    found = shutil.which("py-spy")
    if found:
        return found
    subprocess.run([sys.executable, "-m", "venv", str(HOME / ".venv-tools")], check=True)
    subprocess.run([str(HOME / ".venv-tools" / "bin" / "pip"), "install", "-q", "py-spy"], check=True)
    return str(PY_SPY[0])


def explain_page(info: SeedInfo, url: str) -> str:
    """Each statement one request of the page sends: its time, its text, its plan."""
    from portal import create_app

    app = create_app({"DATABASE_URL": info.database_url, "SECRET_KEY": SECRET_KEY})
    engine = app.extensions["portal.engine"]
    client = app.test_client()
    statements: list[tuple[float, str, Any]] = []
    with contextlib.redirect_stderr(io.StringIO()):
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/login").get_data(as_text=True))
        assert token
        client.post("/login", data={**info.sign_in_fields(), "csrf_token": token.group(1)})
        client.get(url)

        def before(_c: Any, _cur: Any, _s: str, _p: Any, context: Any, _many: bool) -> None:
            context._bench_started = time.perf_counter()

        def after(_c: Any, _cur: Any, statement: str, parameters: Any, context: Any, _many: bool) -> None:
            statements.append(((time.perf_counter() - context._bench_started) * 1000, statement, parameters))

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        started = time.perf_counter()
        response = client.get(url)
        total = (time.perf_counter() - started) * 1000
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    out = [
        f"GET {url} -> {response.status_code}, {len(response.get_data())} bytes, {total:.1f} ms in-process, "
        f"{len(statements)} statements",
        "",
    ]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for n, (ms, statement, parameters) in enumerate(statements, start=1):
            out.append(f"-- {n}. execute {ms:.2f} ms")
            out.append(statement.strip())
            out.append(f"   parameters: {str(parameters)[:300]}")
            if engine.dialect.name == "sqlite":
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                plan = [row[3] for row in cursor.fetchall()]
                started = time.perf_counter()
                cursor.execute(statement, parameters)
                rows = cursor.fetchall()
                out.append(f"   plan: {' | '.join(plan)}")
                out.append(
                    f"   executed again, every row fetched: {(time.perf_counter() - started) * 1000:.2f} ms,"
                    f" {len(rows)} rows"
                )
            else:
                if statement.lstrip().upper().startswith("SELECT"):
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    out.extend("   " + row[0] for row in cursor.fetchall())
                raw.rollback()
            out.append("")
    finally:
        raw.close()
        engine.dispose()
    return "\n".join(out)


# Where a sample's time goes: the request phase (the outermost matching frame) and the library of
# the innermost frame (the code actually running).
PHASES = [
    ("before_request hooks (sign-in, access, limiter, ...)", "preprocess_request"),
    ("view: queries", "_list_context|_show_context|_members_view|members_page|list_users|with_details"),
    ("view: rendering", "render_template|render_block|render "),
    ("view: other", "dispatch_request"),
    ("after_request hooks and session cookie", "process_response"),
    ("teardown", "do_teardown_appcontext|do_teardown_request|AppContext.pop"),
    ("rest of Flask/Werkzeug per request", "wsgi_app"),
    ("gunicorn: accept, parse, write", "handle_request|SyncWorker.handle|SyncWorker.accept"),
]
LIBRARIES = [
    ("database driver (sqlite3 / psycopg)", r"do_execute|fetchall \(sqlalchemy/engine/cursor|psycopg/"),
    ("SQLAlchemy", "sqlalchemy/"),
    ("Jinja2 and MarkupSafe", "jinja2/|markupsafe/|templates/"),
    ("portal code", "portal/"),
    ("Flask / Werkzeug / Flask extensions", "flask/|werkzeug/|flask_login/|flask_wtf/|flask_limiter/|limits/|wtforms/"),
    ("itsdangerous, hashlib, hmac", "itsdangerous/|hashlib|hmac"),
    ("gunicorn", "gunicorn/"),
    ("logging, json", "logging/|json/"),
]


def breakdown(data: dict[str, Any]) -> list[str]:
    frames = data["shared"]["frames"]
    names = [f"{f['name']} ({f.get('file', '')})" for f in frames]
    phases: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    total = 0.0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            total += weight
            text_stack = [names[i] for i in stack]
            phase = "outside a request (idle loop, arbiter)"
            for label, pattern in PHASES:
                if any(re.search(pattern, frame) for frame in text_stack):
                    phase = label
                    break
            phases[phase] += weight
            library = "other (stdlib, ...)"
            leaf = text_stack[-1] if text_stack else ""
            for label, pattern in LIBRARIES:
                if re.search(pattern, leaf):
                    library = label
                    break
            libraries[library] += weight
    if not total:
        return []
    out = ["by request phase:"]
    out += [f"  {w / total:6.1%}  {label}" for label, w in phases.most_common()]
    out += ["", "by library (the innermost frame of each sample):"]
    out += [f"  {w / total:6.1%}  {label}" for label, w in libraries.most_common()]
    return out


def summarize_speedscope(path: Path, top: int = 30) -> str:
    """The frames with the most samples, by their own time and including their callees."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    own: Counter[int] = Counter()
    inclusive: Counter[int] = Counter()
    total = 0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            total += weight
            if stack:
                own[stack[-1]] += weight
            for frame in set(stack):
                inclusive[frame] += weight

    def label(i: int) -> str:
        frame = frames[i]
        file = str(frame.get("file", "")).replace(str(ROOT) + "/", "")
        file = re.sub(r".*/site-packages/", "", file)
        return f"{frame['name']} ({file}:{frame.get('line', '')})"

    lines = [f"{total:.1f} s of samples (py-spy weights), all processes", ""]
    lines += breakdown(data)
    lines += ["", "own time (the function itself):"]
    lines += [f"  {n / total:6.1%}  {label(i)}" for i, n in own.most_common(top)]
    lines += ["", "inclusive time (with what it calls):"]
    lines += [f"  {n / total:6.1%}  {label(i)}" for i, n in inclusive.most_common(top + 20)]
    return "\n".join(lines)


def profile(
    db: str, users: int, page: str, duration: float, pg_port: int, name: str = "", whatif: list[str] | None = None
) -> Path:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop the server and the cluster
    PROFILES.mkdir(parents=True, exist_ok=True)
    options = Options(users=[users], dbs=[db], pg_port=pg_port)
    options.data_dir.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(pg_port).start() if db == "postgresql" else None
    try:
        info = portal_database(options, db, users, cluster)
        pages = [p.strip() for p in page.split(",") if p.strip()]
        whatif = whatif or []
        if whatif:
            from bench.whatif import apply_ddl, apply_patches

            apply_patches(whatif)
            engine = _engine(info.database_url)
            apply_ddl(engine, whatif)
            engine.dispose()
        try:
            tops = [
                _profile(info, db, users, one, duration, name if len(pages) == 1 else "", whatif, options)
                for one in pages
            ]
            return tops[-1]
        finally:
            if whatif:
                engine = _engine(info.database_url)
                apply_ddl(engine, whatif, undo=True)
                engine.dispose()
    finally:
        if cluster:
            cluster.stop()


def _profile(
    info: SeedInfo, db: str, users: int, page: str, duration: float, name: str, whatif: list[str], options: Options
) -> Path:
    urls, _ = probe(info, timing_runs=1, extra=False)
    if page == "csv":
        url = f"/accounts/{info.account_id}/users.csv"
    elif page.startswith("/"):
        url = page.replace("{account}", info.account_id)
    else:
        url = urls.get(page) or ""
        if not url:
            raise SystemExit(f"no {page} page in this build")
    suffix = f"-whatif-{'+'.join(whatif)}" if whatif else ""
    stem = PROFILES / (name or f"{db}-{users}-{page if not page.startswith('/') else 'path'}{suffix}")
    # For the export, the statements of one chunk are enough (the whole export in-process takes minutes).
    explained = explain_page(info, f"{url}?q=user12345" if page == "csv" else url)
    Path(f"{stem}.sql.txt").write_text(explained + "\n")
    server = portal_server(info, options.data_dir / "logs" / "profile.log", whatif, timeout=0 if page == "csv" else 30)
    with server:
        cookie = load.sign_in(server.port, "/login", info.sign_in_fields(), 303)
        warm_url = url if page != "csv" else f"{url}?q=user12345"  # a few rows, not ten full exports
        for _ in range(10):
            load.fetch(server.port, warm_url, cookie)
        speedscope = Path(f"{stem}.speedscope.json")
        recorder = subprocess.Popen(
            [
                py_spy(),
                "record",
                "--subprocesses",
                "--pid",
                str(server.pid),
                "--rate",
                "250",
                "--format",
                "speedscope",
                "--output",
                str(speedscope),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(1.5)  # py-spy attaches to the workers
        figures: dict[str, Any]
        if page == "csv":
            figures = stream_csv(server, url, cookie)
        else:
            figures = load.run_wrk(f"http://127.0.0.1:{server.port}{url}", cookie, duration, 2, 16).as_dict()
        recorder.send_signal(2)  # SIGINT: py-spy writes the file and exits
        recorder.wait(timeout=60)
    top = Path(f"{stem}.top.txt")
    top.write_text(
        f"{db}, {users:,} users, GET {url}" + (f", what-if: {','.join(whatif)}" if whatif else "") + "\n"
        f"load: {json.dumps(figures)}\n\n" + summarize_speedscope(speedscope) + "\n"
    )
    print(top.read_text()[:4000])
    print(f"\nwritten: {stem}.sql.txt, {stem}.speedscope.json, {stem}.top.txt")
    return top
