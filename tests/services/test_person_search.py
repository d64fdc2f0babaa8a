"""The one person search (portal.search): the users list (joined or walked), a group's members and the
add-members picker find the same people for the same query."""

from __future__ import annotations

import pytest

from portal import db
from portal.groups import queries as groups
from portal.models import Group
from portal.users import queries as users
from tests.helpers import CallCounter, Portal, make_group

PEOPLE = {  # login: (first name, last name, email)
    "ada": ("Ada", "Lovelace", "ada.lovelace@example.com"),
    "adam": ("Adam", "Lovett", "adam.l@example.com"),
    "grace": ("Grace", "Hopper", "g.hopper@navy.example"),
    "alan": ("Alan", "Turing", "alan@example.com"),
    "lov": ("Lovisa", "Adams", "lovisa@example.com"),
    "mary": ("Mary Ann", "Evans", "eliot@example.com"),
}

CASES = [
    ("ada", {"ada", "adam", "lov"}),  # login, first name, last name (Adams)
    ("ADA", {"ada", "adam", "lov"}),  # any case
    ("ada lov", {"ada", "adam"}),  # first name starts "ada", last name starts "lov"
    ("Ada Lovelace", {"ada"}),
    ("  ada   lov ", {"ada", "adam"}),  # spaces around and between
    ("a l", {"ada", "adam"}),
    ("lov", {"ada", "adam", "lov"}),  # last names, and the login and first name "lov…"
    ("lovelace ada", set()),  # the first word is the first name
    ("adams", {"lov"}),  # a last name
    ("g.hopper@", {"grace"}),  # an email
    ("hopper", {"grace"}),
    ("turing", {"alan"}),
    ("mary ann", {"mary"}),  # a first name with a space in it
    ("mary ev", {"mary"}),
    ("evans mary", set()),
    ("example", set()),  # a prefix, not a part: no email starts "example"
    ("%", set()),  # no wildcards
    ("ad_", set()),
    ("nobody", set()),
]


@pytest.fixture
def people(portal: Portal) -> tuple[object, Group]:
    account, _owner = portal.account()
    made = [
        portal.user(account, login, first_name=first, last_name=last, email=email)
        for login, (first, last, email) in PEOPLE.items()
    ]
    group = make_group(portal, account, "Everyone", members=tuple(made))
    return account, group


def _list(account_id: object, q: str) -> set[str]:
    page = users.list_users(account_id, users.UserFilter.from_args({"q": q}), 0, 100)  # type: ignore[arg-type]
    return {user.login for user in page.items}


@pytest.mark.parametrize(("q", "logins"), CASES)
def test_every_caller_finds_the_same_people(
    portal: Portal, people: tuple[object, Group], monkeypatch: pytest.MonkeyPatch, q: str, logins: set[str]
) -> None:
    account, group = people
    with portal.app.test_request_context():
        account_id = account.id  # type: ignore[attr-defined]
        found_group = db.session.get(Group, group.id)
        assert found_group is not None
        assert _list(account_id, q) == logins, "users list"
        members = groups.members_page(found_group, q, take=100)
        assert {row.login for row in members.rows} == logins, "group members"
        picked = groups.picker(account_id, group.id, q, [])
        assert {candidate.user.login for candidate in picked.matches} == logins, "picker"
        monkeypatch.setattr(users, "BROAD_STEPS", (0,))  # every search is broad: the sort index walked
        assert _list(account_id, q) == logins, "users list, walked"


