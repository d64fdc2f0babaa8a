"""A person turns two-step sign-in on by reading the key from the page, signs out, and signs in with a code."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from portal.db import utcnow
from tests.browser._signin import sign_in, sign_out, submit_sign_in
from tests.helpers import Portal

pytestmark = pytest.mark.browser


def test_enrol_sign_out_sign_in_with_a_code(page: Page, base_url: str, portal: Portal, screenshot_dir: Path) -> None:
    account, _owner = portal.account("Initech", login="peter")
    sign_in(page, base_url, "peter")
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()

    page.goto(f"{base_url}/me/mfa")
    expect(page.locator("figure.qr svg")).to_be_visible()
    page.screenshot(path=screenshot_dir / "mfa-enrol.png", full_page=True)
    secret = page.locator("#mfa_secret").inner_text()
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from your authenticator app").fill(totp.now())
    page.get_by_role("button", name="Turn two-step sign-in on").click()
    expect(page.get_by_text("Your recovery codes")).to_be_visible()
    expect(page.locator("ul.codes li")).to_have_count(10)
    page.screenshot(path=screenshot_dir / "mfa-recovery-codes.png", full_page=True)

    sign_out(page)
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
