"""Where one users page's time goes, in-process (no HTTP, no concurrency): the view's data (its
queries and the rows they load), the template, and the rest (the sign-in check, Flask and Werkzeug,
security headers, the request log) — beside a bare Flask page of the same byte size through the
same test client. It bounds what the page can reach against the ceiling whatever the database does."""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from collections.abc import Callable
from typing import Any

from flask import Flask

from bench.inprocess import _TOKEN
from bench.seed import SECRET_KEY, SeedInfo


def _timed(spent: list[float], function: Callable[..., Any], cpu: list[float] | None = None) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started, started_cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)
            if cpu is not None:
                cpu.append(time.thread_time() - started_cpu)

    return wrapper


def breakdown(info: SeedInfo, runs: int = 300) -> dict[str, float]:
    """Median milliseconds of the users page, split; a bare page of the same size for comparison."""
    import portal.rendering as rendering
    import portal.users.routes as routes
    from portal import create_app

    data: list[float] = []
    template: list[float] = []
    # The same split in CPU time (this thread's): steadier than the clock on a shared machine.
    data_cpu: list[float] = []
    template_cpu: list[float] = []
    total_cpu: list[float] = []
    real_context, real_render = routes._list_context, rendering.render_template
    routes._list_context = _timed(data, real_context, data_cpu)  # type: ignore[assignment]
    rendering.render_template = _timed(template, real_render, template_cpu)
    try:
        app = create_app({"DATABASE_URL": info.database_url, "SECRET_KEY": SECRET_KEY})
        client = app.test_client()
        token = _TOKEN.search(client.get("/login").get_data(as_text=True))
        assert token, "the login page carries no CSRF token"
        client.post("/login", data={**info.sign_in_fields(), "csrf_token": token.group(1)})
        url = f"/accounts/{info.account_id}/users"
        size = len(client.get(url).get_data())
        bare = Flask("bare")
        bare.get("/")(lambda: "x" * size)
        bare_client = bare.test_client()
        total: list[float] = []
        empty: list[float] = []
        with contextlib.redirect_stderr(io.StringIO()):  # the request log
            for _ in range(30):
                client.get(url)
                bare_client.get("/")
            for spent in (data, template, data_cpu, template_cpu):
                spent.clear()
            for _ in range(runs):
                started, started_cpu = time.perf_counter(), time.thread_time()
                client.get(url)
                total.append(time.perf_counter() - started)
                total_cpu.append(time.thread_time() - started_cpu)
                started = time.perf_counter()
                bare_client.get("/")
                empty.append(time.perf_counter() - started)
        app.extensions["portal.engine"].dispose()
    finally:
        routes._list_context, rendering.render_template = real_context, real_render
    ms = {
        name: statistics.median(values) * 1000
        for name, values in (
            ("total", total),
            ("data", data),
            ("template", template),
            ("bare", empty),
            ("cpu total", total_cpu),
            ("cpu data", data_cpu),
            ("cpu template", template_cpu),
        )
    }
    ms["rest"] = ms["total"] - ms["data"] - ms["template"]
    ms["cpu rest"] = ms["cpu total"] - ms["cpu data"] - ms["cpu template"]
    # The fastest tenth: what the page costs when no other process disturbs it (the median moves with the load).
    ms["cpu p10"] = statistics.quantiles(total_cpu, n=10)[0] * 1000
    return ms


def describe(ms: dict[str, float]) -> str:
    return (
        f"users page {ms['total']:.2f} ms = data {ms['data']:.2f} + template {ms['template']:.2f} + rest "
        f"{ms['rest']:.2f}; a bare page of the same size {ms['bare']:.2f} ms "
        f"(the template alone is {ms['template'] / ms['bare']:.1f}× the bare page)\n"
        f"CPU time (this thread): {ms['cpu total']:.2f} ms = data {ms['cpu data']:.2f} + template "
        f"{ms['cpu template']:.2f} + rest {ms['cpu rest']:.2f}; fastest tenth {ms['cpu p10']:.2f} ms"
    )
