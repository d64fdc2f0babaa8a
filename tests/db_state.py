"""The whole database as plain rows: take it, compare two, put an earlier one back (fuzz and "nothing changed" tests).

Meant for the small databases tests build (a few tenants): every row of every table the models
declare, keyed by primary key. Generic over the schema, so a new table or column is covered
without touching this file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import Table, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from portal.db import Base

Row = dict[str, Any]
Dump = dict[str, dict[tuple[Any, ...], Row]]

# Written by reading requests, not by what a request asks for: never compared, never put back.
VOLATILE_COLUMNS = {
    # last_seen_at: touched at most once a minute by any signed-in request; permissions*: the session's cache
    # of its permissions, written by the sign-in check and emptied by triggers when grants change.
    "login_sessions": {"last_seen_at", "permissions", "permissions_until", "permissions_stamp"},
    "api_keys": {"last_used_at"},
}


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def _key(table: Table, row: Row) -> tuple[Any, ...]:
    return tuple(row[column.name] for column in table.primary_key.columns)


def table_names() -> list[str]:
    """The tables, parents first: the order of take()'s dump and of fingerprint()'s parts."""
    return [table.name for table in _tables()]


def take(app: Flask, names: Iterable[str] | None = None) -> Dump:
    """Every row of every table (or of the tables named), by table name and primary key (volatile columns
    left out)."""
    engine = app.extensions["portal.engine"]
    wanted = set(names) if names is not None else None
    dump: Dump = {}
    with engine.connect() as connection:
        for table in _tables():
            if wanted is not None and table.name not in wanted:
                continue
            skip = VOLATILE_COLUMNS.get(table.name, set())
            columns = [column for column in table.columns if column.name not in skip]
            rows = (dict(row._mapping) for row in connection.execute(select(*columns)))
            dump[table.name] = {_key(table, row): row for row in rows}
    return dump


def fingerprint(app: Flask) -> tuple[Any, ...]:
    """A cheap stand-in for take(): equal fingerprints mean equal contents (volatile columns aside).

    Unequal ones may still hold equal contents (rows put back in another order): compare take()s then."""
    engine = app.extensions["portal.engine"]
    tables = [
        (table.name, [c.name for c in table.columns if c.name not in VOLATILE_COLUMNS.get(table.name, set())])
        for table in _tables()
    ]
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        if engine.dialect.name == "postgresql":  # one round trip: a hash of each table's rows, in a fixed order
            parts = [
                f"(SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                f"FROM (SELECT {', '.join(_quoted(c) for c in columns)} FROM {_quoted(name)}) AS x)"
                for name, columns in tables
            ]
            cursor.execute("SELECT " + ", ".join(parts))
            return tuple(cursor.fetchone())
        found = []
        for name, columns in tables:
            cursor.execute(f"SELECT {', '.join(_quoted(c) for c in columns)} FROM {_quoted(name)}")
            found.append(frozenset(cursor.fetchall()))
        return tuple(found)
    finally:
        connection.close()


def write_mark(app: Flask) -> Any:
    """A mark that moves whenever anything is written, cheaper than a fingerprint: PostgreSQL's WAL insert
    position (one tiny query). None elsewhere: SQLite's fingerprint is cheap (its files' sizes and times did not
    prove a reliable mark)."""
    engine = app.extensions["portal.engine"]
    if engine.dialect.name != "postgresql":
        return None
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT pg_current_wal_insert_lsn()")
        return cursor.fetchone()[0]
    finally:
        connection.close()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Difference:
    """How one dump differs from another, table by table: rows added, removed and changed (by key)."""

    added: dict[str, list[Row]]
    removed: dict[str, list[Row]]
    changed: dict[str, list[tuple[Row, Row]]]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def rows(self) -> Iterable[tuple[str, Row]]:
        """Every row involved, old and new, with its table name."""
        for source in (self.added, self.removed):
            for name, rows in source.items():
                yield from ((name, row) for row in rows)
        for name, pairs in self.changed.items():
            for old, new in pairs:
                yield name, old
                yield name, new

    def summary(self, limit: int = 6) -> str:
        """A few lines a person can read in a failure message."""
        lines = []
        for label, source in (("added", self.added), ("removed", self.removed)):
            lines += [f"{label} {name}: {rows[:2]}" for name, rows in source.items()]
        for name, pairs in self.changed.items():
            for old, new in pairs[:2]:
                lines.append(
                    f"changed {name}: " + ", ".join(f"{k}: {old[k]!r} -> {new[k]!r}" for k in old if old[k] != new[k])
                )
        return "\n".join(lines[:limit])


def compare(before: Dump, after: Dump) -> Difference:
    """What changed from `before` to `after`."""
    added: dict[str, list[Row]] = {}
    removed: dict[str, list[Row]] = {}
    changed: dict[str, list[tuple[Row, Row]]] = {}
    for name in before.keys() | after.keys():
        old, new = before.get(name, {}), after.get(name, {})
        if old == new:
            continue
        if plus := [new[key] for key in new.keys() - old.keys()]:
            added[name] = plus
        if minus := [old[key] for key in old.keys() - new.keys()]:
            removed[name] = minus
        if diff := [(old[key], new[key]) for key in old.keys() & new.keys() if old[key] != new[key]]:
            changed[name] = diff
    return Difference(added, removed, changed)


def restore(app: Flask, baseline: Dump, current: Dump | None = None) -> None:
    """Put the database back as it was in `baseline`, touching only the rows that differ; `current` is the
    database now, when known, and may hold only the tables that changed (then only those are looked at).

    Added rows are removed children first, changed rows set back, removed rows put back parents first.
    Every foreign key cascades or sets NULL, and triggers keep per-account user counts, so removing a
    row can move others: the next pass settles them."""
    engine = app.extensions["portal.engine"]
    tables = _tables()
    names = list(current) if current is not None else table_names()
    for attempt in range(6):
        before = {name: baseline.get(name, {}) for name in names}
        difference = compare(before, current if current is not None else take(app, names))
        current = None
        if not difference:
            return
        try:
            with engine.begin() as connection:
                for table in reversed(tables):
                    for row in difference.added.get(table.name, []):
                        connection.execute(delete(table).where(_matches(table, row)))
                for table in tables:
                    changed = difference.changed.get(table.name, [])
                    # Setting rows back one by one can collide on a unique rule that holds before and after
                    # (one owner per account, while two rows swap the mark): every other attempt, the other way.
                    for old, _new in reversed(changed) if attempt % 2 else changed:
                        connection.execute(update(table).where(_matches(table, old)).values(**old))
                    rows = difference.removed.get(table.name, [])
                    if rows:
                        connection.execute(insert(table), rows)
        except IntegrityError:
            continue
    raise AssertionError(f"the database could not be restored:\n{compare(baseline, take(app)).summary()}")


def empty(app: Flask) -> None:
    """Every table emptied (the schema stays)."""
    engine = app.extensions["portal.engine"]
    with engine.begin() as connection:
        for table in reversed(_tables()):
            connection.execute(delete(table))


def _matches(table: Table, row: Row) -> Any:
    return and_(*(column == row[column.name] for column in table.primary_key.columns))