@pytest.mark.parametrize("size", [0, 1, 5_000, 53_714, 53_715, 100_000, 1_000_000, 5_000_000, 10_000_000])
def test_the_broad_threshold_is_the_step_nearest_the_break_even(portal: Portal, size: int) -> None:
    """The threshold is computed in SQL (inside the search's first statement): the step nearest
    √(users × (take + 1) ÷ 2), a tie going to the lower step."""
    from math import isqrt

    from sqlalchemy import select, update

    from portal.models import AccountUserCount
    from portal.users import queries

    account, _owner = portal.account()
    ideal = isqrt(max(size, 1) * 21 // 2)
    expected = min(queries.BROAD_STEPS, key=lambda step: abs(step - ideal))
    with portal.app.app_context():
        db.session.execute(
            update(AccountUserCount)
            .where(AccountUserCount.account_id == account.id, AccountUserCount.status == "active")
            .values(n=size)
        )
        assert db.session.scalar(select(queries.broad_threshold(account.id, 20, queries.BROAD_STEPS))) == expected


# What builds a search's statements (issue 20): none of it should run for a search whose shape was seen before.
_BUILDERS = (
    "portal/users/queries.py:_build_filtered",
    "portal/users/queries.py:_plan_statement",
    "portal/users/queries.py:_reads",
    "portal/users/queries.py:_count_statement",
    "sqlalchemy/sql/_selectable_constructors.py:select",
)


def _built(calls: CallCounter) -> dict[str, int]:
    return {name: n for name, n in calls.by_function.items() if name.endswith(_BUILDERS)}


@pytest.mark.parametrize("broad", [False, True], ids=["joined", "walked"])
@pytest.mark.parametrize("sort", ["name", "email", "created", "last_sign_in"])
@pytest.mark.parametrize(
    ("first", "then", "logins"),
    [("ada", "gra", {"grace", "graham"}), ("ada lov", "gr ho", {"grace", "greg"})],
    ids=["one word", "two words"],
)
def test_a_search_of_a_shape_seen_before_builds_no_statement(
    portal: Portal,
    people: tuple[object, Group],
    monkeypatch: pytest.MonkeyPatch,
    broad: bool,
    sort: str,
    first: str,
    then: str,
    logins: set[str],
) -> None:
    """Issue 20: a search's statements were built again for every new query and every account (and its page reads
    on every request); now once for each shape, the account and the query's bounds bound per call. Another query
    in another account builds nothing, and finds that account's people only."""
    account, _group = people
    other, _owner = portal.account()
    portal.user(other, "grace", first_name="Grace", last_name="Hopper", email="grace@other.example")
    portal.user(other, "graham", first_name="Graham", last_name="Green", email="graham@other.example")
    portal.user(other, "greg", first_name="Gregory", last_name="Holt", email="greg@other.example")
    portal.user(other, "ada2", first_name="Ada", last_name="Lovelace", email="ada@other.example")
    if broad:
        monkeypatch.setattr(users, "BROAD_STEPS", (0,))  # every search is broad: the sort index walked
    with portal.app.test_request_context():
        account_id = account.id  # type: ignore[attr-defined]
        f = users.UserFilter.from_args({"q": first, "sort": sort})
        page = users.list_users(account_id, f, 0, 1, columns=users.LIST_COLUMNS)  # the first page, then the next
        users.list_users(account_id, f, 1, 1, after=page.next_cursor, columns=users.LIST_COLUMNS)
        users.count_matching(account_id, f, 100)
        f = users.UserFilter.from_args({"q": then, "sort": sort})
        with CallCounter() as calls:
            page = users.list_users(other.id, f, 0, 1, columns=users.LIST_COLUMNS)
            following = users.list_users(other.id, f, 1, 1, after=page.next_cursor, columns=users.LIST_COLUMNS)
            counted = users.count_matching(other.id, f, 100)
        assert _built(calls) == {}
        assert {row.login for row in [*page.items, *following.items]} == logins
        assert counted == len(logins)
        assert _list(other.id, then) == logins


@pytest.mark.parametrize(
    ("q", "logins"),
    [("\U0010ffff", {"max"}), ("a\U0010ffff", {"amax"}), ("a\U0010ffff\U0010ffff", {"amax"}), ("b", {"b"})],
)
def test_a_query_ending_in_the_last_code_point_is_still_a_prefix(
    portal: Portal, monkeypatch: pytest.MonkeyPatch, q: str, logins: set[str]
) -> None:
    """No code point comes after U+10FFFF to end the range with: the range ends past the prefix without it (a
    query of nothing else has no end), and every caller finds the same people."""
    account, _owner = portal.account()
    made = [
        portal.user(account, "max", first_name="\U0010ffff\U0010ffffx", last_name="M", email="max@example.com"),
        portal.user(account, "amax", first_name="a\U0010ffff\U0010ffff", last_name="M", email="amax@example.com"),
        portal.user(account, "a", first_name="A", last_name="M", email="a@example.com"),
        portal.user(account, "b", first_name="B", last_name="M", email="b@example.com"),
    ]
    group = make_group(portal, account, "Everyone", members=tuple(made))
    with portal.app.test_request_context():
        found_group = db.session.get(Group, group.id)
        assert found_group is not None
        assert _list(account.id, q) == logins, "users list"
        assert {row.login for row in groups.members_page(found_group, q, take=100).rows} == logins, "group members"
        picked = groups.picker(account.id, group.id, q, [])
        assert {candidate.user.login for candidate in picked.matches} == logins, "picker"
        monkeypatch.setattr(users, "BROAD_STEPS", (0,))
        assert _list(account.id, q) == logins, "users list, walked"
