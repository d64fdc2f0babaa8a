"""Bad input that once answered 500: a NUL anywhere, numbers past any page, versions past the column (issue 13
§4, PostgreSQL), and what the fuzz (tests/fuzz) found. Each is refused or clamped (400, 422, or the last page),
never a 500, and nothing changes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from portal.request_checks import MESSAGE
from tests import db_state
from tests.helpers import HX, Client, Portal, Tenant, csrf_token_in, make_group, make_role

HUGE = "9999999999999999999999"  # past a 64-bit integer: PostgreSQL's OFFSET overflowed on it


@pytest.fixture
def owner(portal: Portal, a: Tenant) -> Client:
    return portal.client(a.owner)


def _refused_for_nul(response: Any) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 400, body[:300]
    assert "NUL character" in body and MESSAGE.split(" (")[0] in body
    assert response.headers["X-Correlation-Id"] and "Content-Security-Policy" in response.headers


# --- NUL --------------------------------------------------------------------------------------------------


# Each of these answered 500 on PostgreSQL ("text fields cannot contain NUL bytes").
NUL_IN_QUERY = [
    "/groups?q=a%00b",
    "/groups/{group}?pick=%00",
    "/groups/{group}?after=%00",
    "/groups/{group}/members?q=a%00b",
    "/users?q=%00",
    "/users/{login}%00",
    "/users?%00=1",
]


@pytest.mark.parametrize("path", NUL_IN_QUERY)
def test_a_nul_in_the_address_is_refused(portal: Portal, a: Tenant, owner: Client, path: str) -> None:
    group = make_group(portal, a.account, "Eng", members=(a.member,))
    url = f"/accounts/{a.id}" + path.format(group=group.id, login=a.member.login)
    _refused_for_nul(owner.get(url))
    fragment = owner.get(url, hx=True)
    _refused_for_nul(fragment)
    assert "<html" not in fragment.get_data(as_text=True)


NUL_IN_FORMS = [
    ("/roles", {"name": "a\x00b", "permissions": ["users:read"]}),
    ("/groups", {"name": "a\x00b"}),
    ("/groups/{group}/edit", {"name": "x\x00", "description": "", "version": "1"}),
    ("/groups/{group}/members", {"members": "\x00"}),
    ("/groups/{group}/members/replace", {"members": "\x00"}),
    ("/invitations", {"emails": "new\x00@example.com"}),
    ("/users", {"login": "new", "email": "new@example.com", "first_name": "N\x00"}),
    ("/groups", {"name\x00": "Sales"}),
]


@pytest.mark.parametrize(("path", "data"), NUL_IN_FORMS)
def test_a_nul_in_a_form_is_refused_and_changes_nothing(
    portal: Portal, a: Tenant, owner: Client, path: str, data: dict[str, Any]
) -> None:
    group = make_group(portal, a.account, "Eng", members=(a.member,))
    make_role(portal, a.account, "custom", ("users:read",))
    before = db_state.take(portal.app)
    _refused_for_nul(owner.post(f"/accounts/{a.id}" + path.format(group=group.id), data))
    assert not db_state.compare(before, db_state.take(portal.app))


@pytest.mark.parametrize(
    ("path", "data", "headers"),
    [
        ("/login", {"login": "owner-a\x00", "password": "x" * 12}, {}),
        ("/login?next=%00", {"login": "owner-a", "password": "x" * 12}, {}),
        ("/login", {"login": "owner-a", "password": "correct-horse-battery-staple"}, {"User-Agent": "Mozilla\x00"}),
        ("/password-reset", {"email": "owner-a@example.com\x00"}, {}),
        ("/signup", {"account_name": "New\x00", "login": "new", "email": "new@example.com"}, {}),
        ("/invitations/accept/abc%00", {"login": "new"}, {}),
    ],
)
def test_a_nul_on_the_public_pages_is_refused(
    portal: Portal, a: Tenant, path: str, data: dict[str, Any], headers: dict[str, str]
) -> None:
    """The sign-in page looked the NUL login up (500), and a NUL browser name broke the sign-in's audit event."""
    client = portal.app.test_client()
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    before = db_state.take(portal.app)
    _refused_for_nul(client.post(path, data={**data, "csrf_token": token}, headers=headers))
    assert not db_state.compare(before, db_state.take(portal.app))
    if "%00" in path or headers:  # the same address, or browser name, without a form
        _refused_for_nul(client.get(path, headers={**headers, **HX}))


# --- numbers --------------------------------------------------------------------------------------------


PAGED = [
    "/audit",
    "/invitations",
    "/outbox",
    "/roles/{role}",
    "/users",
    "/groups",
    "/groups/{group}",
    "/groups/{group}/members",
]


@pytest.mark.parametrize("path", PAGED)
@pytest.mark.parametrize("number", [HUGE, "-" + HUGE, "1" * 5000, "1e9", "²"])
def test_numbers_past_any_page_are_clamped(portal: Portal, a: Tenant, owner: Client, path: str, number: str) -> None:
    """`from` and `take` past a 64-bit integer overflowed PostgreSQL's OFFSET (500): now clamped."""
    role = make_role(portal, a.account, "custom", ("users:read",), holders=(a.member,))
    group = make_group(portal, a.account, "Eng", members=(a.member,))
    url = f"/accounts/{a.id}" + path.format(role=role.id, group=group.id)
    for query in (f"from={number}", f"take={number}", f"from={number}&take={number}&dormant={number}"):
        response = owner.get(f"{url}?{query}")
        assert response.status_code == 200, (url, query)
        assert owner.get(f"{url}?{query}", hx=True).status_code == 200, (url, query)


