"""Evidence for the search fix: the users search's two statements as the portal sends them now,
against two proposed forms, timed on a seeded database (median of 5) with their plans.

    python -m bench.search_sql bench/.data/portal-sqlite-1000000.json [q]
    python -m bench.search_sql --postgresql 1000000 [q]      (a throwaway cluster, seeded first)

now       the union of the four index ranges, joined back to users, then counted (up to 10,001)
          and sorted for the page: PostgreSQL hash-joins it to a sequential scan of users
arms      each range carries the owner condition and the sort columns, the page's 21 ids are
          chosen from the union alone, and only those 21 rows are read from users
capped    "arms" with each range read up to 1,000 rows: the cost no longer grows with the matches
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from portal.pagination import COUNT_CAP

CAP = 1_000


def _arms(pg: bool, cap: int | None, columns: str) -> str:
    owner = "NOT is_owner" if pg else "is_owner = 0"
    ranges = [
        "email >= :lo AND email < :hi",
        "login >= :lo AND login < :hi",
        "lower(first_name) >= :lo AND lower(first_name) < :hi",
        "lower(last_name) >= :lo AND lower(last_name) < :hi",
    ]
    arms = []
    for condition in ranges:
        arm = f"SELECT {columns} FROM users WHERE account_id = :a AND {owner} AND {condition}"
        if cap:
            arm = f"SELECT * FROM ({arm} LIMIT {cap}) AS r"
        arms.append(arm)
    return " UNION ".join(arms)


def statements(pg: bool) -> dict[str, tuple[str, str]]:
    owner = "users.is_owner IS false" if pg else "users.is_owner IS 0"
    now_union = _arms(pg, None, "id").replace(" AND NOT is_owner", "").replace(" AND is_owner = 0", "")
    join = f"FROM users JOIN ({now_union}) AS matches ON matches.id = users.id WHERE users.account_id = :a AND {owner}"
    order = "ORDER BY users.first_name, users.last_name, users.id"
    forms = {
        "now": (
            f"SELECT count(*) FROM (SELECT users.id {join} LIMIT {COUNT_CAP + 1}) AS c",
            f"SELECT users.* {join} {order} LIMIT 21",
        )
    }
    for name, cap in (("arms", None), ("capped", CAP)):
        union = _arms(pg, cap, "id, first_name, last_name")
        forms[name] = (
            f"SELECT count(*) FROM (SELECT id FROM ({union}) AS m LIMIT {COUNT_CAP + 1}) AS c",
            f"SELECT users.* FROM users JOIN (SELECT id, first_name, last_name FROM ({union}) AS m "
            f"ORDER BY first_name, last_name, id LIMIT 21) AS p ON p.id = users.id {order}",
        )
    return forms


def measure(url: str, account_id: str, q: str) -> str:
    engine = create_engine(url)
    pg = engine.dialect.name == "postgresql"
    params: dict[str, Any] = {
        "a": account_id if pg else account_id.replace("-", ""),
        "lo": q,
        "hi": q[:-1] + chr(ord(q[-1]) + 1),
    }
    out = [f"{engine.dialect.name}, q={q!r}", ""]
    with engine.connect() as connection:
        for name, (count_sql, page_sql) in statements(pg).items():
            for label, sql in (("count", count_sql), ("page", page_sql)):
                timings = []
                for _ in range(5):
                    started = time.perf_counter()
                    rows = connection.execute(text(sql), params).all()
                    timings.append((time.perf_counter() - started) * 1000)
                result = rows[0][0] if label == "count" else f"{len(rows)} rows, first {rows[0].first_name}"
                out.append(f"{name:<7} {label:<5} {statistics.median(timings):8.2f} ms  ({result})")
                explain = "EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN "
                plan = connection.execute(text(explain + sql), params).all()
                lines = [str(r[0]) for r in plan] if pg else [str(r[3]) for r in plan]
                out.extend("        " + line for line in lines)
            out.append("")
    engine.dispose()
    return "\n".join(out)


def main(argv: list[str]) -> None:
    q = "user12"
    if argv[0] == "--postgresql":
        from bench.pg import Cluster
        from bench.seed import seed

        n = int(argv[1])
        q = argv[2] if len(argv) > 2 else q
        with Cluster(55441) as cluster:
            info = seed(cluster.create_database(f"search_{n}"), n)
            report = measure(info.database_url, info.account_id, q)
        name = f"search-sql-postgresql-{n}.txt"
    else:
        from bench.seed import SeedInfo

        info = SeedInfo.load(Path(argv[0]))
        assert info, f"no seed info in {argv[0]}"
        q = argv[1] if len(argv) > 1 else q
        report = measure(info.database_url, info.account_id, q)
        name = f"search-sql-sqlite-{info.users}.txt"
    from bench.snapshot import HOME

    (HOME / "profiles" / name).write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main(sys.argv[1:])
