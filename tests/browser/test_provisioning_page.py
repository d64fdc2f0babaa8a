"""The provisioning page (SCIM) in Chromium: make a token (shown once, swapped in place by htmx), see the
identity provider's requests, rotate; the same without JavaScript. axe-core finds nothing, at 1280 and 390 px."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.request import Request, urlopen

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from portal import db
from portal.models import ProvisioningToken, User
from tests.browser._a11y import check, no_js_context
from tests.browser._signin import sign_in
from tests.helpers import Portal

pytestmark = pytest.mark.browser


def _open(page: Page, base_url: str, portal: Portal) -> str:
    account, _owner = portal.account("Initech", login="peter")
    sign_in(page, base_url, "peter")
    page.goto(f"{base_url}/accounts/{account.id}/settings")
    page.get_by_role("link", name="Provisioning (SCIM)").click()
    expect(page.get_by_role("heading", name="Provisioning (SCIM)")).to_be_visible()
    return str(account.id)


def _scim_get(base_url: str, account_id: str, token: str) -> int:
    request = Request(f"{base_url}/scim/v2/{account_id}/Users", headers={"Authorization": f"Bearer {token}"})
    with urlopen(request) as answer:  # noqa: S310 - the test's own live server
        json.load(answer)
        return int(answer.status)


def _tokens(portal: Portal) -> int:
    with portal.app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(ProvisioningToken)) or 0)


def test_make_use_and_rotate_a_token(page: Page, base_url: str, portal: Portal, screenshot_dir: Path) -> None:
    account_id = _open(page, base_url, portal)
    expect(page.get_by_label("SCIM base URL")).to_have_value(f"{base_url}/scim/v2/{account_id}")
    check(page, "provisioning-empty", screenshot=True)
    page.get_by_role("button", name="Make a token").click()
    token_box = page.get_by_label("Provisioning token")
    expect(token_box).to_be_visible()
    token = token_box.input_value()
    assert token.startswith("scim_") and _tokens(portal) == 1
    assert _scim_get(base_url, account_id, token) == 200
    page.reload()  # shown once: gone when the page is opened again
    expect(page.get_by_label("Provisioning token")).to_have_count(0)
    expect(page.get_by_role("region", name="Last SCIM requests")).to_contain_text("/Users")
    check(page, "provisioning-in-use", screenshot=True)
    page.get_by_role("button", name="Rotate").click()
    expect(page.get_by_label("Provisioning token")).to_be_visible()
    expect(page.get_by_role("region", name="Tokens")).to_contain_text("(rotated)")
    assert _scim_get(base_url, account_id, token) == 200  # the old one keeps working for 24 hours
    check(page, "provisioning-rotated", screenshot=True)


def test_without_javascript(browser: Browser, base_url: str, portal: Portal, screenshot_dir: Path) -> None:
    context = no_js_context(browser)
    try:
        page = context.new_page()
        account_id = _open(page, base_url, portal)
        page.get_by_role("button", name="Make a token").click()
        token = page.get_by_label("Provisioning token").input_value()
        assert _scim_get(base_url, account_id, token) == 200
        check(page, "provisioning-no-js")
        page.get_by_role("button", name="Revoke").click()
        expect(page.get_by_text("No token works now.")).to_be_visible()
        with portal.app.app_context():
            row = db.session.scalar(select(ProvisioningToken))
            assert row is not None and row.revoked_at is not None
            assert db.session.scalar(select(User.login).where(User.account_id == row.account_id)) == "peter"
    finally:
        context.close()
