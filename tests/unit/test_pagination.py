"""Paging parameters as the query string gives them: numbers clamped, cursors forged (issue 13 §4, the fuzz);
and the links of the one page type, in both styles (issue 14)."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from werkzeug.datastructures import MultiDict

from portal.pagination import (
    DEFAULT_TAKE,
    END,
    MAX_FROM,
    Page,
    decode_cursor,
    encode_cursor,
    parse_from,
    parse_int,
    parse_take,
    utc_datetime,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 7),
        ("", 7),
        ("abc", 7),
        ("1e9", 7),
        ("1" * 5000, 7),  # unreadable (5,000 digits: past int()'s limit)
        ("5", 5),
        (" 5 ", 5),
        ("٣", 3),
        ("-5", 1),
        ("9999999999999999999999", 10),
        ("-9999999999999999999999", 1),
    ],
)
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


@pytest.mark.parametrize(
    "token",
    [
        _token("2026-01-01T00:00:00", str(uuid.UUID(int=1))),  # no offset
        _token("9999-12-31T23:59:59-23:59", str(uuid.UUID(int=1))),  # past year 9999 once in UTC
        _token("2026-01-01T00:00:00+00:00", -433),  # a number where the id goes
        _token("2026-01-01T00:00:00+00:00", ["x"]),
        _token("2026-01-01T00:00:00+00:00"),  # too short
        "!!",
        "e30",
        "",
    ],
)
def test_a_forged_cursor_is_malformed_not_an_error(token: str) -> None:
    assert decode_cursor(token, (utc_datetime, uuid.UUID)) is None


def test_a_cursor_holding_a_nul_is_malformed() -> None:
    """A NUL inside the token is out of the request check's sight, and PostgreSQL refuses it."""
    assert decode_cursor(_token("a\x00", str(uuid.UUID(int=1))), (str, uuid.UUID)) is None
    assert decode_cursor(_token("a", str(uuid.UUID(int=1))), (str, uuid.UUID)) == ("a", uuid.UUID(int=1))


def test_a_page_keeping_defaults_writes_take_and_from_with_its_cursors() -> None:
    page = Page(
        items=[1, 2],
        start=2,
        take=2,
        total=6,
        next_cursor="n",
        prev_cursor="p",
        more=True,
        query=MultiDict({"q": "a", "from": "2", "after": "x"}),
    )
    assert page.has_prev and page.has_next
    assert page.first_args() == {"q": "a", "take": 2}
    assert page.prev_args() == {"q": "a", "take": 2, "from": 0, "before": "p"}
    assert page.next_args() == {"q": "a", "take": 2, "from": 4, "after": "n"}
    assert page.last_args() == {"q": "a", "take": 2, "from": 4, "before": END}
    assert replace(page, total_is_capped=True).last_args() is None


def test_a_page_leaving_defaults_out_has_a_bare_first_page() -> None:
    page = Page(
        items=list(range(20)),
        start=20,
        take=DEFAULT_TAKE,
        total=45,
        query={"q": "", "status": "pending"},
        keep_defaults=False,
        last_cursor="",
    )
    assert page.has_next  # counted: 40 < 45
    assert page.first_args() == page.prev_args() == {"status": "pending"}
    assert page.next_args() == {"status": "pending", "from": 40}
    assert page.last_args() == {"status": "pending", "from": 40}
    assert replace(page, take=5, start=5, items=[1] * 5).prev_args() == {"status": "pending", "take": 5}


def test_a_page_read_forward_by_keyset_offers_no_last_link() -> None:
    page = Page(
        items=[1],
        start=0,
        take=1,
        total=3,
        next_cursor="n",
        query={"q": ""},
        keep_defaults=False,
        more=True,
        last_cursor=None,
    )
    assert page.next_args() == {"after": "n", "from": 1, "take": 1} and page.last_args() is None
    assert not replace(page, more=False, next_cursor=None).has_next  # the keyset says so, whatever the count
