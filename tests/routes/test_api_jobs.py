"""The JSON API of imports and jobs (issue 18), and time-bound grants through the API."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select

from portal.db import utcnow
from portal.models import GroupMember, RoleAssignment, User
from tests.api_client import Api, key_for
from tests.helpers import make_group, run_jobs


def _base(account):
    return f"/api/v1/accounts/{account.id}"


def test_import_through_the_api_dry_run_then_apply(portal):
    tenant = portal.tenant()
    api = Api(portal.app, key_for(portal, tenant.admin))
    data = b"email,first_name,roles\nnew@example.com,New,auditor\nbad-address,X,\n"
    dry = api.open(
        "POST",
        _base(tenant.account) + "/imports?dry_run=true",
        data={"file": (io.BytesIO(data), "people.csv")},
        content_type="multipart/form-data",
    )
    assert dry.status_code == 202, dry.get_json()
    body = dry.get_json()
    assert body["state"] == "queued" and body["dry_run"] is True and body["kind"] == "import_users"
    assert dry.headers["Location"].endswith(f"/jobs/{body['id']}")
    run_jobs(portal)
    job = api.get(dry.headers["Location"]).get_json()
    assert job["state"] == "done" and job["result"] == {"created": 1, "updated": 0, "skipped": 0, "refused": 1}
    report = api.get(job["report"]).get_json()
    assert [line["outcome"] for line in report["lines"]] == ["created", "refused"]
    assert "email" in report["lines"][1]["reason"] and report["row_count"] == 2
    assert portal.scalar(select(User).where(User.email == "new@example.com")) is None
    applied = api.open(
        "POST",
        _base(tenant.account) + "/imports?dry_run=true",  # the form field wins
        data={"file": (io.BytesIO(data), "people.csv"), "dry_run": "false"},
        content_type="multipart/form-data",
    )
    assert applied.get_json()["dry_run"] is False
    assert applied.status_code == 202
    run_jobs(portal)
    assert api.get(applied.headers["Location"]).get_json()["result"]["created"] == 1
    assert portal.scalar(select(User.status).where(User.email == "new@example.com")) == "pending"


def test_import_errors_follow_the_api_conventions(portal):
    tenant = portal.tenant()
    api = Api(portal.app, key_for(portal, tenant.admin))
    missing = api.open("POST", _base(tenant.account) + "/imports", data={}, content_type="multipart/form-data")
    assert missing.status_code == 422 and missing.get_json()["errors"][0] == {
        "code": "MissingParameter",
        "message": missing.get_json()["errors"][0]["message"],
        "field": "file",
    }
    not_bool = api.open(
        "POST",
        _base(tenant.account) + "/imports",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(b"email\nx@example.com\n"), "a.csv"), "dry_run": "perhaps"},
    )
    assert not_bool.status_code == 422 and not_bool.get_json()["errors"][0]["field"] == "dry_run"
    bad = api.open(
        "POST",
        _base(tenant.account) + "/imports",
        data={"file": (io.BytesIO(b"name\nx\n"), "a.csv")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["code"] == "InvalidArgument"
    reader = Api(portal.app, key_for(portal, tenant.auditor))
    assert (
        reader.open("POST", _base(tenant.account) + "/imports", data={}, content_type="multipart/form-data").status_code
        == 403
    )
    other = portal.tenant("B")
    assert api.get(_base(other.account) + f"/jobs/{tenant.account.id}").status_code == 404
    assert api.get(_base(tenant.account) + f"/jobs/{tenant.account.id}").status_code == 404


def test_time_bound_grants_through_the_api(portal):
    tenant = portal.tenant()
    api = Api(portal.app, key_for(portal, tenant.admin))
    until = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    granted = api.post(
        _base(tenant.account) + f"/users/{tenant.member.id}/roles",
        json={"role": "auditor", "expires_at": until.isoformat().replace("+00:00", "Z")},
    )
    assert granted.status_code == 200 and "auditor" in granted.get_json()["roles"]
    held = portal.scalar(
        select(RoleAssignment).where(RoleAssignment.user_id == tenant.member.id, RoleAssignment.expires_at.is_not(None))
    )
    assert held.expires_at == until
    past = api.post(
        _base(tenant.account) + f"/users/{tenant.member.id}/roles",
        json={"role": "group-manager", "expires_at": "2001-01-01T00:00:00Z"},
    )
    assert past.status_code == 422 and past.get_json()["errors"][0]["field"] == "expires_at"
    group = make_group(portal, tenant.account, "Support")
    added = api.post(
        _base(tenant.account) + f"/groups/{group.id}/members",
        json=[{"id": str(tenant.member.id), "expires_at": until.isoformat()}, {"email": tenant.auditor.email}],
    )
    assert added.status_code == 200 and len(added.get_json()) == 2
    with portal.app.app_context():
        from portal import db

        expiries = dict(db.session.execute(select(GroupMember.user_id, GroupMember.expires_at)).all())
    assert expiries[tenant.member.id] == until and expiries[tenant.auditor.id] is None
