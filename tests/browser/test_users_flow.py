"""An admin creates a user, finds them by live search, edits them and deletes them, in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser._a11y import check, no_js_context
from tests.browser._signin import sign_in as _sign_in
from tests.helpers import Portal
from tests.routes.test_users_list import seed_users

pytestmark = pytest.mark.browser


def sign_in(page: Page, base_url: str, login: str) -> None:
    _sign_in(page, base_url, login)
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()


def test_create_search_edit_delete(page: Page, base_url: str, portal: Portal, screenshot_dir: Path) -> None:
    account, _owner = portal.account("Initech", login="peter")
    seed_users(portal.app, account, 45)
    sign_in(page, base_url, "peter")
    page.screenshot(path=screenshot_dir / "users-list.png", full_page=True)
    # Column headers sort, either way, in place, and the address says so.
    email = page.locator("#users_table thead").get_by_role("link", name="Email")
    email.click()
    expect(page).to_have_url(re.compile(r"sort=email&dir=asc"))
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Email")
    expect(page.locator("#users_table tbody tr").first).to_contain_text("user00000@example.com")
    page.locator("#users_table thead").get_by_role("link", name="Email").click()
    expect(page).to_have_url(re.compile(r"sort=email&dir=desc"))
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Email")
    expect(page.locator("#users_table tbody tr").first).to_contain_text("user00044@example.com")
    expect(page.locator("#users_table thead").get_by_role("link", name="Email")).to_be_focused()
    # The filter's own selects reload the list (keeping the sort); the MFA filter as GitHub's 2FA one.
    page.get_by_label("Two-step sign-in (MFA)").select_option("on")
    expect(page.locator("#users_table")).to_contain_text("No users match.")
    expect(page).to_have_url(re.compile(r"mfa=on.*sort=email&dir=desc|sort=email&dir=desc.*mfa=on"))
    page.get_by_label("Two-step sign-in (MFA)").select_option("")
    expect(page.locator("#users_table tbody tr")).to_have_count(20)

    page.get_by_role("link", name="New user").click()
    page.get_by_label("Login").fill("milton")
    page.get_by_label("Email").fill("milton@initech.example.com")
    page.get_by_label("First name").fill("Milton")
    page.get_by_label("Last name").fill("Waddams")
    page.get_by_label("City").fill("Austin")
    page.get_by_label("Password", exact=True).fill("my red stapler please")
    page.get_by_label("Repeat the password").fill("my red stapler please")
    page.get_by_label("auditor").check()
    page.get_by_role("button", name="Create the user").click()
    expect(page.get_by_role("heading", name="Milton Waddams")).to_be_visible()
    expect(page.get_by_text("Milton Waddams was created.")).to_be_visible()

    page.get_by_role("link", name="Users", exact=True).first.click()
    page.get_by_role("searchbox", name="Search users").press_sequentially("milt", delay=40)
    expect(page.locator("#users_table tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=milt"))
    check(page, "users-search", screenshot=True)

    page.get_by_role("link", name="Milton Waddams").click()
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("City").fill("Basement")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(page.get_by_text("Basement")).to_be_visible()

    page.get_by_role("button", name="Disable").click()
    page.get_by_role("dialog").get_by_role("button", name="Disable Milton Waddams").click()
    expect(page.locator("#user_summary .status")).to_have_text("disabled")
    expect(page.get_by_role("heading", name="Milton Waddams")).to_be_focused()  # the updated summary's heading
    expect(page.locator("#messages")).to_contain_text("Milton Waddams is disabled.")
    page.screenshot(path=screenshot_dir / "user-show.png", full_page=True)

    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete Milton Waddams").click()
    expect(page.get_by_text("Milton Waddams was deleted.")).to_be_visible()
    expect(page.locator("#users_table")).not_to_contain_text("Milton")


def test_paging_and_search_without_javascript(
    browser: Browser, base_url: str, portal: Portal, screenshot_dir: Path
) -> None:
    account, _owner = portal.account("Initech", login="peter")
    seed_users(portal.app, account, 45)
    context = no_js_context(browser)
    page = context.new_page()
    sign_in(page, base_url, "peter")
    expect(page.get_by_text("Page 1 of 3")).to_be_visible()
    page.get_by_role("link", name="Next ›").click()
    expect(page.get_by_text("Page 2 of 3")).to_be_visible()
    page.get_by_role("link", name="Last »").click()
    expect(page.get_by_text("Page 3 of 3")).to_be_visible()
    expect(page.locator("#users_table tbody tr")).to_have_count(5)
    page.get_by_role("searchbox", name="Search users").fill("user0004")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#users_table tbody tr")).to_have_count(5)  # user00040 to user00044
    check(page, "users-no-js-search", screenshot=True)
    context.close()
