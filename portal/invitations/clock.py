"""The time invitations are judged by; tests move it with monkeypatch.setattr(clock, "now", ...)."""

from __future__ import annotations

from datetime import datetime

from portal.db import utcnow


def now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return utcnow()
