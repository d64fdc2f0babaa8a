"""The audit log and the sign-in limits in real Chromium (issue 8), with JavaScript on and off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from tests.browser._a11y import check, no_js_context
from tests.browser._signin import submit_sign_in
from tests.helpers import PASSWORD, Portal

pytestmark = pytest.mark.browser


def _sign_in(page: Page, base_url: str, login: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    submit_sign_in(page, login, password)


def test_owner_reads_and_filters_the_audit_log(page: Page, base_url: str, portal: Portal, screenshot_dir: Path) -> None:
    account, _owner = portal.account("Initech", login="peter")
    portal.user(account, "milton", first_name="Milton")
    _sign_in(page, base_url, "milton", "not his password")
    expect(page.get_by_text("Invalid login or password.")).to_be_visible()
    _sign_in(page, base_url, "peter", PASSWORD)
    expect(page.get_by_role("heading", name="Users")).to_be_visible()

    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    table = page.locator("#audit_table")
    expect(table).to_contain_text("auth.sign_in")
    page.screenshot(path=screenshot_dir / "audit-log.png", full_page=True)

    # htmx: typing an action narrows the table in place and keeps the URL shareable.
    page.get_by_label("Action").fill("auth.*")
    expect(page).to_have_url(re.compile(r"/audit\?actor=&action=auth\.(\*|%2A)&"))
    # Peter's sign-in, and the failed attempt on Milton's login, which belongs to this account.
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table).to_contain_text("auth.sign_in_failed")
    page.get_by_label("Action").fill("user.create")
    expect(table).to_contain_text("No events match.")
    check(page, "audit-log-filtered", screenshot=True)
    page.get_by_role("link", name="Clear filters").click()
    table.get_by_role("link", name="peter").first.click()  # an actor's name filters by that actor
    expect(page.get_by_label("Actor")).to_have_value("peter")
    expect(table.locator("tbody tr")).to_have_count(1)


def test_audit_log_without_javascript(browser: Browser, base_url: str, portal: Portal) -> None:
    account, _owner = portal.account("Globex", login="hank")
    context = no_js_context(browser)
    page = context.new_page()
    _sign_in(page, base_url, "hank", PASSWORD)
    page.goto(f"{base_url}/accounts/{account.id}/audit")
    page.get_by_label("Actor").fill("nobody")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No events match.")).to_be_visible()
    expect(page).to_have_url(
        f"{base_url}/accounts/{account.id}/audit?actor=nobody&action=&target_type=&target=&since=&until=&take=20"
    )
    context.close()


def test_too_many_sign_ins_get_a_readable_answer(
    page: Page,
    browser: Browser,
    base_url: str,
    portal: Portal,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    screenshot_dir: Path,
) -> None:
    monkeypatch.setitem(app.config, "RATELIMIT_PER_LOGIN", "2 per minute")
    portal.account("Initrode", login="samir")
    for _ in range(2):
        _sign_in(page, base_url, "samir", "guess guess guess")
        expect(page.get_by_text("Invalid login or password.")).to_be_visible()
    _sign_in(page, base_url, "samir", PASSWORD)
    expect(page.locator("#messages")).to_contain_text("Too many attempts. Wait a minute and try again.")
    check(page, "sign-in-429-htmx", screenshot=True)

    context = no_js_context(browser)
    plain = context.new_page()
    _sign_in(plain, base_url, "samir", PASSWORD)
    expect(plain.get_by_role("heading", name="429 · Too many attempts")).to_be_visible()
    check(plain, "sign-in-429-page", screenshot=True)
    context.close()


def test_owner_sees_and_clears_a_lockout_on_the_user_page(
    page: Page, browser: Browser, base_url: str, portal: Portal, screenshot_dir: Path
) -> None:
    account, _owner = portal.account("Initech", login="peter")
    milton = portal.user(account, "milton", first_name="Milton", last_name="Waddams")
    for _ in range(5):
        portal.client().post("/login", {"account": "initech", "login": "milton", "password": "stapler stapler stapler"})
    _sign_in(page, base_url, "peter", PASSWORD)
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    page.goto(f"{base_url}/accounts/{account.id}/users/{milton.id}")
    panel = page.locator("#user_lockout")
    expect(panel).to_contain_text("Sign-in locked")
    expect(panel).to_contain_text("5 failed attempts in a row")
    expect(page.locator("#user_events")).to_be_visible()
    check(page, "user-locked", screenshot=True)
    panel.get_by_role("button", name="Clear the lockout").click()
    expect(page.get_by_text("their failed attempts are forgotten")).to_be_visible()
    expect(panel).not_to_contain_text("Sign-in locked")
    check(page, "user-lockout-cleared", screenshot=True)

    other = browser.new_context().new_page()
    _sign_in(other, base_url, "milton", PASSWORD)  # the right password works again at once
    expect(other.get_by_text("Invalid login or password.")).not_to_be_visible()
    expect(other).not_to_have_url(re.compile(r"/login$"))
