"""Real processes for tests (gunicorn, the worker, redis-server), each on a free loopback port and
stopped by its PID within a bounded time, and a small HTTP client with cookies and CSRF tokens."""

from __future__ import annotations

import html.parser
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TEST_SECRET_KEY = "live-test-secret-key-that-is-long-enough-0123456789"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """condition()'s first truthy value, or AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


@dataclass
class Process:
    """A child process with its output in a log file; stop() signals it by PID and waits (bounded)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.running():
            os.kill(self.pid, signum)

    def wait(self, timeout: float) -> int:
        """The exit status once it has exited; AssertionError if still running after `timeout` s."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout} s; see {self.log}") from None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds; the exit status (None if never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def portal_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a portal process: production settings over plain HTTP on loopback."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PORTAL_", "RATELIMIT_", "SMTP_", "PROMETHEUS_"))
        and key not in {"DATABASE_URL", "REDIS_URL", "METRICS_TOKEN", "SECRET_KEY"}
    }
    env.update(
        {
            "FLASK_APP": "app",
            "PORTAL_ENV": "production",
            "SECRET_KEY": TEST_SECRET_KEY,
            "SESSION_COOKIE_SECURE": "0",
            "DATABASE_URL": database_url,
            "PORTAL_BASE_URL": "http://portal.example.com",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(settings)
    return env


class Gunicorn(Process):
    """`gunicorn --config gunicorn.conf.py app:app` on a free loopback port."""

    def __init__(self, name: str, env: dict[str, str], log: Path, workers: int = 2) -> None:
        self.port = free_port()
        super().__init__(
            name,
            [
                str(BIN / "gunicorn"),
                "--config",
                "gunicorn.conf.py",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "10",
                "app:app",
            ],
            env,
            log,
        )
        self.workers = workers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 40.0) -> Gunicorn:
        super().start()
        return self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 40.0) -> Gunicorn:
        """Once started (Process.start), wait until /healthz answers."""

        def answers() -> bool:
            if not self.running():
                raise AssertionError(f"{self.name} exited at start:\n{self.output()[-3000:]}")
            try:
                return Browser(self.url).get("/healthz").status == 200
            except OSError:
                return False

        wait_until(answers, timeout, f"{self.name} to answer /healthz", every=0.2)
        return self


def worker(name: str, env: dict[str, str], log: Path, *args: str) -> Process:
    """`flask portal worker` with the given options."""
    return Process(name, [str(BIN / "flask"), "portal", "worker", *args], env, log)


def flask_command(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `flask <args>` to its end (bounded) and return what it did."""
    return subprocess.run(
        [str(BIN / "flask"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class RedisServer(Process):
    """Debian's redis-server in the foreground on a free loopback port, nothing saved to disk."""

    def __init__(self, log: Path, binary: str = "redis-server", port: int | None = None) -> None:
        self.port = port or free_port()
        super().__init__(
            "redis",
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            dict(os.environ),
            log,
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        super().start()
        wait_until(lambda: redis_ping(self.port), timeout, "redis-server to answer PING")
        return self


def redis_ping(port: int) -> bool:
    """Whether a Redis server answers PING on the port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def running(*processes: Process) -> Iterator[None]:
    """Stop the processes however the block ends: SIGTERM to each by its PID, then wait for each (bounded)."""
    try:
        yield
    finally:
        for process in processes:
            if process.running():
                process.signal(signal.SIGTERM)
        for process in processes:
            process.stop()


# --- HTTP ---------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


class _Inputs(html.parser.HTMLParser):
    """The named inputs (and their values) of the first form with the given action."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.done = action, False, False
        self.values: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form" and not self.done and (found.get("action") or "") == self.action:
            self.inside = True
        elif self.inside and tag == "input" and found.get("name") and found.get("type") not in {"checkbox", "radio"}:
            self.values[str(found["name"])] = found.get("value") or ""
        elif self.inside and tag == "textarea" and found.get("name"):
            self._textarea = str(found["name"])
            self.values[self._textarea] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        if tag == "form" and self.inside:
            self.inside, self.done = False, True


def form_values(page: str, action: str) -> dict[str, str]:
    """What a browser would submit from the form posting to `action`, unchanged."""
    parser = _Inputs(action)
    parser.feed(page)
    assert parser.values, f"no form posting to {action}"
    return parser.values


@dataclass
class Browser:
    """A client of one portal instance, whose cookie jar may be shared with clients of others (as a
    browser's would be for one site behind a balancer). Follows no redirect."""

    base_url: str
    cookies: dict[str, str] = field(default_factory=dict)
    address: str = ""  # sent as X-Forwarded-For (the portal trusts one proxy in these tests)

    def on(self, base_url: str) -> Browser:
        """The same browser (same cookie jar) talking to another instance."""
        return Browser(base_url, self.cookies, self.address)

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Answer:
        parts = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if self.address:
            sent["X-Forwarded-For"] = self.address
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode(errors="replace")
            for header, value in response.getheaders():
                if header.lower() == "set-cookie":
                    self._keep(value)
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, text)
        finally:
            connection.close()

    def _keep(self, header: str) -> None:
        for name, morsel in SimpleCookie(header).items():
            if morsel["max-age"] == "0" or not morsel.value or "1970" in morsel["expires"]:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def csrf(self) -> str:
        """A CSRF token of this browser's session (every page's layout carries one)."""
        match = _CSRF.search(self.get("/__csrf__").body)  # a 404 page has the layout, signed in or not
        assert match, "no csrf-token in the layout"
        return match.group(1)

    def post(self, path: str, form: dict[str, str] | None = None, csrf: str | None = None, **kwargs: Any) -> Answer:
        data = dict(form or {})
        data.setdefault("csrf_token", csrf or self.csrf())
        return self.request("POST", path, form=data, **kwargs)

    def sign_in(self, account: str, login: str, password: str) -> Answer:
        return self.post("/login", {"account": account, "login": login, "password": password})
