"""The words the pages use for machine values: browsers, times, audit events (issue 17)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from portal.audit.wording import describe_changes, phrase
from portal.db import utcnow
from portal.models import AuditEvent
from portal.templating import ago, full_time, moment, short_day, when
from portal.user_agents import describe


@pytest.mark.parametrize(
    ("header", "said"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Chrome on Linux",
        ),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Windows"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/131.0.0.0 Safari/537.36",
            "Chrome (headless) on Linux",
        ),
        ("curl/8.5.0", "curl"),
        ("", "Unknown browser"),
    ],
)
def test_browsers_in_words(header: str, said: str) -> None:
    assert describe(header) == said


def test_times_in_words() -> None:
    now = utcnow()
    assert ago(now) == "just now"
    assert ago(now - timedelta(minutes=1, seconds=5)) == "1 minute ago"
    assert ago(now - timedelta(hours=5)) == "5 hours ago"
    assert ago(now - timedelta(days=3)) == "3 days ago"
    assert ago(datetime(2020, 2, 3, tzinfo=UTC)) == "2020-02-03"
    assert ago(None) == "never"
    assert short_day(datetime(2020, 2, 3, tzinfo=UTC)) == "3 Feb 2020"
    assert short_day(now.replace(month=1, day=9)) == "9 Jan"


@pytest.mark.parametrize(
    "value",
    [
        datetime(2020, 2, 3, tzinfo=UTC),
        datetime(2026, 11, 29, 8, 14, 5, 123456, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 59, 59),  # a naive one, as some columns are
        utcnow(),
    ],
)
def test_moment_says_what_strftime_says(value: datetime) -> None:
    """moment() reads the hover title off isoformat() and the month from a table (issue 20): the same words."""
    iso, title = value.isoformat(), full_time(value)
    short = f"{value.day} {value:%b}" + ("" if value.year == utcnow().year else f" {value.year}")
    assert moment(value, short=True) == f'<time datetime="{iso}" title="{title}" data-local>{short}</time>'
    assert moment(value) == f'<time datetime="{iso}" title="{title}" data-local="full">{when(value)} UTC</time>'
    assert moment(None) == "never" and moment(None, short=True, empty="—") == "—"


def _event(action: str, target: str = "", **changes: object) -> AuditEvent:
    return AuditEvent(action=action, target_label=target, changes=changes)


def test_audit_events_in_words_with_names_and_plain_times() -> None:
    assert phrase(_event("group.members.replace", "Support")) == "Replaced Support's members"
    assert phrase(_event("role.grant", "ada", role="auditor")) == "Gave ada the role auditor"
    assert phrase(_event("role.grant", "ada")) == "Gave ada the role …"  # a change missing: still readable
    assert phrase(_event("some.new_thing")) == "some.new_thing"  # no phrase yet: the code itself
    known, gone = str(uuid.uuid4()), str(uuid.uuid4())
    event = _event(
        "invitation.create",
        "ada@example.com",
        user_id=known,
        expires_at="2026-12-08T22:14:59.799527+00:00",
        roles=["member"],
        other_id=gone,
    )
    described = dict(describe_changes(event, {known: "Ada Lovelace (ada)"}))
    assert described == {
        "user": "Ada Lovelace (ada)",
        "expires_at": "2026-12-08 22:14 UTC",
        "roles": "member",
        "other": "no longer in the account",
    }


def _recorded_actions() -> set[str]:
    """Every action a service records with a literal code (record("area.verb", …)) in portal/."""
    import re
    from pathlib import Path

    import portal

    found: set[str] = set()
    for path in Path(portal.__file__).parent.rglob("*.py"):
        found.update(re.findall(r'record\(\s*"([a-z_]+\.[a-z_.]+)"', path.read_text(encoding="utf-8")))
    return found


def test_every_recorded_action_has_words() -> None:
    from portal.audit.wording import PHRASES

    actions = _recorded_actions()
    assert {a for a in actions if a.startswith("sso.")} >= {"sso.config_changed", "sso.break_glass"}  # found
    assert sorted(actions - PHRASES.keys()) == []


def test_single_sign_on_events_in_words() -> None:
    assert phrase(_event("sso.activated", "Acme")) == "Turned single sign-on on"
    assert phrase(_event("sso.identity_linked", "Ada Lovelace", how="proven email")) == (
        "Linked Ada Lovelace to the identity provider (proven email)"
    )
    assert phrase(_event("sso.sign_in_failed", "", reason="replayed")) == (
        "Failed to sign in through the identity provider (replayed)"
    )
    assert phrase(_event("sso.break_glass", "Olga", how="recovery code")) == (
        "Signed in by break-glass while single sign-on is required (recovery code)"
    )
    assert phrase(_event("sso.recovery_codes_regenerated", "Acme", codes=10)) == (
        "Made new single sign-on recovery codes"
    )
