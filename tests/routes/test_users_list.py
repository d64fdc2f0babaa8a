"""The users page: owner apart, columns, keyset paging in every sort, search, filters, CSV, counts."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from portal import db
from portal.db import utcnow
from portal.models import Account, AccountUserCount, Group, GroupMember, Role, RoleAssignment, User
from tests.helpers import CallCounter, Portal

NAMES = ["Ada", "Grace", "alan", "Barbara", "Edsger", "Donald", "Ken", "Dennis", "Margaret", "Frances"]


def seed_users(app: Flask, account: Account, n: int, start: int = 0) -> list[uuid.UUID]:
    """n users inserted in one statement (no password hashing), with varied names, dates and statuses."""
    now = utcnow()
    rows = []
    for i in range(start, start + n):
        rows.append(
            {
                "id": uuid.uuid4(),
                "account_id": account.id,
                "login": f"user{i:05d}",
                "email": f"user{i:05d}@example.com",
                "first_name": NAMES[i % len(NAMES)],
                "last_name": f"Family{i % 7}",
                "status": ["active", "active", "active", "disabled", "pending"][i % 5],
                "created_at": now - timedelta(minutes=i % 37, seconds=i),
                "last_login_at": None if i % 3 == 0 else now - timedelta(hours=i % 11, seconds=i),
                "updated_at": now,
                "version": 1,
            }
        )
    with app.app_context():
        db.session.execute(insert(User), rows)
        db.session.commit()
    return [r["id"] for r in rows]


def page_ids(body: str) -> list[str]:
    return re.findall(r'<tr id="user-([0-9a-f-]{36})"', body)


def link(body: str, label: str) -> str | None:
    match = re.search(r'<a href="([^"]+)"[^>]*>' + re.escape(label), body)
    return match.group(1).replace("&amp;", "&") if match else None


@pytest.fixture
def owner_client(portal: Portal):  # type: ignore[no-untyped-def]
    account, owner = portal.account()
    return account, owner, portal.client(owner)


def test_owner_is_shown_apart_and_rows_have_every_column(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    account, owner, client = owner_client
    member = portal.user(
        account,
        "grace",
        roles=("member", "auditor"),
        first_name="Grace",
        last_name="Hopper",
        mfa_enabled=True,
        last_login_at=utcnow(),
    )
    with portal.app.app_context():
        group = Group(account_id=account.id, name="Navy")
        db.session.add(group)
        db.session.flush()
        db.session.add(GroupMember(group_id=group.id, user_id=member.id))
        db.session.commit()
    body = client.get(f"/accounts/{account.id}/users").get_data(as_text=True)
    assert 'id="owner"' in body and "owner@example.com" in body
    assert page_ids(body) == [str(member.id)]  # the owner is not in the list
    row = body[body.index(f'id="user-{member.id}"') :]
    row = row[: row.index("</tr>")]
    for text in (
        "Grace Hopper",
        "grace",
        "grace@example.com",
        "auditor, member",
        "active",
        "MFA on",
        '<td class="num">1</td>',
    ):
        assert text in row
    assert "Page 1 of 1 · 1 user · 20 per page" in " ".join(body.split())


def test_list_statement_count_does_not_grow_with_users(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    account, _owner, client = owner_client
    url = f"/accounts/{account.id}/users?take=100"
    seed_users(portal.app, account, 10)
    client.get(url)
    with portal.count_statements() as small:
        assert client.get(url).status_code == 200
    seed_users(portal.app, account, 990, start=10)
    with portal.app.app_context():
        role_id = db.session.scalar(select(Role.id).where(Role.account_id == account.id, Role.name == "member"))
        ids = db.session.scalars(select(User.id).where(User.account_id == account.id, User.is_owner.is_(False)))
        db.session.execute(
            insert(RoleAssignment), [{"user_id": i, "role_id": role_id, "is_default": True} for i in ids]
        )
        db.session.commit()
    with portal.count_statements() as large:
        body = client.get(url).get_data(as_text=True)
    assert len(page_ids(body)) == 100
    # (A short list may read the name sort's tail too: one statement more, never more than that.)
    # 12 before the one-statement sign-in check (issue 20), 9 before with_details' one statement
    assert large.count <= small.count <= 8


def test_a_row_of_the_list_costs_a_bounded_number_of_python_calls(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    """The list is the hottest page (issue 20): what a row adds is counted in Python function calls, not timed.
    Rows with a role (default or not), a group and their dates; 30 rows against 10."""
    account, _owner, client = owner_client
    ids = seed_users(portal.app, account, 40)
    with portal.app.app_context():
        roles = db.session.scalars(select(Role).where(Role.account_id == account.id)).all()
        group = Group(account_id=account.id, name="Navy")
        db.session.add(group)
        db.session.flush()
        for n, user_id in enumerate(ids):
            db.session.add(RoleAssignment(user_id=user_id, role_id=roles[n % len(roles)].id, is_default=n % 2 == 0))
            db.session.add(GroupMember(group_id=group.id, user_id=user_id))
        db.session.commit()
    counts = {}
    for take in (10, 30):
        url = f"/accounts/{account.id}/users?take={take}"
        client.get(url)
        with CallCounter() as calls:
            body = client.get(url).get_data(as_text=True)
        assert len(page_ids(body)) == take
        counts[take] = calls
    # 275 before issue 20's work on the template, 108 after; 114 before with_details' one statement, 98 after
    per_row = (counts[30].count - counts[10].count) / 20
    added = counts[30].by_function - counts[10].by_function
    assert per_row <= 105, f"{per_row} calls a row: {added.most_common(12)}"
    assert not any(name.endswith(":url_for") for name in added)  # links are worked out once a page


@pytest.mark.parametrize("sort", ["name", "email", "created", "last_sign_in"])
def test_cursor_paging_visits_every_user_once_forwards_and_backwards(portal: Portal, owner_client, sort: str) -> None:  # type: ignore[no-untyped-def]
    account, _owner, client = owner_client
    expected_count = len(seed_users(portal.app, account, 47))
    url = f"/accounts/{account.id}/users?sort={sort}&take=10"
    seen: list[str] = []
    pages = []
    while url:
        body = client.get(url).get_data(as_text=True)
        pages.append(page_ids(body))
        seen += pages[-1]
        url = link(body, "Next")
    assert len(seen) == len(set(seen)) == expected_count
    assert [len(p) for p in pages] == [10, 10, 10, 10, 7]
    # The same order as a plain sorted query (offset paging agrees with the cursors).
    offset_body = client.get(f"/accounts/{account.id}/users?sort={sort}&take=10&from=20").get_data(as_text=True)
    assert page_ids(offset_body) == pages[2]
    # Last, then Previous all the way back.
    body = client.get(f"/accounts/{account.id}/users?sort={sort}&take=10").get_data(as_text=True)
    body = client.get(link(body, "Last »")).get_data(as_text=True)
    assert page_ids(body) == pages[-1] and "Page 5 of 5" in " ".join(body.split())
    back = [page_ids(body)]
    while (prev := link(body, "‹ Previous")) is not None:
        body = client.get(prev).get_data(as_text=True)
        back.append(page_ids(body))
    assert back[::-1] == pages


def test_sorted_by_name_and_email(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    account, _owner, client = owner_client
    seed_users(portal.app, account, 12)
    with portal.app.app_context():
        by_name = [
            str(i)
            for i in db.session.scalars(
                select(User.id)
                .where(User.account_id == account.id, User.is_owner.is_(False))
                .order_by(User.first_name, User.last_name, User.id)
            )
        ]
    body = client.get(f"/accounts/{account.id}/users?sort=name&take=100").get_data(as_text=True)
    assert page_ids(body) == by_name


def test_take_is_bounded(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    account, _owner, client = owner_client
    seed_users(portal.app, account, 130)
    for take, shown in (("500", 100), ("0", 1), ("abc", 20), ("", 20)):
        body = client.get(f"/accounts/{account.id}/users?take={take}").get_data(as_text=True)
        assert len(page_ids(body)) == shown, take


@pytest.mark.parametrize(
    ("q", "logins"),
    [
        ("user0001", {"user00010", "user00011", "user00012"}),
        ("USER00010@", {"user00010"}),
        ("grace", {"user00001", "user00011"}),
        ("family3", {"user00003", "user00010"}),
        ("ada family0", {"user00000"}),
        ("nobody", set()),
    ],
)
def test_search_by_email_login_or_name(portal: Portal, owner_client, q: str, logins: set[str]) -> None:  # type: ignore[no-untyped-def]
    account, _owner, client = owner_client
    seed_users(portal.app, account, 13)
    for hx in (False, True):
        response = client.get(f"/accounts/{account.id}/users", query_string={"q": q}, hx=hx)
        body = response.get_data(as_text=True)
        found = set(re.findall(r"<td>(user\d{5})</td>", body))
        assert found == logins, (q, hx)
        assert ("<html" in body) is not hx
        assert 'id="users_table"' in body


@pytest.mark.parametrize("sort", ["name", "last_sign_in"])
def test_a_broad_search_walks_the_sort_index_and_finds_the_same_users(  # type: ignore[no-untyped-def]
    portal: Portal, owner_client, monkeypatch: pytest.MonkeyPatch, sort: str
) -> None:
    """Past the threshold a search walks the sort's index instead of sorting its matches: the same
    users, in the same order, page by page; the count then says "N+" instead of counting them all."""
    from portal.users import queries

    account, _owner, client = owner_client
    seed_users(portal.app, account, 60)
    url = f"/accounts/{account.id}/users?q=user0000&sort={sort}&take=4"

    def every_page(start: str) -> tuple[list[str], str]:
        seen, body, next_url = [], "", start
        while next_url:
            body = client.get(next_url).get_data(as_text=True)
            seen += page_ids(body)
            next_url = link(body, "Next")
        return seen, " ".join(client.get(start).get_data(as_text=True).split())

    joined, joined_first = every_page(url)
    assert len(joined) == 10 and "10 users" in joined_first
    monkeypatch.setattr(queries, "BROAD_STEPS", (5,))  # more than 5 matches is broad
    walked, walked_first = every_page(url)
    assert walked == joined
    assert "5+ users" in walked_first and "Last »" not in walked_first
    # The CSV of a broad search has every match.
    exported = client.get(f"/accounts/{account.id}/users.csv?q=user0000&sort={sort}").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(exported)))) == 10


def test_filters_by_status_role_and_dormancy(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    account, _owner, client = owner_client
    portal.user(
        account,
        "old",
        roles=("auditor",),
        last_login_at=utcnow() - timedelta(days=100),
        created_at=utcnow() - timedelta(days=400),
    )
    portal.user(account, "fresh", last_login_at=utcnow() - timedelta(days=1))
    portal.user(account, "never", created_at=utcnow() - timedelta(days=200))
    portal.user(account, "invited", status="pending", created_at=utcnow() - timedelta(days=200))
    portal.user(account, "off", status="disabled")
    with portal.app.app_context():
        auditor = db.session.scalar(select(Role.id).where(Role.account_id == account.id, Role.name == "auditor"))

    def logins(**query: str) -> set[str]:
        body = client.get(f"/accounts/{account.id}/users", query_string=query).get_data(as_text=True)
        return set(re.findall(r'<td class="email">([a-z]+)@example.com</td>', body))

    assert logins(status="disabled") == {"off"}
    assert logins(status="pending") == {"invited"}
    assert logins(role=str(auditor)) == {"old"}
    assert logins(dormant="90") == {"old", "never"}
    assert logins(dormant="90", status="active") == {"old", "never"}
    assert logins(status="bogus") == {"old", "fresh", "never", "invited", "off"}


def test_the_role_filter_leaves_out_a_grant_whose_end_has_passed(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    """An expired grant the worker has not swept yet counts for nothing (in_force): not in the role's list either,
    nor in its count or its export, with a search too (whose statements are otherwise kept and reused)."""
    account, _owner, client = owner_client
    portal.user(account, "lapsed", roles=("auditor",))
    portal.user(account, "lasting", roles=("auditor",))
    with portal.app.app_context():
        auditor = db.session.scalar(select(Role.id).where(Role.account_id == account.id, Role.name == "auditor"))
        lapsed = db.session.scalar(select(User.id).where(User.account_id == account.id, User.login == "lapsed"))
        assignment = db.session.get_one(RoleAssignment, (lapsed, auditor))
        assignment.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    for query in ({"role": str(auditor)}, {"role": str(auditor), "q": "la"}):
        body = client.get(f"/accounts/{account.id}/users", query_string=query).get_data(as_text=True)
        assert set(re.findall(r'<td class="email">([a-z]+)@example.com</td>', body)) == {"lasting"}, query
        assert "1 user" in " ".join(body.split())
        exported = client.get(f"/accounts/{account.id}/users.csv", query_string=query).get_data(as_text=True)
        assert [row["login"] for row in csv.DictReader(io.StringIO(exported))] == ["lasting"]


def test_csv_export_streams_the_filtered_list(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    account, _owner, client = owner_client
    seed_users(portal.app, account, 25)
    response = client.get(f"/accounts/{account.id}/users.csv?status=active&sort=email")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 15 and {r["status"] for r in rows} == {"active"}
    assert [r["email"] for r in rows] == sorted(r["email"] for r in rows)
    assert "owner@example.com" not in response.get_data(as_text=True)


def test_csv_reads_in_chunks(portal: Portal) -> None:
    from portal.users import queries

    account, _ = portal.account()
    seed_users(portal.app, account, 23)
    with portal.app.app_context():
        rows = list(queries.iter_users(account.id, queries.UserFilter(sort="last_sign_in"), chunk=5))
    assert len({r.user.id for r in rows}) == 23


def test_user_counts_follow_every_change(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    """The trigger-kept counts agree with counting rows, after inserts, status changes and deletes."""
    account, _owner, _client = owner_client
    ids = seed_users(portal.app, account, 20)
    other, _ = portal.account("Other", login="other")
    seed_users(portal.app, other, 3, start=100)
    with portal.app.app_context():
        db.session.get(User, ids[0]).status = "disabled"
        db.session.delete(db.session.get(User, ids[1]))
        db.session.commit()
        kept = dict(
            db.session.execute(
                select(AccountUserCount.status, AccountUserCount.n).where(AccountUserCount.account_id == account.id)
            ).all()
        )
        real = dict(
            db.session.execute(
                select(User.status, func.count())
                .where(User.account_id == account.id, User.is_owner.is_(False))
                .group_by(User.status)
            ).all()
        )
    assert {k: v for k, v in kept.items() if v} == real


def test_csv_cells_never_start_a_formula(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    account, _owner, client = owner_client
    portal.user(account, "mallory", first_name='=HYPERLINK("http://evil.example")', last_name="+1")
    rows = list(csv.DictReader(io.StringIO(client.get(f"/accounts/{account.id}/users.csv").get_data(as_text=True))))
    assert rows[0]["first_name"].startswith("'=") and rows[0]["last_name"] == "'+1"


def test_the_owner_lookup_uses_its_index(portal: Portal) -> None:
    """The owner is found through the partial unique index, not by walking the account's users.

    SQLite uses a partial index only when the query states its condition as written ("is_owner = 1");
    PostgreSQL's planner decides by statistics, so only SQLite's plan is asserted.
    """
    from portal.users import queries

    account, _owner = portal.account()
    engine = portal.app.extensions["portal.engine"]
    if engine.dialect.name == "sqlite":
        compiled = select(User.id).where(User.account_id == account.id, User.is_owner).compile(engine)
        with engine.connect() as connection:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", (account.id.hex,)).all()
        assert "uq_users_one_owner" in " ".join(str(row) for row in plan)
    with portal.app.app_context():
        assert queries.owner_of(account.id).is_owner


# --- issue 17: direction, the MFA filter, invitees ------------------------------------------------


def _invitees(portal: Portal, account: Account, n: int) -> list[str]:
    """n invited users who have not accepted: no names yet, a placeholder login."""
    ids = []
    for i in range(n):
        user = portal.user(
            account,
            f"placeholder-{i:02d}x",
            roles=(),
            status="pending",
            first_name="",
            email=f"invitee{i:02d}@example.com",
        )
        ids.append(str(user.id))
    return ids


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_invitees_show_their_email_and_sort_after_the_named_in_either_direction(  # type: ignore[no-untyped-def]
    portal: Portal, owner_client, direction: str
) -> None:
    account, _owner, client = owner_client
    named = seed_users(portal.app, account, 17)
    invitees = _invitees(portal, account, 6)
    url = f"/accounts/{account.id}/users?sort=name&dir={direction}&take=5"
    seen: list[str] = []
    bodies = []
    while url:
        body = client.get(url).get_data(as_text=True)
        bodies.append(body)
        seen += page_ids(body)
        url = link(body, "Next ›")
    assert len(seen) == len(set(seen)) == 23
    assert set(seen[:17]) == {str(i) for i in named} and set(seen[17:]) == set(invitees)
    assert seen[17:] == sorted(invitees, reverse=direction == "desc")  # the tail by (last name, id): by id here
    with portal.app.app_context():
        names = {str(u.id): (u.first_name, u.last_name) for u in db.session.scalars(select(User))}
    order = [names[i] for i in seen[:17]]
    assert order == sorted(order, reverse=direction == "desc")
    # Offset paging (`from` alone) agrees with the cursors, tail included.
    offset = client.get(f"/accounts/{account.id}/users?sort=name&dir={direction}&take=5&from=15")
    assert page_ids(offset.get_data(as_text=True)) == seen[15:20]
    # An invitee is shown by their email, not by the placeholder login.
    last = " ".join(bodies[-1].split())
    assert re.search(r">invitee\d\d@example.com</a>", last) and "placeholder-" not in last
    assert '<span class="muted">invited</span>' in last


def test_column_headers_sort_both_ways_and_keep_the_filters(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    account, _owner, client = owner_client
    seed_users(portal.app, account, 12)
    base = f"/accounts/{account.id}/users"
    body = client.get(f"{base}?q=user&status=active&sort=email").get_data(as_text=True)
    assert '<th scope="col" aria-sort="ascending">' in body
    toggle = link(body, "Email")
    assert toggle and all(part in toggle for part in ("sort=email", "dir=desc", "q=user", "status=active"))
    descending = client.get(toggle).get_data(as_text=True)
    assert '<th scope="col" aria-sort="descending">' in descending
    emails = re.findall(r"<td class=\"email\">(user\d{5}@example.com)</td>", descending)
    assert emails == sorted(emails, reverse=True) and emails
    assert "dir=asc" in link(descending, "Email")
    # Another column starts in its own direction: newest first for the creation date.
    assert "sort=created" in link(body, "Created") and "dir=desc" in link(body, "Created")
    # The sort goes along with the filter form (form="user_filters") and the bulk form.
    assert '<input type="hidden" name="sort" value="email" form="user_filters">' in descending
    assert '<input type="hidden" name="dir" value="desc" form="user_filters">' in descending
    # A bad direction is ignored.
    assert client.get(f"{base}?sort=email&dir=sideways").status_code == 200


def test_mfa_filter(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    account, _owner, client = owner_client
    portal.user(account, "secure", mfa_enabled=True)
    portal.user(account, "plain")
    portal.user(account, "invited", status="pending")

    def logins(**query: str) -> set[str]:
        body = client.get(f"/accounts/{account.id}/users", query_string=query).get_data(as_text=True)
        return set(re.findall(r'<td class="email">([a-z]+)@example.com</td>', body))

    assert logins(mfa="on") == {"secure"}
    assert logins(mfa="off") == {"plain"}  # an invitee cannot have set it up yet
    assert logins(mfa="maybe") == {"secure", "plain", "invited"}
    assert "1 user" in " ".join(client.get(f"/accounts/{account.id}/users?mfa=on").get_data(as_text=True).split())
    exported = client.get(f"/accounts/{account.id}/users.csv?mfa=on").get_data(as_text=True)
    assert [row["login"] for row in csv.DictReader(io.StringIO(exported))] == ["secure"]


def test_the_user_page_sends_eight_statements_whatever_their_roles_and_groups(portal: Portal) -> None:
    """Issue 20: 15 before (a permissions read per request, the rank read twice, roles and groups read twice,
    two audit seeks), then 10 as the owner sees it; now the account's roles, the user's grants and their
    invited roles are one statement, and the rank comes from it (no read of its own): 8 with the owner's
    lockout panel, for an invitee as for a member."""
    from tests.helpers import make_group, make_role

    tenant = portal.tenant()
    client = portal.client(tenant.owner)
    invitee = portal.user(tenant.account, "invitee", roles=(), status="pending", first_name="")
    for user in (tenant.member, invitee):
        url = f"/accounts/{tenant.id}/users/{user.id}"
        client.get(url)
        with portal.count_statements() as few:
            assert client.get(url).status_code == 200
        for n in range(5):
            make_role(portal, tenant.account, f"Role {user.login} {n}", ("users:read",), holders=(user,))
            make_group(portal, tenant.account, f"Group {user.login} {n}", members=(user,))
        client.get(url)
        with portal.count_statements() as many:
            body = client.get(url).get_data(as_text=True)
        assert f"Role {user.login} 4" in body and f"Group {user.login} 4" in body
        assert "<dt>Groups</dt><dd>5</dd>" in body
        assert many.count == few.count <= 8, (user.login, few.count, many.count)


# --- issue 20: `from` without a cursor --------------------------------------------------------------


def _walk(client, url: str) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    while url:
        body = client.get(url).get_data(as_text=True)
        seen += page_ids(body)
        url = link(body, "Next ›")
    return seen


@pytest.mark.parametrize("sort", ["name", "email", "created", "last_sign_in"])
def test_from_alone_agrees_with_the_cursors_at_every_depth_tails_and_filters_included(  # type: ignore[no-untyped-def]
    portal: Portal, owner_client, sort: str
) -> None:
    account, _owner, client = owner_client
    seed_users(portal.app, account, 47)  # a third never signed in: the last sign-in order's tail
    _invitees(portal, account, 4)  # no names: the name order's tail
    for direction in ("asc", "desc"):
        for narrowed in ("", "&status=active", "&q=user0", "&q=user", "&mfa=off"):
            url = f"/accounts/{account.id}/users?sort={sort}&dir={direction}&take=7{narrowed}"
            seen = _walk(client, url)
            assert len(seen) == len(set(seen)) and seen, (direction, narrowed)
            for start in (1, 6, 7, 19, 30, len(seen) - 8, len(seen) - 1, len(seen), len(seen) + 5):
                body = client.get(f"{url}&from={max(start, 0)}").get_data(as_text=True)
                assert page_ids(body) == seen[max(start, 0) : max(start, 0) + 7], (direction, narrowed, start)


def test_from_alone_walks_an_index_and_sorts_nothing(portal: Portal, owner_client) -> None:  # type: ignore[no-untyped-def]
    """Issue 20: `?from=50000` sorted every user (4.6 s at 100k users); now an OFFSET over the sort's index finds
    the page's first key, then the page is read as a cursor's is. SQLite's plans say so."""
    from sqlalchemy import event

    account, _owner, client = owner_client
    engine = portal.app.extensions["portal.engine"]
    if engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    seed_users(portal.app, account, 60)
    _invitees(portal, account, 3)
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if statement.startswith("SELECT") and "FROM users" in statement:
            sent.append((statement, parameters))

    for sort in ("name", "email", "created", "last_sign_in"):
        for query in ("", "&dir=desc", "&status=active", "&status=disabled&dir=desc"):
            event.listen(engine, "before_cursor_execute", keep)
            try:
                assert client.get(f"/accounts/{account.id}/users?sort={sort}&from=40{query}").status_code == 200
            finally:
                event.remove(engine, "before_cursor_execute", keep)
    with engine.connect() as connection:
        for statement, parameters in sent:
            plan = " | ".join(
                str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            assert "TEMP B-TREE" not in plan and "SCAN users" not in plan, (statement, plan)


@pytest.mark.parametrize("sort", ["name", "last_sign_in"])
def test_a_page_by_cursor_or_by_from_sends_what_the_first_page_does(portal: Portal, owner_client, sort: str) -> None:  # type: ignore[no-untyped-def]
    """Issue 20: the deep page (Last », then ‹ Previous twice) sent one statement more than the first page: a read
    of the sort's tail, which its key had already left behind. Pages whose rows are all on one side of the tail
    cost the same however they are reached."""
    account, _owner, client = owner_client
    seed_users(portal.app, account, 60)
    _invitees(portal, account, 3)
    first = f"/accounts/{account.id}/users?sort={sort}&take=10"
    body = client.get(first).get_data(as_text=True)
    following = link(body, "Next ›")
    url = link(body, "Last »")
    for _ in range(2):
        url = link(client.get(url).get_data(as_text=True), "‹ Previous")
    counts = {}
    for name, page in (("first", first), ("next", following), ("deep", url), ("from", f"{first}&from=20")):
        client.get(page)
        with portal.count_statements() as counter:
            assert len(page_ids(client.get(page).get_data(as_text=True))) == 10
        counts[name] = counter.count
    assert len(set(counts.values())) == 1, counts
