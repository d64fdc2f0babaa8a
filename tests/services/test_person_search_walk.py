"""A broad search walks the sort's index and checks each entry it passes (portal.search, users.queries): it finds
exactly whom the narrow path (the options' index ranges, united) finds, whatever the case, letters or symbols of the
names and the query, and, on SQLite, spends lower() only on the few entries a byte-order range cannot turn away."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import insert

from portal import db
from portal.models import Account, User
from portal.users import queries as users
from tests.helpers import Portal

SORTS = ["name", "email", "created", "last_sign_in"]

PEOPLE = [  # (first name, last name): each person's login and email are p<n>, which no query below starts
    ("Élodie", "Martin"),
    ("ÉLODIE", "MARTIN"),
    ("élodie", "martin"),
    ("Elodie", "McDonald"),
    ("Ronald", "McDonald"),
    ("ronald", "mcdonald"),
    ("RONALD", "MCDONALD"),
    ("Mary", "Mcd"),
    ("Seán", "O'Brien"),
    ("sean", "o'brien"),
    ("Dara", "O'NEILL"),
    ("3D", "Printer"),
    ("3d", "printer"),
    ("_Under", "[Bracket"),
    ("Zoë", "Łukasz"),
    ("ZOË", "łukasz"),
    ("\u212aelvin", "Kelvin"),  # the Kelvin sign: PostgreSQL lowers it to "k", SQLite leaves it
    ("İpek", "Straße"),
    ("Ulla", "USER"),
    ("Ada", "Lovelace"),
    ("Adam", "Lovett"),
    ("aDA", "lOVE"),
]

QUERIES = [
    "élodie", "ÉLODIE", "él", "elodie", "e", "E", "mc", "MCD", "mcdonald", "ronald mc", "RONALD MCD", "élodie m",
    "o'", "O'B", "o'brien", "o'n", "sean o", "seán o'", "3d", "3D p", "3", "_", "[", "_under [b", "zo", "zoë", "ZOË ł",
    "ł", "Łuk", "k", "kelvin", "\u212a", "i", "İ", "ipek", "stra", "straß", "u", "user", "ada", "ADA LOV", "a l", "ad",
    "l", "lo", "~", "\U0010ffff",
]  # fmt: skip


@pytest.fixture
def account(portal: Portal) -> Account:
    account, _owner = portal.account()
    rows = [
        {"id": uuid.uuid4(), "account_id": account.id, "login": f"p{i:02d}", "email": f"p{i:02d}@example.com",
         "first_name": first, "last_name": last, "status": "active"}
        for i, (first, last) in enumerate(PEOPLE)
    ]  # fmt: skip
    with portal.app.app_context():
        db.session.execute(insert(User), rows)
        db.session.commit()
    return account


def _found(account_id: uuid.UUID, q: str, sort: str) -> list[str]:
    f = users.UserFilter.from_args({"q": q, "sort": sort})
    return [row.login for row in users.list_users(account_id, f, 0, 100, columns=users.LIST_COLUMNS).items]


def _ascii_lower(value: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in value)


def _reference(q: str, fold: Callable[[str], str]) -> set[str]:
    """Whom q finds (portal.search's rule) with the database's lower() as fold."""
    term = q.strip().lower()
    given, _, family = term.partition(" ")
    family = family.strip()
    found = set()
    for i, (first, last) in enumerate(PEOPLE):
        login = f"p{i:02d}"
        names = fold(first), fold(last)
        if any(value.startswith(term) for value in (login, f"{login}@example.com", *names)) or (
            family and names[0].startswith(given) and names[1].startswith(family)
        ):
            found.add(login)
    return found


@pytest.mark.parametrize("sort", SORTS)
def test_a_walked_search_finds_whom_the_narrow_path_finds(
    portal: Portal, account: Account, monkeypatch: pytest.MonkeyPatch, sort: str
) -> None:
    """Names in any case, with accents, apostrophes, digits and symbols, and queries of them: the walk (every search
    broad) and the united index ranges (every search narrow) find the same people, in the same order; on SQLite,
    whose lower() folds ASCII letters only, they are the ones a Python reference of that rule finds."""
    sqlite = portal.app.extensions["portal.engine"].dialect.name == "sqlite"
    with portal.app.test_request_context():
        for q in QUERIES:
            monkeypatch.setattr(users, "BROAD_STEPS", (1_000_000,))  # every search narrow: the ranges united
            joined = _found(account.id, q, sort)
            monkeypatch.setattr(users, "BROAD_STEPS", (0,))  # every search broad: the sort's index walked
            walked = _found(account.id, q, sort)
            assert walked == joined, q
            if sqlite:
                assert set(walked) == _reference(q, _ascii_lower), q
    with portal.app.test_request_context():  # a few that no database's lower() can miss
        assert len(_found(account.id, "mcdonald", "name")) == 4
        assert len(_found(account.id, "o'brien", "name")) == 2
        assert len(_found(account.id, "3d", "name")) == 2


@contextmanager
def _counting_lower() -> Iterator[list[int]]:
    """SQLite's lower() replaced, on the session's connection, by one that folds the same (ASCII letters only) and
    counts its calls; that connection closed after (pysqlite cannot remove a function: the pool opens another)."""
    calls = [0]

    def lower(value: Any) -> Any:
        calls[0] += 1
        return _ascii_lower(value) if isinstance(value, str) else value

    connection = db.session.connection()
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    dbapi_connection.create_function("lower", 1, lower, deterministic=True)
    try:
        yield calls
    finally:
        connection.invalidate()
        db.session.close()


FIRSTS = ["Bea", "Carl", "Dora", "Emil", "Finn", "Gus", "Hana", "Ivo", "Jana", "Karl", "Lena", "Mona", "Nils",
          "Olga", "Paul", "Rosa", "Sven", "Tina", "Uwe", "Vera"]  # fmt: skip
LASTS = ["Berg", "Cole", "Dahl", "Eck", "Fox", "Gray", "Hill", "Imes", "Jung", "Kahn", "Xiao", "Yates", "Zorn"]
SEEDED = 2_000


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("q", ["ab", "abe xu", "xu"])
def test_a_walked_search_calls_lower_on_few_of_the_entries_it_passes(
    portal: Portal, monkeypatch: pytest.MonkeyPatch, sort: str, q: str
) -> None:
    """Issue 20: the walk called lower() on each name of every entry it passed (two per entry: 4,000 for an account
    of 2,000 walked to its end), the most of a broad search's time. A name lower() could make start with the query
    begins with the query's first character or its ASCII capital, then stays within a byte-order range: checked
    first, the range turns away the others without a call, whatever letter the query starts with."""
    if portal.app.extensions["portal.engine"].dialect.name != "sqlite":
        pytest.skip("SQLite's lower(), replaced by a counting one")
    account, _owner = portal.account()
    rows = [
        {"id": uuid.uuid4(), "account_id": account.id, "login": f"m{i:05d}", "email": f"m{i:05d}@example.com",
         "first_name": "Abe" if i % 500 == 7 else FIRSTS[i * 7 % len(FIRSTS)],
         "last_name": "Xu" if i % 500 == 7 else LASTS[i % len(LASTS)], "status": "active"}
        for i in range(SEEDED)
    ]  # fmt: skip
    with portal.app.app_context():
        db.session.execute(insert(User), rows)
        db.session.commit()
    monkeypatch.setattr(users, "BROAD_STEPS", (0,))  # broad: the sort's index walked, to its end (4 matches)
    with portal.app.test_request_context():
        with _counting_lower() as calls:
            found = _found(account.id, q, sort)
        assert len(found) == 4
        # Before: 2 × 2 × 2,000 (two names, each lowered for either end of its range). Left: the matches, and the
        # 154 "Xiao" that "xu"'s range lets by.
        assert 0 < calls[0] <= SEEDED // 5, calls[0]
        assert db.session.connection().exec_driver_sql("SELECT lower('ÉA')").scalar() == "Éa"  # the built-in again


def test_the_walks_byte_ranges_turn_away_no_name_that_sqlite_lowers_to_a_match() -> None:
    """Every query of one or two characters, against every name of up to three, drawn from letters, their capitals
    and their neighbours in byte order (also the Kelvin sign, accented letters and the last code point): the walk's
    first-name option (byte ranges, then lower()) finds on SQLite exactly the names lower() alone finds."""
    import sqlite3
    from itertools import product

    from sqlalchemy import select
    from sqlalchemy.dialects import sqlite

    from portal.search import person_search, shaped_options

    alphabet = "@AKZ[`akz{'3éÉ\u212a\U0010ffff"
    names = ["".join(chars) for n in range(4) for chars in product(alphabet, repeat=n)]
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE users (first_name TEXT)")
    connection.executemany("INSERT INTO users VALUES (?)", [(name,) for name in names])
    lowered = [(name, _ascii_lower(name)) for name in names]
    for q in names[1 : 1 + len(alphabet) + len(alphabet) ** 2]:
        search = person_search(q)
        assert search is not None
        walked = select(User.first_name).where(shaped_options(search.shape, walk=True)[2])
        compiled = walked.compile(dialect=sqlite.dialect())
        parameters = [search.params[key] for key in compiled.positiontup or ()]
        assert "lower(users.first_name) >=" in str(compiled)
        found = {row[0] for row in connection.execute(str(compiled), parameters)}
        start = search.params["q_lo"]
        assert found == {name for name, folded in lowered if folded.startswith(start)}, q
