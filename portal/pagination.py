"""The Page every list uses: `from`/`take` as seed 002 names them, with keyset cursors for speed.

`from` is the index of the page's first row, so a page can be bookmarked; the links a page
offers also carry a cursor (the sort key of the row next to them), so following them seeks
through an index instead of counting `from` rows: deep pages cost what the first one does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
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


@dataclass
class Page(Generic[T]):
    """The one page type of every list: `take` rows from row `start` of `total`, the cursors of the
    pages around it, and the links templates/_macros/pager.html follows (and the API's `next`).

    One way to build links, two styles: `keep_defaults` (users, audit, role holders) writes `take` and
    `from` always; without it (groups, invitations, the outbox, group members) `from=0`, the default
    `take` and empty values are left out, so a list's first page is its bare URL."""

    items: list[T]
    start: int  # index of the first item (`from`)
    take: int
    total: int
    total_is_capped: bool = False
    next_cursor: str | None = None  # the links carry them: `after` on the next page's, `before` on the previous'
    prev_cursor: str | None = None
    query: Mapping[str, Any] = field(default_factory=MultiDict)  # the list's own parameters, kept by every link
    keep_defaults: bool = True  # the link style
    more: bool | None = None  # rows follow this page (the query read one past it); None: as the count says
    last_cursor: str | None = END  # the last page's link: END reads from the list's end, "" by `from` alone,
    # None offers none (a list read forward only by keyset); a capped count never offers one either

    @property
    def current_page(self) -> int:
        """1-based number of this page."""
        return self.start // self.take + 1

    @property
    def page_count(self) -> int:
        return max(1, ceil(self.total / self.take))

    @property
    def has_prev(self) -> bool:
        return self.start > 0 or self.prev_cursor is not None

    @property
    def has_next(self) -> bool:
        return self.more if self.more is not None else self.start + len(self.items) < self.total

    @property
    def last_start(self) -> int:
        return (self.page_count - 1) * self.take

    def args(self, **changes: Any) -> dict[str, Any]:
        """The list's query string with paging changed; None (or "") drops a parameter."""
        paging = {"from", "after", "before"} if self.keep_defaults else {"from", "after", "before", "take"}
        args: dict[str, Any] = {k: v for k, v in self.query.items() if k not in paging}
        if self.keep_defaults:  # `take` stays where the query had it
            args["take"] = self.take
            args.update(changes)
        else:
            args.update({k: v for k, v in changes.items() if k != "from"})
            if changes.get("from"):
                args["from"] = changes["from"]
            if self.take != DEFAULT_TAKE:
                args["take"] = self.take
        return {k: v for k, v in args.items() if v not in (None, "")}

    def first_args(self) -> dict[str, Any]:
        return self.args()

    def next_args(self) -> dict[str, Any]:
        return self.args(**{"from": self.start + len(self.items), "after": self.next_cursor})

    def prev_args(self) -> dict[str, Any]:
        return self.args(**{"from": max(0, self.start - self.take), "before": self.prev_cursor})

    def last_args(self) -> dict[str, Any] | None:
        """The last page's link, unless the count was capped (there is no knowing where it is)."""
        if self.total_is_capped or self.last_cursor is None:
            return None
        return self.args(**{"from": self.last_start, "before": self.last_cursor})
