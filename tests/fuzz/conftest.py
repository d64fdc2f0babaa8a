"""The fuzz builds its fixture once for the module (tests/fuzz/test_fuzz_routes.py empties the tables after)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

SUMMARY: list[str] = []  # lines the fuzz reports at the end of the run (examples, time, answers)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in SUMMARY:
        terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _clean_tables() -> Iterator[None]:
    """Overrides tests/conftest.py's: the tables are emptied once, when the module's fixture ends."""
    yield
