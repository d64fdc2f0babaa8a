"""An owner invites someone in real Chromium; the email arrives at a real SMTP server; its link
is opened in another browser, accepted, and the new person lands signed in on the account."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from portal import db
from portal.mail import delivery
from tests.browser._a11y import check, no_js_context
from tests.browser._signin import sign_in
from tests.conftest import SmtpServer
from tests.helpers import INVITE_LINK, Portal, make_group

pytestmark = pytest.mark.browser


@pytest.fixture
def mail_app(app: Flask, smtp_server: SmtpServer, live_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The served app, mailing through the test's SMTP server, with links pointing at the live server."""
    monkeypatch.setitem(app.config, "SMTP_HOST", smtp_server.host)
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.port)
    monkeypatch.setitem(app.config, "PORTAL_BASE_URL", live_server)
    yield app


def _run_mail_worker(app: Flask) -> None:
    """What `flask portal send-mail --once` does."""
    with app.app_context():
        delivery.deliver_due()
        db.session.remove()


def _sign_in(page: Page, base_url: str, login: str) -> None:
    sign_in(page, base_url, login)
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()


def _invite(page: Page, email: str, several: int = 0) -> None:
    page.get_by_role("link", name="Invitations").click()
    expect(page.get_by_role("heading", name="Invitations")).to_be_visible()
    page.get_by_role("link", name="Invite people").click()
    page.get_by_label("Email addresses").fill(email)
    page.get_by_label("user-manager").check()
    page.get_by_label("Engineering").check()
    page.get_by_role("button", name="Send the invitations").click()
    if several:  # several addresses: a review first, then they go
        expect(
            page.get_by_role("heading", name=f"Invite {several} people as user-manager to Engineering?")
        ).to_be_visible()
        check(page, "invitations-review", screenshot=True)
        page.get_by_role("button", name=f"Send {several} invitations").click()


def test_invite_receive_accept_and_land_signed_in(
    page: Page,
    browser: Browser,
    base_url: str,
    portal: Portal,
    mail_app: Flask,
    smtp_server: SmtpServer,
    screenshot_dir: Path,
) -> None:
    account, _owner = portal.account("Initech", login="peter")
    make_group(portal, account, "Engineering")
    _sign_in(page, base_url, "peter")

    # A typo first: the form says which address failed and why, and keeps it to fix.
    _invite(page, "milton@example.com, milton-at-example", several=2)
    expect(page.locator("#invite_report").get_by_text("1 invited, 1 not invited.")).to_be_visible()
    expect(page.get_by_text("milton-at-example: Not a valid address")).to_be_visible()
    expect(page.get_by_label("Email addresses")).to_have_value("milton-at-example")
    check(page, "invitations-report", screenshot=True)

    page.get_by_role("link", name="Back to the invitations").click()
    row = page.locator("tr", has_text="milton@example.com")
    expect(row).to_contain_text("pending")
    expect(row).to_contain_text("user-manager")
    expect(row).to_contain_text("Engineering")
    expect(row.locator("td.delivery")).to_contain_text("queued")

    _run_mail_worker(mail_app)
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "milton@example.com"
    link = INVITE_LINK.search(message.get_body(("plain",)).get_content())
    assert link and link.group(1) == base_url
    page.reload()
    expect(page.locator("tr", has_text="milton@example.com").locator("td.delivery")).to_contain_text("sent")
    page.screenshot(path=screenshot_dir / "invitations-list.png", full_page=True)

    # The invited person, in their own browser.
    invitee_context = browser.new_context()
    invitee = invitee_context.new_page()
    invitee.goto(link.group(0))
    expect(invitee.get_by_role("heading", name="Join Initech")).to_be_visible()
    expect(invitee.get_by_text("Peter invited you (milton@example.com)")).to_be_visible()
    invitee.get_by_label("First name").fill("Milton")
    invitee.get_by_label("Last name").fill("Waddams")
    invitee.get_by_label("Login").fill("milton")
    invitee.get_by_label("Password", exact=True).fill("red stapler basement 7")
    invitee.get_by_label("Repeat the password").fill("red stapler basement 8")
    invitee.get_by_role("button", name="Join Initech").click()
    expect(invitee.get_by_text("The two passwords differ.")).to_be_visible()
    check(invitee, "invitation-accept-error", screenshot=True)
    invitee.get_by_label("Password", exact=True).fill("red stapler basement 7")
    invitee.get_by_label("Repeat the password").fill("red stapler basement 7")
    invitee.get_by_role("button", name="Join Initech").click()

    expect(invitee).to_have_url(re.compile(r"/accounts/[0-9a-f-]{36}/users$"))
    expect(invitee.get_by_text("Welcome to Initech!")).to_be_visible()
    expect(invitee.locator(".nav-wide summary")).to_have_text("Milton Waddams")
    invitee.screenshot(path=screenshot_dir / "invitation-accepted.png", full_page=True)

    # The link is spent; the admin sees the invitation accepted.
    invitee.goto(link.group(0))
    expect(invitee.get_by_text("This invitation link is not valid.")).to_be_visible()
    invitee_context.close()
    page.reload()
    expect(page.locator("tr", has_text="milton@example.com")).to_contain_text("accepted")


