"""Keyboard only (issue 17): search and page the users list, tick two users and disable them, invite two
people, remove a member — with Tab, Shift+Tab, Enter and Space (and typing into fields), asserting where
focus is after each step, that each result is announced, and that every htmx form was busy while it
was sent."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from portal.models import Invitation, User
from tests.browser._a11y import check
from tests.browser._signin import sign_in
from tests.helpers import Portal, make_group
from tests.routes.test_users_list import seed_users

pytestmark = pytest.mark.browser

# Records, for each request a form sends, whether the form said it was busy and its buttons were off (in
# sessionStorage: a form's answer may be a new page). Installed in every page of the context.
WATCH_BUSY = """
document.addEventListener("htmx:beforeSend", (event) => {
    const form = event.detail.elt.closest("form");
    if (!form || event.detail.requestConfig.verb === "get") return;
    const buttons = [...form.querySelectorAll("button:not([type=button])")];
    const seen = JSON.parse(sessionStorage.getItem("busy") || "[]");
    seen.push({form: form.getAttribute("action"), busy: form.getAttribute("aria-busy") === "true",
               disabled: buttons.every((b) => b.disabled),
               spinner: buttons.some((b) => b.getAttribute("aria-busy") === "true")});
    sessionStorage.setItem("busy", JSON.stringify(seen));
});
"""


def tab_to(page: Page, target: Locator, back: bool = False, most: int = 80) -> None:
    """Press Tab (or Shift+Tab) until the target has focus; fail if it never does."""
    for _ in range(most):
        if target.evaluate("(element) => element === document.activeElement"):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    expect(target).to_be_focused()


def busy_forms(page: Page) -> list[dict[str, object]]:
    """What WATCH_BUSY saw since the last call."""
    seen: list[dict[str, object]] = page.evaluate("JSON.parse(sessionStorage.getItem('busy') || '[]')")
    page.evaluate("sessionStorage.removeItem('busy')")
    return seen


def test_keyboard_only(page: Page, base_url: str, portal: Portal) -> None:
    account, _owner = portal.account("Initech", login="peter")
    seed_users(portal.app, account, 12)
    ada = portal.user(account, "ada", first_name="Ada", last_name="Lovelace")
    aaron = portal.user(account, "aaron", first_name="Aaron", last_name="Burr")
    support = make_group(portal, account, "Support", members=(ada, aaron))
    page.context.add_init_script(WATCH_BUSY)
    sign_in(page, base_url, "peter")
    page.goto(f"{base_url}/accounts/{account.id}/users?take=5")  # short pages: fewer Tabs to the pager

    # The skip link comes first and goes to the content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # Search as one types; the count is announced; focus stays in the box.
    search = page.get_by_role("searchbox", name="Search users")
    tab_to(page, search)
    page.keyboard.type("user0001")
    expect(page.locator("#users_table .pager p")).to_contain_text("2 users")
    expect(search).to_be_focused()
    expect(page.locator("#announcer")).to_contain_text("2 users")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    expect(page.locator("#users_table .pager p")).to_contain_text("14 users")

    # Page on with Enter: the list changes in place and focus is on the new page's Next.
    next_link = page.locator("#users_table").get_by_role("link", name="Next ›")
    tab_to(page, next_link)
    page.keyboard.press("Enter")
    expect(page.locator("#users_table .pager p")).to_contain_text("Page 2 of 3")
    expect(page.locator("#announcer")).to_contain_text("Page 2 of 3")
    expect(page.locator("#users_table").get_by_role("link", name="Next ›")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#users_table .pager p")).to_contain_text("Page 3 of 3")
    # The last page has no Next: focus is on the updated list itself (a region named "User list").
    expect(page.get_by_role("region", name="User list")).to_be_focused()
    check(page, "keyboard-users-page-3")

    # Back to the first page (Tab to First, Enter), then tick two people with Space.
    tab_to(page, page.locator("#users_table").get_by_role("link", name="« First"))
    page.keyboard.press("Enter")
    expect(page.locator("#users_table .pager p")).to_contain_text("Page 1 of 3")
    first = page.get_by_label("Select Aaron Burr")
    second = page.get_by_label("Select Ada Lovelace")
    tab_to(page, first)
    page.keyboard.press("Space")
    expect(first).to_be_checked()
    tab_to(page, second)
    page.keyboard.press("Space")
    expect(second).to_be_checked()
    expect(page.locator("[data-bulk-count]")).to_have_text("2 selected")

    # Back up to the action, choose Disable by typing its first letters, Apply, confirm in the dialog.
    action = page.get_by_label("Action", exact=True)
    tab_to(page, action, back=True)
    page.keyboard.type("Disa")
    expect(action).to_have_value("disable")
    expect(first).to_be_checked()  # choosing the action did not clear the ticks
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Apply")).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Disable 2 users")).to_be_focused()
    page.keyboard.press("Enter")
    report_heading = page.locator("#bulk_report h2")
    expect(report_heading).to_have_text("2 of 2 users changed.")
    expect(report_heading).to_be_focused()
    expect(page.locator("#announcer")).to_contain_text("2 of 2 users changed.")
    assert {portal.get(User, ada.id).status, portal.get(User, aaron.id).status} == {"disabled"}

    # Invite two people: type, tick a role with Space, send, review, send.
    busy = busy_forms(page)  # the bulk form's
    assert busy and all(entry["busy"] and entry["disabled"] and entry["spinner"] for entry in busy), busy
    page.goto(f"{base_url}/accounts/{account.id}/invitations/new")
    emails = page.get_by_label("Email addresses")
    expect(emails).to_be_focused()  # the form's first field
    page.keyboard.type("ken@example.com, dennis@example.com")
    member = page.get_by_label("member", exact=True)
    tab_to(page, member)
    page.keyboard.press("Space")
    expect(member).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Send the invitations"))
    page.keyboard.press("Enter")
    review = page.locator("#invite_review h2")
    expect(review).to_have_text("Invite 2 people as member?")
    expect(review).to_be_focused()
    expect(page.locator("#announcer")).to_contain_text("Invite 2 people as member?")
    check(page, "keyboard-invite-review", screenshot=True)
    assert portal.scalar(select(Invitation.id)) is None  # nothing sent before the review
    tab_to(page, page.get_by_role("button", name="Send 2 invitations"))
    page.keyboard.press("Enter")
    expect(page.get_by_text("Invited 2 people: ken@example.com, dennis@example.com.")).to_be_visible()
    busy = busy_forms(page)
    assert busy and all(entry["busy"] and entry["disabled"] and entry["spinner"] for entry in busy), busy

    # Remove a member: Enter on Remove, Tab to the dialog's Remove, Enter; the row goes, focus on Members.
    page.goto(f"{base_url}/accounts/{account.id}/groups/{support.id}")
    remove = page.get_by_role("button", name="Remove ada@example.com")
    tab_to(page, remove)
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("heading")).to_have_text("Remove ada@example.com from Support?")
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Remove")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#member_list tbody tr", has_text="ada@example.com")).to_have_count(0)
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_focused()
    expect(page.locator("#messages")).to_contain_text("Removed ada@example.com from Support.")
    expect(page.locator("#member_count")).to_have_text("1 member")
    check(page, "keyboard-member-removed")
    busy = busy_forms(page)
    assert busy and all(entry["busy"] and entry["disabled"] for entry in busy), busy
