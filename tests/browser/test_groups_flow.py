"""Groups in Chromium: create a group, add two members with the search-as-you-type picker, replace
the set after reviewing the change, remove one in place; and the same kind of work without JavaScript."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from portal import db
from portal.models import Group, GroupMember, User
from tests.browser._a11y import check, no_js_context
from tests.browser._signin import sign_in as _sign_in
from tests.helpers import Portal, make_group

pytestmark = pytest.mark.browser


def _members(portal: Portal, name: str) -> set[str]:
    with portal.app.app_context():
        return set(
            db.session.scalars(
                select(User.login)
                .join(GroupMember, GroupMember.user_id == User.id)
                .join(Group, Group.id == GroupMember.group_id)
                .where(Group.name == name)
            )
        )


def _people(portal: Portal) -> None:
    account, _owner = portal.account("Initech", login="peter")
    make_group(portal, account, "Support")
    portal.user(account, "milton", first_name="Milton", last_name="Waddams")
    portal.user(account, "michael", first_name="Michael", last_name="Bolton")
    portal.user(account, "samir", first_name="Samir", last_name="Nagheenanajar")
    portal.user(account, "joanna", first_name="Joanna", last_name="Smith", status="pending")


def test_group_members_picker_replace_and_remove(
    page: Page, base_url: str, portal: Portal, screenshot_dir: Path
) -> None:
    _people(portal)
    _sign_in(page, base_url, "peter")
    page.get_by_role("link", name="Groups", exact=True).click()
    expect(page.get_by_role("heading", name="Groups")).to_be_visible()
    page.get_by_role("link", name="New group").click()

    # A mistake first (names are unique without regard to case): the form comes back in place.
    page.get_by_label("Name").fill("SUPPORT")
    page.get_by_role("button", name="Create the group").click()
    expect(page.get_by_text("Another group already has this name.")).to_be_visible()
    check(page, "group-form-error", screenshot=True)
    page.get_by_label("Name").fill("Engineering")
    page.get_by_label("Description").fill("Builds the TPS report system")
    page.get_by_role("button", name="Create the group").click()
    expect(page.get_by_role("heading", name="Engineering")).to_be_visible()
    expect(page.get_by_text("Group Engineering created.")).to_be_visible()
    expect(page.locator("#member_count")).to_have_text("0 members")

    # The picker: search as one types, tick, search again (the first stays ticked), tick, add.
    finder = page.get_by_label("Find people by name, login or email")
    finder.press_sequentially("milt", delay=40)
    milton = page.get_by_label("Milton Waddams · milton@example.com")
    expect(milton).to_be_visible()
    milton.check()
    finder.fill("")
    finder.press_sequentially("mich", delay=40)
    michael = page.get_by_label("Michael Bolton · michael@example.com")
    expect(michael).to_be_visible()
    expect(page.get_by_label("Milton Waddams · milton@example.com")).to_be_checked()
    michael.check()
    check(page, "group-picker", screenshot=True)
    page.get_by_role("button", name="Add members").click()
    expect(page.locator("#add_members").get_by_text("Added milton@example.com, michael@example.com.")).to_be_visible()
    expect(page.locator("#announcer")).to_have_text("Added milton@example.com, michael@example.com.")
    expect(page.locator("#member_count")).to_have_text("2 members")
    expect(page.locator("#member_list tbody tr")).to_have_count(2)
    expect(page.locator("#candidates input")).to_have_count(0)  # the picker is reset
    assert _members(portal, "Engineering") == {"milton", "michael"}
    check(page, "group-members-added", screenshot=True)

    # Replace the whole set: edit the list, review who is added and removed, apply.
    page.get_by_role("link", name="Replace members").click()
    members = page.get_by_label("Members")
    expect(members).to_have_value(re.compile("milton@example.com"))
    members.fill("milton@example.com\nsamir@example.com\njoanna")
    page.get_by_role("button", name="Preview the change").click()
    expect(page.locator("#to_add")).to_contain_text("2 to add")
    expect(page.locator("#to_add")).to_contain_text("samir@example.com")
    expect(page.locator("#to_add")).to_contain_text("joanna@example.com")
    expect(page.locator("#to_remove")).to_contain_text("1 to remove")
    expect(page.locator("#to_remove")).to_contain_text("michael@example.com")
    assert _members(portal, "Engineering") == {"milton", "michael"}  # nothing changed before applying
    check(page, "group-replace-preview", screenshot=True)
    page.get_by_role("button", name="Apply: add 2, remove 1").click()
    expect(
        page.get_by_text("Added samir@example.com, joanna@example.com; removed michael@example.com; 1 unchanged.")
    ).to_be_visible()
    assert _members(portal, "Engineering") == {"milton", "samir", "joanna"}
    joanna_row = page.locator("#member_list tbody tr", has_text="joanna@example.com")
    expect(joanna_row).to_contain_text("pending")
    expect(page.locator("#member_list tbody tr", has_text="milton@example.com")).to_contain_text("accepted")

    # Remove one in place: a dialog asks, the row goes, the count follows; no page load.
    page.evaluate("window.__same_page = true")
    samir_row = page.locator("#member_list tbody tr", has_text="samir@example.com")
    samir_row.get_by_role("button", name="Remove samir@example.com").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(samir_row).to_have_count(0)
    expect(page.locator("#member_count")).to_have_text("2 members")
    expect(page.get_by_text("Removed samir@example.com from Engineering.")).to_be_visible()
    expect(page.locator("#member_list .pager")).to_contain_text(re.compile(r"Page 1 of 1\s+· 2 members"))
    assert page.evaluate("window.__same_page") is True
    assert _members(portal, "Engineering") == {"milton", "joanna"}
    check(page, "group-member-removed", screenshot=True)

    # Search the members as one types.
    page.get_by_label("Search members by email or name").press_sequentially("jo", delay=40)
    expect(page.locator("#member_list tbody tr")).to_have_count(1)
    expect(page.locator("#member_list")).to_contain_text("joanna@example.com")
    expect(page).to_have_url(re.compile(r"/members\?q=jo$"))


def test_groups_without_javascript(browser: Browser, base_url: str, portal: Portal, screenshot_dir: Path) -> None:
    _people(portal)
    context = no_js_context(browser)
    page = context.new_page()
    _sign_in(page, base_url, "peter")
    page.goto(f"{base_url}/")
    page.get_by_role("link", name="Groups", exact=True).click()
    page.get_by_role("link", name="New group").click()
    page.get_by_label("Name").fill("Sales")
    page.get_by_role("button", name="Create the group").click()
    expect(page.get_by_text("Group Sales created.")).to_be_visible()

    # The picker works as a plain search that reloads the page; the text field takes addresses.
    page.get_by_label("Find people by name, login or email").fill("sam")
    page.get_by_role("button", name="Find").click()
    page.get_by_label("Samir Nagheenanajar · samir@example.com").check()
    page.get_by_label("Emails, logins or user ids").fill("milton@example.com, ghost@example.com")
    page.get_by_role("button", name="Add members").click()
    expect(page.get_by_text("Not a user of this account: ghost@example.com.")).to_be_visible()
    assert _members(portal, "Sales") == set()
    page.get_by_label("Emails, logins or user ids").fill("milton@example.com, samir")
    page.get_by_role("button", name="Add members").click()
    expect(page.get_by_text("Added milton@example.com, samir@example.com.")).to_be_visible()
    assert _members(portal, "Sales") == {"milton", "samir"}
    check(page, "group-no-js", screenshot=True)

    page.locator("#member_list tbody tr", has_text="milton@example.com").get_by_role("button", name="Remove").click()
    expect(page.get_by_role("heading", name="Remove milton@example.com from Sales?")).to_be_visible()
    assert _members(portal, "Sales") == {"milton", "samir"}  # asked first, nothing changed yet
    page.get_by_role("button", name="Remove from Sales").click()
    expect(page.get_by_text("Removed milton@example.com from Sales.")).to_be_visible()
    assert _members(portal, "Sales") == {"samir"}

    page.get_by_role("button", name="Delete group").click()  # a link to the confirmation page
    expect(page.get_by_role("heading", name="Delete the group Sales?")).to_be_visible()
    page.get_by_role("button", name="Delete Sales").click()
    expect(page.get_by_text("Group Sales deleted.")).to_be_visible()
    with portal.app.app_context():
        assert db.session.scalar(select(Group).where(Group.name == "Sales")) is None
    context.close()
