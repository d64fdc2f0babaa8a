"""An admin changes someone's email: it stays pending, can be cancelled in place, and the person confirms it
from the link with their password, in Chromium (issue 13, section 3)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser._a11y import check
from tests.browser._signin import sign_in
from tests.helpers import PASSWORD, Portal, emails_to

pytestmark = pytest.mark.browser


def _change_email(page: Page, base_url: str, account_id: object, user_id: object, address: str) -> None:
    page.goto(f"{base_url}/accounts/{account_id}/users/{user_id}")
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Email").fill(address)
    page.get_by_role("button", name="Save").click()
    expect(
        page.get_by_text(f"A confirmation link was sent to {address}; the email changes when it is confirmed.")
    ).to_be_visible()
    expect(page.locator("#pending_email_note")).to_contain_text(address)


def test_pending_cancel_and_confirm(page: Page, browser: Browser, base_url: str, portal: Portal) -> None:
    account, _owner = portal.account("Initech", login="peter")
    milton = portal.user(account, "milton", email="milton@initech.example.com")
    sign_in(page, base_url, "peter")

    _change_email(page, base_url, account.id, milton.id, "milton@basement.example.com")
    expect(page.get_by_text("milton@initech.example.com").first).to_be_visible()  # still in force
    check(page, "user-email-pending", screenshot=True)
    page.get_by_role("button", name="Cancel the email change").click()
    expect(page.get_by_text("was cancelled; its link no longer works")).to_be_visible()
    expect(page.locator("#pending_email_note")).to_have_count(0)

    _change_email(page, base_url, account.id, milton.id, "milton@basement.example.com")
    link = re.search(
        r"https?://[^/\s]+(/email-change/[A-Za-z0-9_-]+)",
        emails_to(portal, "milton@basement.example.com")[-1].body_text,
    )
    assert link
    person = browser.new_context().new_page()
    person.goto(f"{base_url}{link.group(1)}")
    expect(person).to_have_url(f"{base_url}/email-change")  # the token left the address bar
    person.get_by_label("Your password").fill(PASSWORD)
    check(person, "email-change-confirm", screenshot=True)
    person.get_by_role("button", name="Confirm milton@basement.example.com").click()
    expect(person.get_by_text("Your email is now milton@basement.example.com.")).to_be_visible()
