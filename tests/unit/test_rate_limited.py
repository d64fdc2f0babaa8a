"""@rate_limited: limits are declared at the view, and a declaration that protects nothing fails at start."""

from __future__ import annotations

import pytest
from flask import Flask

from portal import ROOT, rate_limits
from portal.permissions import public


def test_a_limit_on_a_method_the_view_does_not_answer_fails_at_start() -> None:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="x" * 40,
        RATELIMIT_PER_ADDRESS="3 per minute",
        RATELIMIT_PER_LOGIN="2 per minute",
        RATELIMIT_STORAGE_URI="memory://",
    )

    @app.get("/only-get")
    @public
    @rate_limited_post
    def only_get() -> str:
        return "x"

    with pytest.raises(RuntimeError, match="only_get declares a rate limit"):
        rate_limits.init_app(app)


rate_limited_post = rate_limits.rate_limited()


def test_the_declaration_names_post_unless_told() -> None:
    @rate_limits.rate_limited()
    def plain() -> None: ...

    @rate_limits.rate_limited("GET", "POST")
    def with_token() -> None: ...

    assert plain._rate_limited == {"POST"}  # type: ignore[attr-defined]
    assert with_token._rate_limited == {"GET", "POST"}  # type: ignore[attr-defined]


def _small_app(**config: str) -> Flask:
    app = Flask(__name__, template_folder=str(ROOT / "templates"))  # the 429 page falls back to errors/bare.html
    app.config.update(
        SECRET_KEY="x" * 40,
        RATELIMIT_PER_ADDRESS="2 per minute",
        RATELIMIT_PER_LOGIN="5 per minute",
        RATELIMIT_STORAGE_URI="memory://",
        **config,
    )

    @app.post("/limited")
    @public
    @rate_limited_post
    def limited() -> str:
        return "limited"

    @app.post("/free")
    @public
    def free() -> str:
        return "free"

    return app


def _limiter_hooks(app: Flask) -> list[object]:
    hooks = [
        *app.before_request_funcs.get(None, []),
        *app.after_request_funcs.get(None, []),
        *app.teardown_request_funcs.get(None, []),
    ]
    return [hook for hook in hooks if getattr(hook, "func", hook).__module__.startswith("flask_limiter")]


def test_only_the_limited_views_pay_for_the_limits() -> None:
    """flask-limiter's hooks before and after every request check nothing here (issue 20: ~0.2 ms a page):
    they are left out, and the views that declare limits still count every attempt."""
    app = _small_app()
    rate_limits.init_app(app)
    assert _limiter_hooks(app) == []
    client = app.test_client()
    assert [client.post("/limited").status_code for _ in range(3)] == [200, 200, 429]
    assert {client.post("/free").status_code for _ in range(5)} == {200}


@pytest.mark.parametrize("setting", rate_limits.PER_REQUEST_SETTINGS)
def test_a_setting_that_needs_the_hooks_fails_at_start(setting: str) -> None:
    app = _small_app(**{setting: "1 per minute"})
    with pytest.raises(RuntimeError, match=setting):
        rate_limits.init_app(app)
