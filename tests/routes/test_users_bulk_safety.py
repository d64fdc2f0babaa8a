"""Bulk and single destructive actions on users ask first, with and without JavaScript (issue 17):
the confirmation names how many and who; a bulk form with a missing field is a 422 beside the field."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.models import AuditEvent, Role, RoleAssignment, User
from tests.helpers import Portal, Tenant, users_url


def text(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(response.get_data(as_text=True).split())


def statuses(portal: Portal, *users: User) -> list[str | None]:
    return [getattr(portal.get(User, u.id), "status", None) for u in users]


def event_count(portal: Portal) -> int:
    return portal.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("user.%")))


@pytest.mark.parametrize(("action", "verb"), [("delete", "Delete"), ("disable", "Disable")])
def test_a_destructive_bulk_action_shows_who_first_and_changes_nothing(
    portal: Portal, a: Tenant, action: str, verb: str
) -> None:
    admin = portal.client(a.admin)
    before = event_count(portal)
    form = {"action": action, "user_ids": [str(a.member.id), str(a.auditor.id)], "q": "a", "sort": "email"}
    response = admin.post(users_url(a, "/bulk"), form)
    body = text(response)
    assert response.status_code == 200 and "<html" in body
    assert f"{verb} 2 users?" in body
    assert "member-a@example.com" in body and "auditor-a@example.com" in body
    assert statuses(portal, a.member, a.auditor) == ["active", "active"]
    assert event_count(portal) == before
    # The confirmation posts the same selection again, confirmed; Cancel goes back to the same list.
    assert 'name="confirm" value="yes"' in body
    assert re.search(rf'<button type="submit" class="contrast">{verb} 2 users</button>', body)
    assert f'href="{users_url(a)}?q=a&amp;sort=email"' in body
    confirmed = admin.post(users_url(a, "/bulk"), {**form, "confirm": "yes"})
    assert "2 of 2 users changed." in text(confirmed)
    expected = [None, None] if action == "delete" else ["disabled", "disabled"]
    assert statuses(portal, a.member, a.auditor) == expected


def test_with_htmx_the_confirmation_takes_the_lists_place(portal: Portal, a: Tenant) -> None:
    response = portal.client(a.admin).post(
        users_url(a, "/bulk"), {"action": "delete", "user_ids": [str(a.member.id)]}, hx=True
    )
    body = text(response)
    assert response.status_code == 200 and "<html" not in body
    assert body.startswith('<section id="users_table"') and "Delete 1 user?" in body
    assert portal.get(User, a.member.id) is not None


def test_all_matching_is_confirmed_with_its_count(portal: Portal, a: Tenant) -> None:
    response = portal.client(a.admin).post(
        users_url(a, "/bulk"), {"action": "disable", "all_matching": "y", "status": "active"}
    )
    body = text(response)
    assert "Disable 6 users?" in body  # everyone of tenant A but the owner and 'name="all_matching" value="y"' in body
    assert statuses(portal, a.member) == ["active"]


def test_enable_and_role_grants_need_no_confirmation(portal: Portal, a: Tenant) -> None:
    response = portal.client(a.admin).post(users_url(a, "/bulk"), {"action": "enable", "user_ids": [str(a.member.id)]})
    assert "1 of 1 users changed." in text(response)


@pytest.mark.parametrize("hx", [False, True])
def test_grant_role_without_a_role_is_422_beside_the_role_select(portal: Portal, a: Tenant, hx: bool) -> None:
    ticked = [str(a.member.id), str(a.no_role.id)]
    before = portal.scalar(select(func.count()).select_from(RoleAssignment))
    response = portal.client(a.admin).post(
        users_url(a, "/bulk"), {"action": "grant_role", "role_id": "", "user_ids": ticked}, hx=hx
    )
    body = text(response)
    assert response.status_code == 422
    assert ("<html" in body) is not hx
    assert '<select id="bulk-role" name="role_id" aria-invalid="true" aria-describedby="bulk-role-note">' in body
    assert '<small id="bulk-role-note" class="error">Choose the role to grant.</small>' in body
    # What was chosen stays: the ticks and the action.
    for user_id in ticked:
        assert re.search(rf'value="{user_id}" aria-label="[^"]+" checked>', body)
    assert '<option value="grant_role" selected>' in body
    assert portal.scalar(select(func.count()).select_from(RoleAssignment)) == before


def test_add_to_group_without_a_group_and_no_action_or_nobody_are_422(portal: Portal, a: Tenant) -> None:
    admin = portal.client(a.admin)
    no_group = admin.post(users_url(a, "/bulk"), {"action": "add_to_group", "user_ids": [str(a.member.id)]})
    assert no_group.status_code == 422 and "Choose the group to add them to." in text(no_group)
    no_action = admin.post(users_url(a, "/bulk"), {"action": "", "user_ids": [str(a.member.id)]})
    assert no_action.status_code == 422 and "Choose what to do with the selected users." in text(no_action)
    nobody = admin.post(users_url(a, "/bulk"), {"action": "delete"})
    assert nobody.status_code == 422 and "Tick the users to act on first" in text(nobody)


def test_a_foreign_role_is_still_a_404(portal: Portal, a: Tenant) -> None:
    b = portal.tenant("B")
    with portal.app.app_context():
        from portal import db

        foreign = db.session.scalar(select(Role.id).where(Role.account_id == b.id, Role.name == "auditor"))
    response = portal.client(a.admin).post(
        users_url(a, "/bulk"), {"action": "grant_role", "role_id": str(foreign), "user_ids": [str(a.member.id)]}
    )
    assert response.status_code == 404


def test_bulk_without_csrf_is_refused(portal: Portal, a: Tenant) -> None:
    response = portal.client(a.admin).post(
        users_url(a, "/bulk"), {"action": "delete", "user_ids": [str(a.member.id)], "confirm": "yes"}, csrf=False
    )
    assert response.status_code == 400 and portal.get(User, a.member.id) is not None


def test_disabling_one_user_asks_first_without_javascript(portal: Portal, a: Tenant) -> None:
    admin = portal.client(a.admin)
    page = admin.get(users_url(a, f"/{a.member.id}/disable"))
    body = text(page)
    assert page.status_code == 200 and "Disable Member-A?" in body
    assert f'action="{users_url(a, f"/{a.member.id}/disable")}"' in body and 'method="post"' in body
    assert statuses(portal, a.member) == ["active"]
    # The user page's Disable and Delete buttons lead there (GET forms), htmx posts after a dialog.
    show = text(admin.get(users_url(a, f"/{a.member.id}")))
    assert re.search(rf'<form method="get" action="{users_url(a, f"/{a.member.id}/disable")}"[^>]*hx-post=', show)
    assert re.search(rf'<form method="get" action="{users_url(a, f"/{a.member.id}/delete")}"[^>]*hx-delete=', show)
    assert 'hx-confirm="Delete Member-A?' in show
    assert admin.post(users_url(a, f"/{a.member.id}/disable")).status_code == 303
    assert statuses(portal, a.member) == ["disabled"]


def test_the_disable_page_is_guarded_like_the_action(portal: Portal, a: Tenant) -> None:
    assert portal.client(a.auditor).get(users_url(a, f"/{a.member.id}/disable")).status_code == 403
    b = portal.tenant("B")
    assert portal.client(a.admin).get(f"/accounts/{a.id}/users/{b.member.id}/disable").status_code == 404


@pytest.mark.parametrize("action", ["disable", "enable", "grant_role", "add_to_group", "delete"])
def test_the_inline_bulk_action_sends_as_many_statements_for_ten_users_as_for_two(
    portal: Portal, a: Tenant, action: str
) -> None:
    """The users page's bulk form ranks its ticked users in one read (policy.ranks_read_ahead), as the worker's
    batches do: ten users cost the statements two do."""
    from portal.models import Group
    from tests.helpers import add_many_users, make_group

    group = make_group(portal, a.account, "Ticked")
    role_id = portal.scalar(select(Role.id).where(Role.account_id == a.id, Role.name == "auditor"))
    admin = portal.client(a.admin)
    counts = []
    for size in (2, 10):
        ids = add_many_users(
            portal, a.account, size, prefix=f"t{size}x", status="disabled" if action == "enable" else "active"
        )
        form = {"action": action, "user_ids": [str(i) for i in ids], "role_id": str(role_id), "group_id": str(group.id)}
        admin.get(users_url(a))  # the session's cached permissions, read before the count
        with portal.count_statements() as counter:
            response = admin.post(users_url(a, "/bulk"), {**form, "confirm": "yes"})
        assert response.status_code == 200, response.status_code
        counts.append(counter.count)
    assert portal.scalar(select(Group.id).where(Group.id == group.id)) is not None
    assert counts[0] == counts[1], counts