def test_the_api_refuses_numbers_out_of_range_per_field(portal: Portal, a: Tenant) -> None:
    from tests.routes.test_api import bearer, key_for

    headers = bearer(key_for(portal, a.admin))
    client = portal.app.test_client()
    # The API's contract (API.md) bounds `from` and `take`: out of range is a 422 naming each field, never a 500.
    both = client.get(f"/api/v1/accounts/{a.id}/users?from={HUGE}&take={HUGE}", headers=headers)
    assert both.status_code == 422 and both.json is not None
    assert [(e["code"], e["field"]) for e in both.json["errors"]] == [
        ("InvalidArgument", "from"),
        ("InvalidArgument", "take"),
    ]
    below = client.get(f"/api/v1/accounts/{a.id}/users?from=-{HUGE}", headers=headers)
    assert below.status_code == 422 and below.json is not None and below.json["errors"][0]["field"] == "from"


@pytest.mark.parametrize("version", [HUGE, "2147483648", "²", "-1"])
def test_an_impossible_version_is_a_form_error(portal: Portal, a: Tenant, owner: Client, version: str) -> None:
    """The user form took "²" for a number (int() then failed: 500); the invitation form sent a number past the
    column's range to the database (500 on PostgreSQL)."""
    before = db_state.take(portal.app)
    edit = owner.post(
        f"/accounts/{a.id}/users/{a.member.id}/edit",
        {"login": a.member.login, "email": a.member.email, "version": version},
    )
    assert edit.status_code == 422 and "reload the page" in edit.get_data(as_text=True)
    assert not db_state.compare(before, db_state.take(portal.app))
    owner.post(f"/accounts/{a.id}/invitations", {"emails": "new@example.com"})
    invitation_id = _invitation_id(portal, "new@example.com")
    before = db_state.take(portal.app)
    invitation = owner.post(f"/accounts/{a.id}/invitations/{invitation_id}/edit", {"roles": [], "version": version})
    assert invitation.status_code == 422
    assert "reload the page" in invitation.get_data(as_text=True) or version == "²"  # "Not a valid integer value."
    assert not db_state.compare(before, db_state.take(portal.app))


def _invitation_id(portal: Portal, email: str) -> uuid.UUID:
    from sqlalchemy import select

    from portal.models import Invitation

    return portal.scalar(select(Invitation.id).where(Invitation.email == email))


# --- malformed forms ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "part",
    [b"Content-Disposition: form-data\r\n\r\nvalue", b'Content-Disposition: form-data; filename="x.csv"\r\n\r\nvalue'],
)
def test_a_form_field_without_a_name_is_refused(portal: Portal, a: Tenant, owner: Client, part: bytes) -> None:
    """Found by the fuzz: a multipart part without a name became a field named None, and the CSRF check,
    looking through the field names for its token, failed on it (500) on every POST, signed in or not."""
    from portal.request_checks import NAMELESS

    body = b"--b\r\n" + part + b"\r\n--b--\r\n"
    before = db_state.take(portal.app)
    for client, path in ((portal.app.test_client(), "/login"), (owner.raw, f"/accounts/{a.id}/groups")):
        response = client.post(path, data=body, content_type="multipart/form-data; boundary=b")
        assert response.status_code == 400 and NAMELESS in response.get_data(as_text=True)
    assert not db_state.compare(before, db_state.take(portal.app))


# --- forged paging cursors ----------------------------------------------------------------------------------


def _cursor(*values: object) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


FORGED = [
    ("sort=created", _cursor("2026-01-01T00:00:00", "{id}")),  # no offset: the UTC column refused it
    ("sort=last_sign_in", _cursor("0001-01-01", "{id}")),
    ("sort=created", _cursor("9999-12-31T23:59:59-23:59", "{id}")),  # past year 9999 in UTC: OverflowError
    ("sort=created", _cursor("2026-01-01T00:00:00+00:00", -433)),  # a number where the id goes
    ("sort=email", _cursor("a\x00")),  # a NUL inside the token, out of the request check's sight
    ("sort=name", _cursor("a", ["b"], "{id}")),
]


@pytest.mark.parametrize(
    ("sort", "token"), FORGED, ids=["naive", "naive-date", "past-9999", "number-for-id", "nul", "list-for-text"]
)
def test_a_forged_cursor_is_ignored(portal: Portal, a: Tenant, owner: Client, sort: str, token: str) -> None:
    """Found by the fuzz: a cursor is the query string's, anyone can forge one; the users list and the audit log
    answered 500 to a timestamp without offset, out of range, or a number where text goes."""
    token = _cursor(*[a.member.id.hex if v == "{id}" else v for v in _decode(token)])
    for url in (
        f"/accounts/{a.id}/users?{sort}&after={token}",
        f"/accounts/{a.id}/users?{sort}&before={token}",
        f"/accounts/{a.id}/audit?after={token}",
        f"/accounts/{a.id}/audit?before={token}",
    ):
        response = owner.get(url)
        assert response.status_code == 200, url
        assert owner.get(url, hx=True).status_code == 200, url


def _decode(token: str) -> list[object]:
    import base64
    import json

    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_the_audit_log_takes_the_first_and_last_days(portal: Portal, a: Tenant, owner: Client, day: str) -> None:
    """Found by the fuzz: `until=9999-12-31` (the day after it overflows) answered 500."""
    for query in (f"until={day}", f"since={day}", f"since={day}&until={day}"):
        assert owner.get(f"/accounts/{a.id}/audit?{query}").status_code == 200, query
        assert owner.get(f"/accounts/{a.id}/audit.csv?{query}").status_code == 200, query
