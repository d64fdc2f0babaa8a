"""The safety bugs of issue 17, each reproduced in Chromium: destructive bulk actions ask (a dialog that names
the count, or without JavaScript a page that names who) and Cancel changes nothing; choosing a bulk action
keeps the ticks, the action and the focus; a bulk grant without a role is answered beside the Role select;
single destructive actions ask too, and their buttons are <button>s that Space presses."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from portal.models import Invitation, User
from tests.browser._a11y import check, no_js_context
from tests.browser._signin import sign_in
from tests.helpers import Portal, make_group

pytestmark = pytest.mark.browser


def _team(portal: Portal) -> tuple[object, dict[str, User]]:
    account, _owner = portal.account("Initech", login="peter")
    people = {
        login: portal.user(account, login, first_name=first, last_name=last)
        for login, first, last in [
            ("milton", "Milton", "Waddams"),
            ("samir", "Samir", "Nagheenanajar"),
            ("michael", "Michael", "Bolton"),
            ("joanna", "Joanna", "Smith"),
        ]
    }
    return account, people


def _status(portal: Portal, user: User) -> str | None:
    found = portal.get(User, user.id)
    return found.status if found else None


def test_bulk_delete_asks_with_the_count_and_cancel_changes_nothing(page: Page, base_url: str, portal: Portal) -> None:
    account, people = _team(portal)
    sign_in(page, base_url, "peter")
    table = page.locator("#users_table")
    page.evaluate("document.getElementById('users_table').dataset.first = 'yes'")  # gone if the list reloads
    bar = page.locator("#bulk_bar")
    expect(bar).to_be_hidden()  # appears once someone is ticked

    # Tick two, then choose the action: the natural order. The ticks, the action and the focus stay.
    page.get_by_label("Select Milton Waddams").check()
    page.get_by_label("Select Samir Nagheenanajar").check()
    expect(bar).to_be_visible()
    expect(bar.locator("[data-bulk-count]")).to_have_text("2 selected")
    action = page.get_by_label("Action", exact=True)
    action.focus()
    action.select_option("delete")
    page.wait_for_timeout(400)  # longer than the filter's debounce: a reload would have come by now
    expect(page.get_by_label("Select Milton Waddams")).to_be_checked()
    expect(page.get_by_label("Select Samir Nagheenanajar")).to_be_checked()
    expect(action).to_have_value("delete")
    expect(action).to_be_focused()
    assert page.evaluate("document.getElementById('users_table').dataset.first") == "yes"
    expect(page.get_by_label("Role to grant")).to_be_hidden()  # only the fields the action needs
    check(page, "users-bulk-bar", screenshot=True)

    # Apply asks, naming the count; Cancel leaves everyone and everything as it was.
    page.get_by_role("button", name="Apply").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Delete 2 users?")
    expect(dialog).to_contain_text("This cannot be undone.")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    check(page, "users-bulk-confirm-dialog", screenshot=True)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Apply")).to_be_focused()
    assert [_status(portal, people["milton"]), _status(portal, people["samir"])] == ["active", "active"]
    expect(page.get_by_label("Select Milton Waddams")).to_be_checked()

    # Disable asks too; confirmed, it acts and reports, focus on the report.
    action.select_option("disable")
    page.get_by_role("button", name="Apply").click()
    expect(dialog.get_by_role("heading")).to_have_text("Disable 2 users?")
    dialog.get_by_role("button", name="Disable 2 users").click()
    report = page.locator("#bulk_report")
    expect(report.get_by_role("heading")).to_have_text("2 of 2 users changed.")
    expect(report.get_by_role("heading")).to_be_focused()
    expect(page.locator("#announcer")).to_contain_text("2 of 2 users changed.")
    assert [_status(portal, people["milton"]), _status(portal, people["samir"])] == ["disabled", "disabled"]
    expect(table.locator("input[name=user_ids]:checked")).to_have_count(0)
    check(page, "users-bulk-report", screenshot=True)


def test_bulk_grant_without_a_role_is_answered_beside_the_role_select(
    page: Page, base_url: str, portal: Portal
) -> None:
    _team(portal)
    sign_in(page, base_url, "peter")
    page.get_by_label("Select Michael Bolton").check()
    page.get_by_label("Action", exact=True).select_option("grant_role")
    role = page.get_by_label("Role to grant")
    expect(role).to_be_visible()
    page.get_by_role("button", name="Apply").click()
    expect(role).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#bulk-role-note")).to_have_text("Choose the role to grant.")
    expect(role).to_be_focused()
    expect(page.get_by_label("Select Michael Bolton")).to_be_checked()
    expect(page.get_by_label("Action", exact=True)).to_have_value("grant_role")
    check(page, "users-bulk-422", screenshot=True)
    role.select_option(label="auditor")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#bulk_report")).to_contain_text("Michael Bolton (michael): granted auditor")


def test_without_javascript_a_page_names_who_before_anything_is_deleted(
    browser: Browser, base_url: str, portal: Portal
) -> None:
    account, people = _team(portal)
    make_group(portal, account, "Support", members=(people["joanna"],))
    portal.client(portal.get(User, portal.scalar(select(User.id).where(User.login == "peter")))).post(
        f"/accounts/{account.id}/invitations", {"emails": "ada@example.com"}
    )
    context = no_js_context(browser)
    page = context.new_page()
    sign_in(page, base_url, "peter")
    page.get_by_label("Search users").fill("m")
    page.get_by_role("button", name="Filter").click()
    page.get_by_label("Select Milton Waddams").check()
    page.get_by_label("Select Michael Bolton").check()
    page.get_by_label("Action", exact=True).select_option("delete")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Delete 2 users?")).to_be_visible()
    affected = page.get_by_role("list", name="Who")
    expect(affected).to_contain_text("Milton Waddams · milton@example.com")
    expect(affected).to_contain_text("Michael Bolton · michael@example.com")
    check(page, "users-bulk-confirm-no-js", screenshot=True)
    assert _status(portal, people["milton"]) == "active"
    page.get_by_role("link", name="Cancel").click()  # back to the same list, nobody deleted
    expect(page).to_have_url(re.compile(r"/users\?q=m"))
    assert _status(portal, people["milton"]) == "active" and _status(portal, people["michael"]) == "active"

    page.get_by_label("Select Milton Waddams").check()
    page.get_by_label("Select Michael Bolton").check()
    page.get_by_label("Action", exact=True).select_option("delete")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("button", name="Delete 2 users").click()
    expect(page.get_by_text("2 of 2 users changed.")).to_be_visible()
    assert _status(portal, people["milton"]) is None and _status(portal, people["michael"]) is None

    # Revoking an invitation asks first too.
    page.goto(f"{base_url}/accounts/{account.id}/invitations")
    page.get_by_role("button", name="Revoke the invitation to ada@example.com").click()
    expect(page.get_by_role("heading", name="Revoke the invitation to ada@example.com?")).to_be_visible()
    check(page, "invitation-revoke-no-js", screenshot=True)
    assert portal.scalar(select(Invitation.status).where(Invitation.email == "ada@example.com")) == "pending"
    page.get_by_role("button", name="Revoke the invitation").click()
    expect(page.get_by_text("Revoked the invitation to ada@example.com.")).to_be_visible()
    assert portal.scalar(select(Invitation.status).where(Invitation.email == "ada@example.com")) == "revoked"
    context.close()


def test_single_destructive_actions_ask_and_space_presses_their_buttons(
    page: Page, base_url: str, portal: Portal
) -> None:
    account, people = _team(portal)
    make_group(portal, account, "Support", members=(people["joanna"], people["samir"]))
    owner = portal.get(User, portal.scalar(select(User.id).where(User.login == "peter")))
    portal.client(owner).post(f"/accounts/{account.id}/invitations", {"emails": "ada@example.com"})
    sign_in(page, base_url, "peter")

    # Revoke an invitation, pressed with Space: a dialog; Cancel keeps it pending.
    page.goto(f"{base_url}/accounts/{account.id}/invitations")
    revoke = page.get_by_role("button", name="Revoke the invitation to ada@example.com")
    revoke.focus()
    page.keyboard.press("Space")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text("Revoke the invitation to ada@example.com?")
    page.keyboard.press("Escape")  # Escape cancels too
    expect(dialog).to_be_hidden()
    expect(revoke).to_be_focused()  # back on the button that asked
    assert portal.scalar(select(Invitation.status).where(Invitation.email == "ada@example.com")) == "pending"

    # Resend says so in the row and in the page's messages, and keeps the focus on Resend.
    resend = page.get_by_role("button", name="Resend the invitation to ada@example.com")
    resend.focus()
    page.keyboard.press("Space")
    row = page.locator("tr", has_text="ada@example.com")
    expect(row.locator(".note")).to_have_text("Sent again to ada@example.com; the old link no longer works.")
    expect(page.locator("#messages")).to_contain_text("Sent again to ada@example.com")
    expect(page.get_by_role("button", name="Resend the invitation to ada@example.com")).to_be_focused()
    check(page, "invitations-resent")

    # The user page: "Add to a group" says what it does; Remove asks.
    page.goto(f"{base_url}/accounts/{account.id}/users/{people['joanna'].id}")
    expect(page.get_by_role("button", name="Add Joanna Smith to Support")).to_have_count(0)  # already in it
    page.locator("#user_groups").get_by_role("button", name="Remove from Support").click()
    expect(dialog.get_by_role("heading")).to_have_text("Remove Joanna Smith from Support?")
    dialog.get_by_role("button", name="Remove").click()
    expect(page.locator("#messages")).to_contain_text("Removed joanna@example.com from Support.")
    add = page.get_by_role("button", name="Add Joanna Smith to Support")
    expect(add).to_be_visible()
    expect(page.locator("#user_groups h2")).to_be_focused()
    add.click()
    expect(page.locator("#messages")).to_contain_text("Added Joanna Smith to Support.")

    # Delete on the user page: Space opens the dialog; Cancel keeps the user.
    page.get_by_role("button", name="Delete", exact=True).focus()
    page.keyboard.press("Space")
    expect(dialog.get_by_role("heading")).to_have_text("Delete Joanna Smith?")
    dialog.get_by_role("button", name="Cancel").click()
    assert _status(portal, people["joanna"]) == "active"
    # Nothing on any page here is a link dressed as a button.
    for path in (
        f"/accounts/{account.id}/users",
        f"/accounts/{account.id}/groups",
        f"/accounts/{account.id}/roles",
        f"/accounts/{account.id}/invitations",
    ):
        page.goto(f"{base_url}{path}")
        expect(page.locator("a[role=button]")).to_have_count(0)
    assert portal.scalar(select(func.count()).select_from(User).where(User.login == "joanna")) == 1
