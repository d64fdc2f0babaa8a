"""The declarative base, shared column types and one SQLAlchemy session per app context."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from flask import Flask, current_app
from flask.globals import app_ctx
from sqlalchemy import Connection, CursorResult, DateTime, Engine, Executable, MetaData, String, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def searchable(length: int) -> String:
    """A string searched by prefix and sorted: byte-ordered ("C" collation) on PostgreSQL, so that a
    range condition on its b-tree index is exactly a prefix match. SQLite compares bytes already."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


uuid_pk = Annotated[uuid.UUID, mapped_column(primary_key=True, default=uuid.uuid4)]
created_at = Annotated[datetime, mapped_column(UTCDateTime, default=utcnow)]
str100 = Annotated[str, mapped_column(String(100))]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime}


class _AppSession(Session):
    """A session that talks to the engine of the Flask app that is current."""

    # SQLAlchemy calls it by keyword (get_bind(mapper=…, clause=…)), so the names stay; one engine for all.
    def get_bind(self, mapper: Any = None, clause: Any = None, **kwargs: Any) -> Engine:  # noqa: ARG002
        return current_app.extensions["portal.engine"]  # type: ignore[no-any-return]


def _app_context_id() -> int:
    return id(cast(Any, app_ctx)._get_current_object())  # the context itself, not the proxy


session: scoped_session[Session] = scoped_session(
    sessionmaker(class_=_AppSession, expire_on_commit=False), scopefunc=_app_context_id
)


def rows_changed(statement: Executable) -> int:
    """Run an UPDATE or DELETE in the request's session: how many rows it changed (a conditional update's
    answer to "did I win?")."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin_before_savepoint(connection: Connection, _name: str) -> None:
    """pysqlite begins a transaction only before a write: a SAVEPOINT sent outside one starts a transaction
    of its own, and releasing it then COMMITS, so a service's savepoint would commit half a request.
    Begin the request's transaction first; IMMEDIATE, as a savepoint is there to write (and so waits for
    the write lock with the busy timeout, instead of failing on a read snapshot gone stale)."""
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# Seconds before a connection attempt to a PostgreSQL that does not answer fails.
CONNECT_TIMEOUT = 5


def make_engine(url: str, echo: bool = False) -> Engine:
    """An engine for the URL; SQLite gets foreign keys, WAL, a busy timeout and working savepoints."""
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _sqlite_begin_before_savepoint)
        return engine
    # A database that stops answering fails a request after CONNECT_TIMEOUT seconds instead of hanging it.
    # No server-side prepared statements (psycopg prepares a statement after its fifth run on a connection):
    # PostgreSQL may then plan it once for any values, and the statements built once and bound per call would keep
    # a plan made for none of them. The search's probe did: a sequential scan of users, 117-154 ms at 100k
    # instead of 0.7 (issue 20). Planned for its values each time, as before the fifth run.
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": CONNECT_TIMEOUT, "prepare_threshold": None},
    )


def init_app(app: Flask) -> None:
    """Bind an engine to the app and close the session when each app context ends."""
    app.extensions["portal.engine"] = make_engine(app.config["DATABASE_URL"], app.config["SQL_ECHO"])

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        session.remove()
