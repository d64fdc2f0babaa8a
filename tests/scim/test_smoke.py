"""SCIM basics: discovery, create, read, errors."""

from __future__ import annotations

from tests.scim.conftest import Scim


def test_create_and_read_a_user(scim: Scim) -> None:
    created = scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                   "userName": "Ada@Example.com", "name": {"givenName": "Ada", "familyName": "L"},
                                   "emails": [{"value": "ada@example.com", "primary": True}], "externalId": "00u1"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.mimetype == "application/scim+json"
    body = created.get_json()
    assert created.headers["Location"].endswith(f"/Users/{body['id']}")
    assert created.headers["ETag"].startswith('W/"')
    assert body["userName"] == "ada@example.com" and body["active"] is True
    again = scim.get(f"/Users/{body['id']}")
    assert again.status_code == 200 and again.get_json()["externalId"] == "00u1"
    found = scim.get('/Users?filter=userName eq "ADA@example.com"').get_json()
    assert found["totalResults"] == 1
    assert scim.get("/ServiceProviderConfig").get_json()["patch"]["supported"] is True
    assert scim.get("/Schemas").status_code == 200
    bad = scim.get('/Users?filter=userName zz "x"')
    assert bad.status_code == 400 and bad.get_json()["scimType"] == "invalidFilter"
    dup = scim.post("/Users", {"userName": "ada@example.com", "emails": [{"value": "other@example.com"}]})
    assert dup.status_code == 409 and dup.get_json()["scimType"] == "uniqueness"
