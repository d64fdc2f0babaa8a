"""The users CSV export, byte for byte: the immediate download and the export job write the same file."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from portal.jobs import services as jobs
from tests.helpers import Portal, make_group, run_jobs

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
EXPECTED = (
    "id,login,email,first_name,last_name,company_name,address,postal_code,city,state,country,phone,status,roles,"
    "mfa,groups,last_sign_in,created\r\n"
    "00000000-0000-0000-0000-00000000000a,ada,ada@example.com,Ada,Lovelace,Analytical,1 Engine St,N1,London,,GB,"
    "'+44 1,active,auditor;member,on,2,2026-03-04T05:06:07+00:00,2026-03-04T05:06:07+00:00\r\n"
    "00000000-0000-0000-0000-00000000000b,grace,grace@example.com,'=Grace,,,,,,,,,disabled,,off,0,,"
    "2026-03-04T05:06:07+00:00\r\n"
)


@pytest.mark.parametrize("via_job", [False, True])
def test_the_export_is_byte_identical(portal: Portal, monkeypatch: pytest.MonkeyPatch, via_job: bool) -> None:
    from portal.users import routes

    account, owner = portal.account()
    ada = portal.user(
        account,
        "ada",
        roles=("member", "auditor"),
        id=uuid.UUID(int=10),
        first_name="Ada",
        last_name="Lovelace",
        company_name="Analytical",
        address="1 Engine St",
        postal_code="N1",
        city="London",
        country="GB",
        phone="+44 1",
        mfa_enabled=True,
        last_login_at=WHEN,
        created_at=WHEN,
    )
    grace = portal.user(
        account, "grace", roles=(), id=uuid.UUID(int=11), first_name="=Grace", status="disabled", created_at=WHEN
    )
    make_group(portal, account, "One", members=(ada,))
    make_group(portal, account, "Two", members=(ada,))
    assert grace.id
    client = portal.client(owner)
    url = f"/accounts/{account.id}/users.csv?sort=email"
    if via_job:
        monkeypatch.setattr(routes, "EXPORT_INLINE", 1)
        monkeypatch.setattr(jobs, "CHUNK_BYTES", 100)  # several stored chunks
        started = client.get(url)
        assert started.status_code == 303
        run_jobs(portal, batch=1)
        body = client.get(started.headers["Location"] + "/export.csv").get_data()
    else:
        body = client.get(url).get_data()
    assert body == EXPECTED.encode()
