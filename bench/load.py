"""HTTP for the benchmark: fetching with a cookie, signing in through a form, and load generators
(wrk when it is installed, a small Python loop otherwise)."""

from __future__ import annotations

import html
import http.client
import re
import shutil
import statistics
import subprocess
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass
from http.cookies import SimpleCookie
from typing import Any

HOST = "127.0.0.1"
# The token's field: Flask-WTF's csrf_token (the portal, FAB), or Django's csrfmiddlewaretoken.
_CSRF = re.compile(
    r'name="(csrf_token)" type="hidden" value="([^"]+)"|<meta name="csrf-token" content="([^"]+)"'
    r'|name="(csrfmiddlewaretoken)" value="([^"]+)"'
)


@dataclass
class Fetched:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def credential_header(cookie: str) -> tuple[str, str]:
    """The header that carries a credential: "Bearer <key>" (the JSON API's pages) goes in Authorization,
    anything else is a signed-in Cookie header."""
    return ("Authorization", cookie) if cookie.startswith("Bearer ") else ("Cookie", cookie)


def fetch(
    port: int,
    path: str,
    cookie: str = "",
    method: str = "GET",
    form: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> Fetched:
    """One request on a fresh connection (gunicorn's sync workers close it anyway)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    headers = dict([credential_header(cookie)]) if cookie else {}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return Fetched(response.status, response.headers, response.read())
    finally:
        connection.close()


def _cookies(headers: http.client.HTTPMessage, jar: dict[str, str]) -> dict[str, str]:
    for header in headers.get_all("Set-Cookie") or []:
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            jar[name] = morsel.value
    return jar


def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def sign_in(port: int, login_path: str, fields: dict[str, str], expect: int) -> str:
    """GET the login form, POST it with its CSRF token; returns the signed-in Cookie header."""
    page = fetch(port, login_path)
    jar = _cookies(page.headers, {})
    match = _CSRF.search(page.text)
    if not match:
        raise RuntimeError(f"no CSRF token on {login_path}")
    field, token = match.group(4) or "csrf_token", html.unescape(match.group(2) or match.group(3) or match.group(5))
    answer = fetch(port, login_path, cookie_header(jar), "POST", {**fields, field: token})
    if answer.status != expect:
        raise RuntimeError(f"signing in at {login_path} answered {answer.status}, not {expect}")
    return cookie_header(_cookies(answer.headers, jar))


def links(page: str) -> dict[str, str]:
    """The hrefs of a page's links by their text (the last of equal texts wins)."""
    found = {}
    for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', page):
        found[html.unescape(label).strip()] = html.unescape(href)
    return found


@dataclass
class LoadResult:
    """What one load run measured."""

    tool: str
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    bytes_per_response: float
    errors: int  # socket errors and timeouts
    non_2xx: int  # statuses other than 2xx (and 3xx for wrk, which cannot tell them apart)
    foreign_cpu: float = 0.0  # cores used by processes outside the benchmark during the run
    rss_kb: tuple[int, ...] = ()
    restarted: bool = False  # the server still had a backlog after the run and was started again

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_SIZES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> LoadResult:
    """Requests/sec, the 50 % and 99 % latencies and the error counts of `wrk --latency`."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", output)
    assert total, output
    requests = int(total.group(1))
    seconds = _ms(total.group(2) + total.group(3)) / 1000
    read = float(total.group(4)) * _SIZES[total.group(5)]
    errors = 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        # gunicorn's sync workers close every connection; wrk may count that as a read error on a
        # connection it meant to reuse, so only connect errors and timeouts are failures.
        errors = int(socket_errors.group(1)) + int(socket_errors.group(4))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return LoadResult(
        "wrk",
        seconds,
        requests,
        rps,
        p50,
        p99,
        read / max(1, requests),
        errors,
        int(non_2xx.group(1)) if non_2xx else 0,
    )


def run_wrk(url: str, cookie: str, seconds: float, threads: int, connections: int) -> LoadResult:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "30s",
    ]
    if cookie:
        command += ["-H", ": ".join(credential_header(cookie))]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    return parse_wrk(output)


def run_python(url: str, cookie: str, seconds: float, connections: int) -> LoadResult:
    """A closed loop of `connections` threads, each sending a request as soon as the last one ends."""
    parsed = urllib.parse.urlsplit(url)
    path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    port = parsed.port or 80
    latencies: list[float] = []
    statuses: list[int] = []
    sizes: list[int] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                answer = fetch(port, path, cookie, timeout=30)
            except OSError:
                with lock:
                    errors[0] += 1
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                statuses.append(answer.status)
                sizes.append(len(answer.body))

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    n = len(latencies)
    return LoadResult(
        "python",
        round(elapsed, 2),
        n,
        n / elapsed if elapsed else 0.0,
        statistics.median(latencies) if n else 0.0,
        latencies[min(n - 1, int(n * 0.99))] if n else 0.0,
        statistics.mean(sizes) if sizes else 0.0,
        errors[0],
        sum(1 for s in statuses if not 200 <= s < 300),
    )


def have_wrk() -> bool:
    return shutil.which("wrk") is not None
