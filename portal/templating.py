"""Jinja filters and globals the templates share."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from portal.db import utcnow


def when(value: datetime | None, empty: str = "never") -> str:
    """A UTC timestamp as "2026-11-29 08:14", or a word when there is none."""
    return value.strftime("%Y-%m-%d %H:%M") if value else empty


def day(value: datetime | None, empty: str = "—") -> str:
    """A UTC timestamp's date."""
    return value.strftime("%Y-%m-%d") if value else empty


def short_day(value: datetime | None, empty: str = "never") -> str:
    """A UTC timestamp's date, short: "29 Nov" this year, "29 Nov 2025" before (the list's columns)."""
    if not value:
        return empty
    label = f"{value.day} {value:%b}"
    return label if value.year == utcnow().year else f"{label} {value.year}"


def full_time(value: datetime | None, empty: str = "never") -> str:
    """A UTC timestamp to the second, said to be UTC: "2026-11-29 08:14:05 UTC" (no microseconds)."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else empty


def init_app(app: Flask) -> None:
    """Register the filters."""
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["day"] = day
    app.jinja_env.filters["short_day"] = short_day
    app.jinja_env.filters["full_time"] = full_time
    app.jinja_env.globals["now"] = utcnow
