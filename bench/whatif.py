"""What if a proposed fix were in? Bench-only monkeypatches of the portal and extra indexes, to
measure a fix before anyone writes it. Never used for the headline figures; the portal's code is
not touched (the patches live here and apply in the benchmark's processes only).

    BENCH_WHATIF=search-cap BENCH_WHATIF_SERVE=1 gunicorn bench.whatif:app
    python -m bench run --whatif search-cap ...   (DDL fixes, if any, are applied and undone by the run)

Fixes (the ones measured earlier -- owner, search-arms, members-index -- are in the portal now):
  search-cap     the search reads at most SEARCH_CAP (1,000) matches from each index range before
                 sorting and counting them, so a search costs the same at 10k and at 1M users
                 (the page then shows the first matches by name among those, and "1,000+")
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, select, text

DDL: dict[str, tuple[str, str]] = {}
SEARCH_CAP = 1_000


def _search_cap() -> None:
    from sqlalchemy import union

    from portal.models import User
    from portal.search import person_options
    from portal.users import queries

    def search(account_id: Any, q: str) -> Any:
        options = person_options(q)
        ranges = [
            select(User.id).where(User.account_id == account_id, option).limit(SEARCH_CAP).subquery()
            for option in options
        ]
        return union(*(select(r.c.id) for r in ranges)).subquery("matches")

    queries._search = search


PATCHES = {"search-cap": _search_cap}


def names(value: str) -> list[str]:
    chosen = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in PATCHES and n not in DDL]
    if unknown:
        raise SystemExit(f"unknown what-if fixes: {', '.join(unknown)} (known: {', '.join([*PATCHES, *DDL])})")
    return chosen


def apply_patches(chosen: list[str]) -> None:
    for name in chosen:
        if name in PATCHES:
            PATCHES[name]()


def apply_ddl(engine: Engine, chosen: list[str], undo: bool = False) -> None:
    """Statements a fix needs in the database (an index, say), or their undoing."""
    with engine.begin() as connection:
        for name in chosen:
            if name in DDL:
                connection.execute(text(DDL[name][1 if undo else 0]))


def _app() -> Any:
    apply_patches(names(os.environ.get("BENCH_WHATIF", "")))
    from portal import create_app

    return create_app()


app = _app() if os.environ.get("BENCH_WHATIF_SERVE") == "1" else None
