"""Two API requests at the same moment (API.md): the same If-Match twice, the same Idempotency-Key twice.

Each request runs in a thread of its own with its own client (and so its own database session). A barrier
holds the first request inside its change until the second has arrived (or a second has passed: on SQLite
the second waits for the first's write lock instead, and the outcome must be the same).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.api import groups as group_api
from portal.models import Group, IdempotencyKey, User
from portal.users import services as user_services
from tests.api_client import Api, key_for
from tests.helpers import Portal


def _held_at_a_barrier(original: Callable[..., Any], parties: int = 2) -> Callable[..., Any]:
    barrier = threading.Barrier(parties)

    def held(*args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=1.5)
        return original(*args, **kwargs)

    return held


def _in_parallel(*requests: Callable[[], Any]) -> list[Any]:
    results: list[Any] = [None] * len(requests)

    def run(i: int) -> None:
        results[i] = requests[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_patches_with_the_same_if_match_one_wins(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = portal.tenant("A")
    key = key_for(portal, tenant.admin)
    url = f"/api/v1/accounts/{tenant.id}/users/{tenant.member.id}"
    etag = Api(portal.app, key).get(url).headers["ETag"]
    monkeypatch.setattr(user_services, "update_profile", _held_at_a_barrier(user_services.update_profile))
    answers = _in_parallel(
        *(
            lambda city=city: Api(portal.app, key).patch(url, json={"city": city}, headers={"If-Match": etag})
            for city in ("Oslo", "Rome")
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 412], [a.get_json() for a in answers]
    winner = next(a for a in answers if a.status_code == 200).get_json()["city"]
    assert portal.get(User, tenant.member.id).city == winner


def test_two_posts_with_one_idempotency_key_make_one_row(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = portal.tenant("A")
    key = key_for(portal, tenant.admin)
    url = f"/api/v1/accounts/{tenant.id}/groups"
    monkeypatch.setattr(group_api.services, "create_group", _held_at_a_barrier(group_api.services.create_group))
    answers = _in_parallel(
        *(
            lambda: Api(portal.app, key).post(url, json={"name": "Ops"}, headers={"Idempotency-Key": "once"})
            for _ in range(2)
        )
    )
    assert [a.status_code for a in answers] == [201, 201], [a.get_json() for a in answers]
    assert answers[0].get_json() == answers[1].get_json()
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert portal.scalar(select(func.count()).select_from(Group)) == 1
    assert portal.scalar(select(func.count()).select_from(IdempotencyKey)) == 1


@pytest.mark.parametrize("kind", ["role", "group", "invitation"])
def test_two_patches_of_a_role_group_or_invitation_with_the_same_if_match_one_wins(
    portal: Portal, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Both pass the If-Match check at the same moment; the version column lets one write through (issue 14)."""
    from portal.invitations import services as invitation_services
    from portal.models import Invitation, InvitationRole, Role
    from portal.roles import services as role_services
    from tests.helpers import make_group, make_role, role_named

    tenant = portal.tenant("A")
    key = key_for(portal, tenant.owner)
    base = f"/api/v1/accounts/{tenant.id}"
    if kind == "role":
        made = make_role(portal, tenant.account, "Support", ("users:read",))
        url, bodies = f"{base}/roles/{made.id}", [{"description": d} for d in ("Oslo", "Rome")]
        module, name = role_services, "update_role"
    elif kind == "group":
        made = make_group(portal, tenant.account, "Engineering")
        url, bodies = f"{base}/groups/{made.id}", [{"description": d} for d in ("Oslo", "Rome")]
        module, name = group_api.services, "update_group"
    else:
        created = Api(portal.app, key).post(
            f"{base}/invitations", json={"emails": ["new@example.com"], "roles": ["member"]}
        )
        assert created.status_code == 201, created.get_json()
        invitation_id = portal.scalar(select(Invitation.id))
        url, bodies = f"{base}/invitations/{invitation_id}", [{"roles": [r]} for r in ("auditor", "user-manager")]
        module, name = invitation_services, "update_invitation"
    etag = Api(portal.app, key).get(url).headers["ETag"]
    monkeypatch.setattr(module, name, _held_at_a_barrier(getattr(module, name)))
    answers = _in_parallel(
        *(lambda body=body: Api(portal.app, key).patch(url, json=body, headers={"If-Match": etag}) for body in bodies)
    )
    assert sorted(a.status_code for a in answers) == [200, 412], [a.get_json() for a in answers]
    winner = bodies[[a.status_code for a in answers].index(200)]
    if kind == "role":
        assert portal.get(Role, made.id).description == winner["description"]
    elif kind == "group":
        assert portal.get(Group, made.id).description == winner["description"]
    else:
        role = role_named(portal, tenant.account, winner["roles"][0])
        assert role is not None and portal.scalar(select(InvitationRole.role_id)) == role.id
    assert int(Api(portal.app, key).get(url).headers["ETag"].strip('"')) == int(etag.strip('"')) + 1
