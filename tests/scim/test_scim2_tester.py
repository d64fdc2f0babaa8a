"""scim2-tester (PyPI, the scim2 family's RFC 7643/7644 checker) against the test suite's live server.

The checker learns the portal's resource model from /Schemas (discovery): every user has an email and a
state (`emails`, `emails.value` and `active` are required there), so the users it makes are users the portal
keeps. Every check must pass; the checks it skips are SKIPS, each with the reason, and no other may be skipped.
"""

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
# (resource type, check) → why it is skipped.
SKIPS: dict[tuple[str, str], str] = {
    (kind, "search_with_attributes"): (
        "the checker searches with POST /.search at the root, over every resource type at once; the portal "
        "answers 501 there (RFC 7644 §3.12: not implemented) and searches one type at a time with "
        "POST /Users/.search and /Groups/.search (tested in test_smoke)"
    )
    for kind in ("User", "Group")
}


def test_scim2_tester_passes_every_check(app: Flask, portal: Portal, live_server: str) -> None:
    account, owner = portal.account("Checked", login="owner")
    token = make_token(app, account, owner)
    with httpx2.Client(
        base_url=f"{live_server}/scim/v2/{account.id}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        client = SyncSCIMClient(http)
        results = check_server(client)
    counts = Counter(result.status.name for result in results)
    print("scim2-tester:", dict(counts))
    failed = [
        f"{r.status.name} {r.resource_type or ''} {r.title}: {r.reason} {r.data!r:.300}"
        for r in results
        if r.status not in PASSING and r.status != Status.SKIPPED
    ]
    skipped = {(r.resource_type or "", r.title): r.reason for r in results if r.status == Status.SKIPPED}
    for (kind, title), reason in skipped.items():
        print(f"skipped: {kind} {title}: {reason} — {SKIPS.get((kind, title), 'NOT EXPLAINED')}")
    assert failed == []
    assert set(skipped) <= set(SKIPS), f"skipped without a reason: {set(skipped) - set(SKIPS)}"
    assert counts["SUCCESS"] >= 70  # discovery, CRUD, attribute selection, PATCH add/replace/remove on each attribute
