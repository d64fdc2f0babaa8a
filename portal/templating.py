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


def init_app(app: Flask) -> None:
    """Register the filters."""
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["day"] = day
    app.jinja_env.globals["now"] = utcnow
