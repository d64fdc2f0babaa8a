"""Browser tests: contexts without motion, so that colours are measured as they end, not half-way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.browser import _signin


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "reduced_motion": "reduce"}


@pytest.fixture(autouse=True)
def _sign_in_knows_the_app(app: Flask) -> Iterator[None]:
    """Let the sign-in helper look up which account a login belongs to (the form asks for it)."""
    _signin.APP = app
    yield
    _signin.APP = None
