"""The Page every list uses: `from`/`take` as seed 002 names them, with keyset cursors for speed.

`from` is the index of the page's first row, so a page can be bookmarked; the links a page
offers also carry a cursor (the sort key of the row next to them), so following them seeks
through an index instead of counting `from` rows: deep pages cost what the first one does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import ceil
from typing import Any, Generic, TypeVar

from werkzeug.datastructures import MultiDict

T = TypeVar("T")

DEFAULT_TAKE = 20
MAX_TAKE = 100
COUNT_CAP = 10_000  # filtered lists count at most this many rows, then say "10,000+"
MAX_FROM = 1_000_000_000  # beyond any list: past the last page, yet far inside a 64-bit OFFSET
END = "end"  # a `before` cursor meaning "the last page"


def parse_int(value: str | None, default: int, lowest: int, highest: int) -> int:
    """A whole-number parameter kept between lowest and highest; absent or unreadable, the default.

    Every number read from a query string goes through here: an unbounded one would overflow the
    database's integers (a 500 on PostgreSQL) instead of meaning "the last page"."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (ValueError, TypeError):  # not a number, or more digits than Python converts
        return default
    return min(max(number, lowest), highest)


def parse_take(value: str | None) -> int:
    """The page size asked for, kept between 1 and 100 (default 20)."""
    return parse_int(value, DEFAULT_TAKE, 1, MAX_TAKE)


def parse_from(value: str | None) -> int:
    """The index of the first row asked for (default 0), at most MAX_FROM."""
    return parse_int(value, 0, 0, MAX_FROM)


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque, URL-safe token for a row's sort key."""
    raw = json.dumps([None if v is None else str(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str | None, converters: Sequence[Callable[[str], Any]]) -> tuple[Any, ...] | None:
    """The sort key inside a token, typed by the converters; None when absent or malformed.

    A token comes from the query string, so anyone can forge one: a NUL (PostgreSQL refuses it) or a
    value a converter cannot read makes it malformed, never an error."""
    if not token:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(raw, list) or len(raw) != len(converters):
            return None
        if any(not isinstance(v, str) or "\x00" in v for v in raw if v is not None):
            return None
        return tuple(None if v is None else convert(v) for convert, v in zip(converters, raw, strict=True))
    except (ValueError, TypeError, OverflowError):
        return None


def utc_datetime(text: str) -> datetime:
    """A cursor's timestamp: ISO 8601 with its offset, in UTC (a naive or out-of-range one is a ValueError)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("a cursor's timestamp carries its offset")
    return value.astimezone(UTC)  # OverflowError near year 1 or 9999: decode_cursor's "malformed"


class PageNumbers:
    """What a pager counts, for any list shown `take` rows at a time from row `start` of `total`."""

    start: int
    take: int
    total: int
    total_is_capped: bool = False

    @property
    def current_page(self) -> int:
        """1-based number of this page."""
        return self.start // self.take + 1

    @property
    def page_count(self) -> int:
        return max(1, ceil(self.total / self.take))

    @property
    def has_prev(self) -> bool:
        return self.start > 0


class OffsetPage(PageNumbers):
    """A page of a list paged by `from` alone (lists that stay short: groups, invitations, the outbox),
    with the links templates/_macros/pager.html follows. Subclasses say what else the query keeps."""

    @property
    def has_next(self) -> bool:
        return self.start + self.take < self.total

    def query_args(self) -> dict[str, Any]:
        """The list's own parameters (a search, a filter), kept by every link."""
        return {}

    def at(self, start: int) -> dict[str, Any]:
        """The query string of the page starting at row `start`; defaults are left out."""
        args = {k: v for k, v in self.query_args().items() if v not in (None, "")}
        if start > 0:
            args["from"] = start
        if self.take != DEFAULT_TAKE:
            args["take"] = self.take
        return args

    def first_args(self) -> dict[str, Any]:
        return self.at(0)

    def prev_args(self) -> dict[str, Any]:
        return self.at(max(0, self.start - self.take))

    def next_args(self) -> dict[str, Any]:
        return self.at(self.start + self.take)

    def last_args(self) -> dict[str, Any] | None:
        return self.at((self.page_count - 1) * self.take)


@dataclass
class Page(PageNumbers, Generic[T]):
    """One page of a list, with what the pager shows and the cursors its links carry."""

    items: list[T]
    start: int  # index of the first item (`from`)
    take: int
    total: int
    total_is_capped: bool = False
    next_cursor: str | None = None
    prev_cursor: str | None = None
    query: MultiDict[str, str] = field(default_factory=MultiDict)

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def last_start(self) -> int:
        return (self.page_count - 1) * self.take

    def args(self, **changes: Any) -> dict[str, Any]:
        """The list's query string with paging changed; None drops a parameter."""
        args: dict[str, Any] = {k: v for k, v in self.query.items() if k not in {"from", "after", "before"}}
        args["take"] = self.take
        args.update(changes)
        return {k: v for k, v in args.items() if v not in (None, "")}

    def first_args(self) -> dict[str, Any]:
        return self.args()

    def next_args(self) -> dict[str, Any]:
        return self.args(**{"from": self.start + len(self.items), "after": self.next_cursor})

    def prev_args(self) -> dict[str, Any]:
        return self.args(**{"from": max(0, self.start - self.take), "before": self.prev_cursor})

    def last_args(self) -> dict[str, Any] | None:
        """The last page's link, unless the count was capped (there is no knowing where it is)."""
        if self.total_is_capped:
            return None
        return self.args(**{"from": self.last_start, "before": END})
