"""A person turns two-step sign-in on by reading the key from the page, signs out, and signs in with a code."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from portal.db import utcnow
from tests.browser._a11y import check
from tests.browser._signin import sign_out, submit_sign_in
from tests.helpers import Portal

pytestmark = pytest.mark.browser


def test_enrol_sign_out_sign_in_with_a_code(page: Page, base_url: str, portal: Portal, screenshot_dir: Path) -> None:
    account, _owner = portal.account("Initech", login="peter")
    page.goto(f"{base_url}/a/initech/login")  # the account's own sign-in link: it asks only for login and password
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("to Initech")).to_be_visible()
    submit_sign_in(page, "peter")
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()

    page.goto(f"{base_url}/me/mfa")
    expect(page.locator("figure.qr svg")).to_be_visible()
    page.screenshot(path=screenshot_dir / "mfa-enrol.png", full_page=True)
    secret = page.locator("#mfa_secret").inner_text()
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from your authenticator app").fill(totp.now())
    page.get_by_role("button", name="Turn two-step sign-in on").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.locator("ul.codes li")).to_have_count(10)
    codes = page.locator("ul.codes code").all_inner_texts()
    # A clear word that it is on; focus on the codes; no code left in the forms that follow.
    expect(page.locator("#messages")).to_contain_text("Two-step sign-in is on.")
    expect(page.get_by_role("heading", name="Two-step sign-in is on")).to_be_visible()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_focused()
    for field in page.locator("#mfa input[name=code]").all():
        expect(field).to_have_value("")
    check(page, "mfa-recovery-codes", screenshot=True)
    # Download as a text file, copy, print.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as a text file").click()
    assert download.value.suggested_filename == "recovery-codes.txt"
    saved = Path(download.value.path()).read_text()
    assert all(code in saved for code in codes) and "Account Portal recovery codes for peter" in saved
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy the codes").click()
    expect(page.get_by_text("Copied the codes.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()").split() == codes
    page.evaluate("window.print = () => { window.printed = true; }")
    page.get_by_role("button", name="Print them").click()
    assert page.evaluate("window.printed") is True

    sign_out(page)
    expect(page.get_by_label("Account sign-in name")).to_have_value("initech")  # this browser remembers it
    submit_sign_in(page, "peter")
    expect(page.get_by_role("heading", name="Two-step sign-in")).to_be_visible()
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("That code is not valid.")).to_be_visible()
    # The code of the next step (the current one was used to enrol, and is spent).
    page.get_by_label("Code from your authenticator app").fill(totp.at(utcnow() + timedelta(seconds=30)))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page).to_have_url(f"{base_url}/accounts/{account.id}/users")
