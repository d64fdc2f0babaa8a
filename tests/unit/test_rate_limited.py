"""@rate_limited: limits are declared at the view, and a declaration that protects nothing fails at start."""

from __future__ import annotations

import pytest
from flask import Flask

from portal import rate_limits
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
