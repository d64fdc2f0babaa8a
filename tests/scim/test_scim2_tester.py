"""scim2-tester (PyPI, the scim2 family's RFC 7643/7644 checker) against the test suite's live server.

Every check must pass except KNOWN_GAPS, each with its reason (work left, see the README): the checker fills
only the attributes its own User model requires, so it creates users without an email address (every portal
user has one: 400), and it fills addresses.postalCode with a 36-character UUID (the portal keeps 20)."""

from __future__ import annotations

from collections import Counter

import httpx2
from flask import Flask
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server
from scim2_tester.utils import Status

from tests.helpers import Portal
from tests.scim.conftest import make_token

PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}
SKIPS: dict[str, str] = {}
KNOWN_GAPS = {
    "An email address is required": "the checker creates users without emails; the portal needs one",
    "postalCode may be at most 20": "the checker's postal codes are 36-character UUIDs; the portal keeps 20",
}


def test_scim2_tester_passes_every_check(app: Flask, portal: Portal, live_server: str) -> None:
    account, owner = portal.account("Checked", login="owner")
    token = make_token(app, account, owner)
    with httpx2.Client(base_url=f"{live_server}/scim/v2/{account.id}",
                       headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        client = SyncSCIMClient(http)
        results = check_server(client)
    counts = Counter(result.status.name for result in results)
    failed = [f"{r.status.name} {r.resource_type or ''} {r.title}: {r.reason} {r.data!r:.300}"
              for r in results if r.status not in PASSING and r.status != Status.SKIPPED]
    skipped = [f"{r.resource_type or ''} {r.title}: {r.reason}" for r in results if r.status == Status.SKIPPED]
    print("scim2-tester:", dict(counts))
    for line in skipped:
        print("skipped:", line)
    unexpected = [line for line in failed if not any(gap in line for gap in KNOWN_GAPS)]
    print(f"{len(failed)} failed checks, all of the known gaps" if not unexpected else "")
    assert not unexpected, "\n".join(unexpected)
    assert len(results) > 20
    unexplained = [line for line in skipped if not any(key in line for key in SKIPS)]
    assert not unexplained, "\n".join(unexplained)
