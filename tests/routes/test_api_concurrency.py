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
    answers = _in_parallel(*(lambda city=city: Api(portal.app, key).patch(url, json={"city": city},
                                                                          headers={"If-Match": etag})
                             for city in ("Oslo", "Rome")))
    assert sorted(a.status_code for a in answers) == [200, 412], [a.get_json() for a in answers]
    winner = next(a for a in answers if a.status_code == 200).get_json()["city"]
    assert portal.get(User, tenant.member.id).city == winner


def test_two_posts_with_one_idempotency_key_make_one_row(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = portal.tenant("A")
    key = key_for(portal, tenant.admin)
    url = f"/api/v1/accounts/{tenant.id}/groups"
    monkeypatch.setattr(group_api.services, "create_group", _held_at_a_barrier(group_api.services.create_group))
    answers = _in_parallel(*(lambda: Api(portal.app, key).post(url, json={"name": "Ops"},
                                                               headers={"Idempotency-Key": "once"})
                             for _ in range(2)))
    assert [a.status_code for a in answers] == [201, 201], [a.get_json() for a in answers]
    assert answers[0].get_json() == answers[1].get_json()
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert portal.scalar(select(func.count()).select_from(Group)) == 1
    assert portal.scalar(select(func.count()).select_from(IdempotencyKey)) == 1
