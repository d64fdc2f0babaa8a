"""Paging parameters as the query string gives them: numbers clamped, cursors forged (issue 13 §4, the fuzz)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from portal.pagination import MAX_FROM, decode_cursor, encode_cursor, parse_from, parse_int, parse_take, utc_datetime


@pytest.mark.parametrize(("value", "expected"), [
    (None, 7), ("", 7), ("abc", 7), ("1e9", 7), ("1" * 5000, 7),  # unreadable (5,000 digits: past int()'s limit)
    ("5", 5), (" 5 ", 5), ("٣", 3), ("-5", 1), ("9999999999999999999999", 10), ("-9999999999999999999999", 1),
])
def test_parse_int_keeps_numbers_in_range(value: str | None, expected: int) -> None:
    assert parse_int(value, 7, 1, 10) == expected


def test_from_and_take_stay_within_what_the_database_counts() -> None:
    assert parse_from("9999999999999999999999") == MAX_FROM < 2**63
    assert parse_take("9999999999999999999999") == 100 and parse_take("0") == 1 and parse_take(None) == 20


def _token(*values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def test_a_cursor_round_trips() -> None:
    key = (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), uuid.uuid4())
    assert decode_cursor(encode_cursor(key), (utc_datetime, uuid.UUID)) == key


@pytest.mark.parametrize("token", [
    _token("2026-01-01T00:00:00", str(uuid.UUID(int=1))),  # no offset
    _token("9999-12-31T23:59:59-23:59", str(uuid.UUID(int=1))),  # past year 9999 once in UTC
    _token("2026-01-01T00:00:00+00:00", -433),  # a number where the id goes
    _token("2026-01-01T00:00:00+00:00", ["x"]),
    _token("2026-01-01T00:00:00+00:00"),  # too short
    "!!", "e30", "",
])
def test_a_forged_cursor_is_malformed_not_an_error(token: str) -> None:
    assert decode_cursor(token, (utc_datetime, uuid.UUID)) is None


def test_a_cursor_holding_a_nul_is_malformed() -> None:
    """A NUL inside the token is out of the request check's sight, and PostgreSQL refuses it."""
    assert decode_cursor(_token("a\x00", str(uuid.UUID(int=1))), (str, uuid.UUID)) is None
    assert decode_cursor(_token("a", str(uuid.UUID(int=1))), (str, uuid.UUID)) == ("a", uuid.UUID(int=1))
