"""Jinja filters and globals the templates share."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Flask
from markupsafe import Markup, escape

from portal import user_agents
from portal.audit.wording import phrase
from portal.db import utcnow


def when(value: datetime | None, empty: str = "never") -> str:
    """A UTC timestamp as "2026-11-29 08:14", or a word when there is none."""
    return value.strftime("%Y-%m-%d %H:%M") if value else empty


def day(value: datetime | None, empty: str = "—") -> str:
    """A UTC timestamp's date."""
    return value.strftime("%Y-%m-%d") if value else empty


# strftime's %b in the C locale (the portal never sets another), without a strftime per date.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def short_day(value: datetime | None, empty: str = "never") -> str:
    """A UTC timestamp's date, short: "29 Nov" this year, "29 Nov 2025" before (the list's columns)."""
    if not value:
        return empty
    label = f"{value.day} {MONTHS[value.month - 1]}"
    return label if value.year == utcnow().year else f"{label} {value.year}"


def until_day(value: datetime | None, empty: str = "") -> str:
    """The last day of a time-bound grant ("12 Jan"): one that ends at midnight UTC lasts through the day before."""
    if value is None:
        return empty
    last = value - timedelta(microseconds=1) if value.time() == time() else value
    return short_day(last, empty)


def full_time(value: datetime | None, empty: str = "never") -> str:
    """A UTC timestamp to the second, said to be UTC: "2026-11-29 08:14:05 UTC" (no microseconds)."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else empty


def ago(value: datetime | None, empty: str = "never") -> str:
    """How long ago, roughly: "just now", "5 minutes ago", "3 hours ago", "2 days ago", then the date."""
    if not value:
        return empty
    seconds = max(0, int((utcnow() - value).total_seconds()))
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            if unit == "day" and n > 30:
                return day(value)
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


def moment(value: datetime | None, short: bool = False, empty: str = "never") -> Markup:
    """A moment in time as HTML (the macro of _macros/time.html, and the users list's per-row filter): short,
    the list's "29 Nov" with the full time on hover; otherwise "2026-11-29 08:14 UTC", which portal.js rewrites
    in the viewer's own time zone. Its parts are digits, month names and punctuation: nothing to escape."""
    if not value:
        return escape(empty)
    iso = value.isoformat()  # "2026-11-29T08:14:05.123456+00:00": full_time's fields, without a strftime
    title = f"{iso[:10]} {iso[11:19]} UTC"
    if short:
        return Markup(f'<time datetime="{iso}" title="{title}" data-local>{short_day(value)}</time>')
    return Markup(f'<time datetime="{iso}" title="{title}" data-local="full">{when(value)} UTC</time>')


def init_app(app: Flask) -> None:
    """Register the filters."""
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["day"] = day
    app.jinja_env.filters["short_day"] = short_day
    app.jinja_env.filters["until_day"] = until_day
    app.jinja_env.filters["full_time"] = full_time
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["browser"] = user_agents.describe
    app.jinja_env.globals["audit_phrase"] = phrase  # the audit log's words, on the user page too
    app.jinja_env.globals["now"] = utcnow
    app.jinja_env.globals["moment_html"] = moment
    app.jinja_env.filters["moment"] = moment  # a filter is called directly, a global through Jinja's Context.call
