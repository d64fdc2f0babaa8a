"""The benchmark in smoke mode, for CI: a few hundred users, every page loaded for a moment with
the Python loop (wrk not needed), one round, no Flask-AppBuilder. It fails when a page does not
answer 200 under load, sends more SQL statements than a page of a list should, or the CSV export
does not stream every row."""

from __future__ import annotations

from pathlib import Path

from bench.run import Options, measure

MAX_STATEMENTS = 20  # a page of 20 rows with an N+1 query would send more than this


def smoke(users: int, data_dir: Path, database_url: str = "") -> bool:
    data_dir.mkdir(parents=True, exist_ok=True)
    options = Options(
        users=[users],
        dbs=["sqlite"],
        rounds=1,
        duration=0.7,
        threads=1,
        connections=4,
        fab=False,
        django=False,
        lean=False,
        loader="python",
        reseed=True,
        data_dir=data_dir,
        warmup=2,
        database_url=database_url or f"sqlite:///{data_dir / 'smoke.db'}",
    )
    config = measure(options, "postgresql" if database_url.startswith("postgresql") else "sqlite", users, None)
    failures = []
    for name, summary in config["summary"].items():
        if name.startswith("_"):
            continue
        if summary["non_2xx"] or summary["errors"] or summary["rps"] <= 0:
            failures.append(f"{name}: {summary['non_2xx']} non-2xx, {summary['errors']} errors, {summary['rps']} req/s")
    for probe in config["probes"]:
        if probe["note"]:
            continue
        if probe["status"] != 200:
            failures.append(f"{probe['name']}: status {probe['status']} in-process")
        if probe["statements"] > MAX_STATEMENTS:
            failures.append(f"{probe['name']}: {probe['statements']} SQL statements (more than {MAX_STATEMENTS})")
    csv = config.get("csv") or {}
    if csv.get("rows") != users:
        failures.append(f"CSV streamed {csv.get('rows')} rows of {users}")
    for failure in failures:
        print(f"SMOKE FAILURE: {failure}")
    print("smoke: ok" if not failures else "smoke: failed")
    return not failures
