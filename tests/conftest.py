"""Fixtures: an app on a migrated database (SQLite, or PostgreSQL when DATABASE_URL says so),
clients, a live server and Playwright on Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.serving import make_server

from portal import create_app, migrate
from portal.db import Base
from tests.helpers import Portal, Tenant

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).parent / "browser" / "screenshots"


def _reset_schema(app: Flask) -> None:
    """Start the session from an empty database, so the migrations run from the first one."""
    engine = app.extensions["portal.engine"]
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))


def make_test_app(database_url: str, **overrides: object) -> Flask:
    """An app configured for tests against the given database."""
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key-that-is-long-enough-1234",
            "PORTAL_BASE_URL": "http://portal.example.com",
            **overrides,
        }
    )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PostgreSQL when DATABASE_URL is set, a fresh SQLite file otherwise."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.db'}"


@pytest.fixture(scope="session")
def app(database_url: str) -> Flask:
    app = make_test_app(database_url)
    _reset_schema(app)
    migrate.upgrade(app)
    return app


@pytest.fixture(autouse=True)
def _clean_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts from empty tables (the schema stays)."""
    yield
    if "app" not in request.fixturenames:
        return
    app: Flask = request.getfixturevalue("app")
    engine = app.extensions["portal.engine"]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(table.name for table in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def portal(app: Flask) -> Portal:
    """Factories and signed-in clients (see tests/helpers.py)."""
    return Portal(app)


@pytest.fixture
def a(portal: Portal) -> Tenant:
    """Tenant A: an account, its owner and one user per built-in role (Portal.tenant, tests/helpers.py)."""
    return portal.tenant("A")


@pytest.fixture
def b(portal: Portal) -> Tenant:
    """Tenant B, the other account the isolation tests try to reach."""
    return portal.tenant("B")


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    """The app served on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def base_url(live_server: str) -> str:
    return live_server


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


class SmtpServer:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives.

    `messages` holds each received email, parsed; `stop()` and `start()` simulate an outage
    (connections are refused in between); `refuse[address] = "550 …"` makes it refuse a recipient.
    """

    def __init__(self) -> None:
        import socket

        with socket.socket() as probe:  # Controller(port=0) does not work: bind a free port first
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.host = "127.0.0.1"
        self.messages: list[Any] = []
        self.refuse: dict[str, str] = {}
        self._controller: Any = None

    async def handle_RCPT(self, _server: Any, _session: Any, envelope: Any, address: str, _options: Any) -> str:
        reply = self.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        import email
        import email.policy

        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        if self._controller is None:
            self._controller = Controller(self, hostname=self.host, port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Any]:
        """The messages, once at least `count` have arrived (or the timeout passed)."""
        import time

        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running SmtpServer on a free loopback port (see the class); stopped after the test."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset_rate_limits() -> Iterator[None]:
    """Each test starts with no rate-limit counts (the limiter's in-memory storage outlives apps)."""
    yield
    from portal.extensions import limiter

    if getattr(limiter, "_storage", None) is not None:
        limiter.reset()
