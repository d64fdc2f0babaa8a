"""Invite someone while the account signs in through its identity provider; they accept by signing in
there (oidc-provider-mock on loopback); the users page shows them as SSO. Pages checked with axe-core."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser._a11y import check
from tests.browser._signin import sign_in
from tests.helpers import Portal
from tests.sso.conftest import Provider, connect, provider  # noqa: F401  (the provider fixture)

pytestmark = pytest.mark.browser


def test_invite_then_accept_through_sso_then_users_page_shows_sso(
    page: Page,
    browser: Browser,
    base_url: str,
    portal: Portal,
    provider: Provider,  # noqa: F811
    screenshot_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(portal.app.config, "PORTAL_BASE_URL", base_url)  # the redirect URI must reach us
    account, owner = portal.account("Hooli", login="gavin")
    connect(portal.app, account, provider.issuer)
    provider.set_user(
        "richard-sub", email="richard@example.com", email_verified=True, given_name="Richard", family_name="Hendricks"
    )
    sign_in(page, base_url, "gavin")
    page.goto(f"{base_url}/accounts/{account.id}/settings/sso")
    expect(page.get_by_role("heading", name="Single sign-on (OpenID Connect)")).to_be_visible()
    check(page, "sso-settings", screenshot=True)
    page.goto(f"{base_url}/accounts/{account.id}/invitations/new")
    page.get_by_label("Email addresses").fill("richard@example.com")
    page.get_by_role("button", name="Send the invitations").click()
    expect(page.get_by_text("richard@example.com").first).to_be_visible()

    invitee = browser.new_context().new_page()
    invitee.goto(f"{base_url}/a/{account.sign_in_name}/login")
    check(invitee, "sign-in-with-sso", screenshot=True)
    invitee.get_by_role("button", name="Continue with Mock IdP").click()
    invitee.locator("input[name=sub]").fill("richard-sub")
    invitee.locator("form button[type=submit], form input[type=submit]").first.click()
    expect(invitee.locator("summary", has_text="Richard Hendricks").first).to_be_attached()

    page.goto(f"{base_url}/accounts/{account.id}/users")
    row = page.locator("tr", has_text="richard@example.com")
    expect(row).to_contain_text("SSO")
    expect(row).to_contain_text("active")
    invitee.context.close()
