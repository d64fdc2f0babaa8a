"""Every SCIM request that changes something writes exactly one audit event, via=scim; one that changes
nothing writes none."""

from __future__ import annotations

from sqlalchemy import select

from portal.models import AuditEvent
from tests.helpers import Portal
from tests.scim.conftest import Scim, patch_op


def _new_events(portal: Portal, seen: int) -> list[AuditEvent]:
    with portal.app.app_context():
        from portal import db

        events = list(
            db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action != "provisioning_token.create")
                .order_by(AuditEvent.created_at, AuditEvent.id)
            )
        )
    return events[seen:]


def test_one_event_per_changing_request(portal: Portal, scim: Scim) -> None:
    seen = 0

    def one(expected_action: str) -> AuditEvent:
        nonlocal seen
        events = _new_events(portal, seen)
        seen += len(events)
        assert [e.action for e in events] == [expected_action]
        assert events[0].via == "scim" and events[0].actor_label == "SCIM provisioning"
        return events[0]

    made = scim.post("/Users", {"userName": "ada@example.com", "name": {"givenName": "Ada"}, "active": False})
    assert made.status_code == 201
    created = one("invitation.create")
    assert created.changes["steps"] == ["invitation.create", "user.disable"]
    assert created.changes["status"] == ["pending", "disabled"]
    uid = made.get_json()["id"]

    both = scim.put(f"/Users/{uid}", {"userName": "ada@example.com", "name": {"givenName": "Augusta"}, "active": True})
    assert both.status_code == 200
    event = one("invitation.create")  # reactivated before she chose a password: a new link, and the new name
    assert event.changes["first_name"] == ["Ada", "Augusta"]

    off = scim.patch(
        f"/Users/{uid}",
        patch_op(
            {"op": "Replace", "path": "name.familyName", "value": "King"},
            {"op": "Replace", "path": "active", "value": "False"},
        ),
    )
    assert off.status_code == 200
    event = one("user.disable")
    assert event.changes["last_name"] == ["", "King"] and event.changes["steps"] == ["user.update", "user.disable"]

    same = scim.patch(f"/Users/{uid}", patch_op({"op": "replace", "path": "name.familyName", "value": "King"}))
    assert same.status_code == 200 and _new_events(portal, seen) == []  # nothing changed: no event

    bob = scim.post("/Users", {"userName": "bob@example.com"}).get_json()["id"]
    one("invitation.create")
    group = scim.post("/Groups", {"displayName": "Crew", "members": [{"value": uid}]}).get_json()["id"]
    assert one("group.create").changes["steps"] == ["group.create", "group.members.add"]
    swap = scim.patch(
        f"/Groups/{group}",
        patch_op(
            {"op": "add", "path": "members", "value": [{"value": bob}]},
            {"op": "remove", "path": f'members[value eq "{uid}"]'},
            {"op": "replace", "path": "displayName", "value": "Team"},
        ),
    )
    assert swap.status_code == 200
    event = one("group.members.replace")
    assert event.changes["name"] == ["Crew", "Team"]
    assert scim.delete(f"/Users/{uid}").status_code == 204
    one("user.delete")
    refused = scim.post("/Users", {"userName": "bob@example.com"})
    assert refused.status_code == 409 and _new_events(portal, seen) == []