def test_accept_without_javascript(
    browser: Browser, base_url: str, portal: Portal, mail_app: Flask, smtp_server: SmtpServer, screenshot_dir: Path
) -> None:
    account, _owner = portal.account("Globex", login="hank")
    make_group(portal, account, "Engineering")
    context = no_js_context(browser)
    page = context.new_page()
    _sign_in(page, base_url, "hank")
    _invite(page, "homer@example.com")
    expect(page.get_by_text("Invited 1 person: homer@example.com.")).to_be_visible()

    _run_mail_worker(mail_app)
    link = INVITE_LINK.search(smtp_server.wait_for(1)[0].get_body(("html",)).get_content())
    assert link

    invitee_context = no_js_context(browser)
    invitee = invitee_context.new_page()
    invitee.goto(link.group(0))
    invitee.screenshot(path=screenshot_dir / "invitation-accept.png", full_page=True)
    invitee.get_by_label("First name").fill("Homer")
    invitee.get_by_label("Last name").fill("Simpson")
    invitee.get_by_label("Login").fill("homer")
    invitee.get_by_label("Password", exact=True).fill("donut power plant sector 7")
    invitee.get_by_label("Repeat the password").fill("donut power plant sector 7")
    invitee.get_by_role("button", name="Join Globex").click()
    expect(invitee.get_by_text("Welcome to Globex!")).to_be_visible()
    expect(invitee.get_by_role("heading", name="Users")).to_be_visible()
    invitee_context.close()
    context.close()


def test_without_smtp_the_owner_follows_the_link_from_the_outbox(
    page: Page,
    browser: Browser,
    base_url: str,
    portal: Portal,
    app: Flask,
    live_server: str,
    monkeypatch: pytest.MonkeyPatch,
    screenshot_dir: Path,
) -> None:
    """Development without a mail server: the email waits in the outbox, readable by the owner."""
    monkeypatch.setitem(app.config, "PORTAL_BASE_URL", live_server)
    account, _owner = portal.account("Umbrella", login="alice")
    make_group(portal, account, "Engineering")
    _sign_in(page, base_url, "alice")
    _invite(page, "chris@example.com")
    page.get_by_role("main").get_by_role("link", name="Outbox").click()
    expect(page.get_by_role("heading", name="Outbox")).to_be_visible()
    expect(page.get_by_text("No mail server is configured")).to_be_visible()
    page.get_by_text("Text", exact=True).click()
    check(page, "outbox", screenshot=True)
    link = INVITE_LINK.search(page.locator("pre.email-body").inner_text())
    assert link and link.group(1) == base_url

    invitee_context = browser.new_context()
    invitee = invitee_context.new_page()
    invitee.goto(link.group(0))
    expect(invitee.get_by_role("heading", name="Join Umbrella")).to_be_visible()
    invitee_context.close()
