"""Browser tests: contexts without motion, so that colours are measured as they end, not half-way."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "reduced_motion": "reduce"}
