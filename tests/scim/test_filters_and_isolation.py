"""Filters (compiled to SQL) on the portal's users and groups — a table of filter → users — and tenant isolation.
Runs on SQLite, and on PostgreSQL when DATABASE_URL says so."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.helpers import Portal
from tests.scim.conftest import Scim, make_token

PEOPLE = [
    {
        "userName": "ada@example.com",
        "externalId": "ext-ada",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
    },
    {
        "userName": "grace.hopper",
        "externalId": "EXT-GRACE",
        "name": {"givenName": "Grace", "familyName": "Hopper"},
        "emails": [{"value": "grace@navy.example.org"}],
    },
    {
        "userName": "alan+t@example.com",
        "name": {"givenName": "Alan", "familyName": "Turing"},
        "emails": [{"value": "alan@example.com"}],
        "active": False,
    },
]

TABLE = [
    ('userName eq "ADA@example.com"', {"ada@example.com"}),
    ('userName ne "ada@example.com"', {"owner", "grace.hopper", "alan+t@example.com"}),
    ('userName co "hop"', {"grace.hopper"}),
    ('userName sw "a"', {"ada@example.com", "alan+t@example.com"}),
    ('userName ew "example.com"', {"ada@example.com", "alan+t@example.com"}),
    ('externalId eq "ext-ada"', {"ada@example.com"}),
    ('externalId eq "ext-grace"', set()),  # externalId is case-exact
    ("externalId pr", {"ada@example.com", "grace.hopper"}),
    ("not (externalId pr)", {"owner", "alan+t@example.com"}),
    ('emails.value eq "grace@navy.example.org"', {"grace.hopper"}),
    ('emails[type eq "work" and value co "navy"]', {"grace.hopper"}),
    ('emails[type eq "home"]', set()),
    ('name.givenName eq "ada"', {"ada@example.com"}),
    ('name.familyName sw "T"', {"alan+t@example.com"}),
    ("active eq false", {"alan+t@example.com"}),
    ('active eq true and (name.givenName eq "Ada" or name.givenName eq "Grace")', {"ada@example.com", "grace.hopper"}),
    ('meta.created gt "2000-01-01T00:00:00Z"', {"owner", "ada@example.com", "grace.hopper", "alan+t@example.com"}),
    ('meta.lastModified lt "2000-01-01T00:00:00Z"', set()),
    ('id eq "not-a-uuid"', set()),
    ('userName eq "50%_off"', set()),
    ('userName co "_"', set()),  # LIKE's wildcards are matched as themselves
    ('userName co "%"', set()),
    ('userName sw "ALAN+"', {"alan+t@example.com"}),
    ('displayName co "ace h"', {"grace.hopper"}),
    ("externalId eq null", {"owner", "alan+t@example.com"}),
    ("externalId ne null", {"ada@example.com", "grace.hopper"}),
    ('not (userName eq "owner") and emails[value ew "example.com"]', {"ada@example.com", "alan+t@example.com"}),
]
INVALID = [
    "userName eq",
    'title eq "x"',
    "active gt true",
    'meta.created eq "yesterday"',
    "userName eq 3",
    'emails[foo eq "x"]',
    'userName zz "x"',
    '(userName eq "a"',
]


@pytest.fixture
def people(scim: Scim) -> Scim:
    for person in PEOPLE:
        assert scim.post("/Users", person).status_code == 201
    return scim


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_filter_returns_the_right_users(people: Scim, text: str, expected: set[str]) -> None:
    answer = people.get("/Users", query_string={"filter": text})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert {r["userName"] for r in body["Resources"]} == expected
    assert body["totalResults"] == len(expected)


@pytest.mark.parametrize("text", INVALID)
def test_filter_the_portal_cannot_evaluate_is_invalid(people: Scim, text: str) -> None:
    answer = people.get("/Users", query_string={"filter": text})
    assert answer.status_code == 400
    assert answer.get_json()["scimType"] == "invalidFilter"


def test_group_filters_paging_and_sorting(people: Scim) -> None:
    ids = {r["userName"]: r["id"] for r in people.get("/Users").get_json()["Resources"]}
    made = people.post(
        "/Groups", {"displayName": "Engineers", "externalId": "g1", "members": [{"value": ids["ada@example.com"]}]}
    )
    assert made.status_code == 201
    people.post("/Groups", {"displayName": "Sales"})
    found = people.get("/Groups", query_string={"filter": f'members.value eq "{ids["ada@example.com"]}"'}).get_json()
    assert [g["displayName"] for g in found["Resources"]] == ["Engineers"]
    assert people.get("/Groups", query_string={"filter": 'displayName eq "engineers"'}).get_json()["totalResults"] == 1
    small = people.get("/Groups", query_string={"excludedAttributes": "members"}).get_json()
    assert all("members" not in g for g in small["Resources"])
    page = people.get(
        "/Users", query_string={"sortBy": "userName", "sortOrder": "descending", "startIndex": "2", "count": "2"}
    ).get_json()
    assert [r["userName"] for r in page["Resources"]] == ["grace.hopper", "alan+t@example.com"]
    assert page["totalResults"] == 4 and page["startIndex"] == 2
    only = people.get("/Users", query_string={"attributes": "userName"}).get_json()["Resources"][0]
    assert set(only) == {"id", "schemas", "userName"}


def test_tenant_isolation(app: Flask, portal: Portal, scim: Scim) -> None:
    other, other_owner = portal.account("Other", login="boss")
    other_token = make_token(app, other, other_owner)
    theirs = Scim(app.test_client(), other.id, other_token)
    their_user = theirs.post(
        "/Users", {"userName": "bob@other.example.com", "emails": [{"value": "bob@other.example.com"}]}
    ).get_json()["id"]
    their_group = theirs.post("/Groups", {"displayName": "Theirs"}).get_json()["id"]
    # A's token on B's base URL: 401.
    crossed = Scim(app.test_client(), other.id, scim.token)
    assert crossed.get("/Users").status_code == 401
    assert (
        crossed.post("/Users", {"userName": "x@example.com", "emails": [{"value": "x@example.com"}]}).status_code == 401
    )
    # B's ids through A's URL: 404, for every verb.
    for path in (f"/Users/{their_user}", f"/Groups/{their_group}"):
        assert scim.get(path).status_code == 404
        assert scim.put(path, {"userName": "x@example.com", "displayName": "x"}).status_code == 404
        assert scim.patch(path, {"Operations": [{"op": "replace", "value": {"active": False}}]}).status_code == 404
        assert scim.delete(path).status_code == 404
    ada = scim.post("/Users", {"userName": "ada@example.com", "emails": [{"value": "ada@example.com"}]})
    group = scim.post("/Groups", {"displayName": "Mine"}).get_json()["id"]
    added = scim.patch(
        f"/Groups/{group}", {"Operations": [{"op": "add", "path": "members", "value": [{"value": their_user}]}]}
    )
    assert added.status_code == 400  # another account's user is no user here
    assert ada.status_code == 201
    assert theirs.get(f"/Users/{their_user}").status_code == 200  # untouched
    assert scim.get("/Users", headers={"Authorization": "Bearer nope"}).status_code == 401
