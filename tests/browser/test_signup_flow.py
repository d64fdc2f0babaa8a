"""A person signs up, signs out and signs in again in real Chromium, with JavaScript on and off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser._a11y import check, no_js_context
from tests.browser._signin import sign_out, submit_sign_in

pytestmark = pytest.mark.browser


def _sign_up(page: Page, base_url: str, account: str, login: str, password: str = "tps reports every friday") -> None:
    page.goto(f"{base_url}/signup")
    page.get_by_label("Account name").fill(account)
    page.get_by_label("First name").fill("Peter")
    page.get_by_label("Last name").fill("Gibbons")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Email").fill(f"{login}@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Repeat the password").fill(password)
    page.get_by_role("button", name="Create the account").click()


def test_sign_up_sign_out_sign_in(page: Page, base_url: str, screenshot_dir: Path) -> None:
    page.goto(f"{base_url}/signup")
    page.screenshot(path=screenshot_dir / "signup.png", full_page=True)
    # A mistake first: htmx swaps the form with the error next to the field, nothing is created.
    _sign_up(page, base_url, "Initech", "peter", password="short")
    expect(page.get_by_text("Use at least 12 characters.")).to_be_visible()
    expect(page.get_by_label("Login")).to_have_value("peter")
    check(page, "signup-error", screenshot=True)

    _sign_up(page, base_url, "Initech", "peter")
    expect(page).to_have_url(re.compile(r"/accounts/[0-9a-f-]{36}/users$"))
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.get_by_text("Welcome! Your account Initech is ready.")).to_be_visible()
    page.screenshot(path=screenshot_dir / "users-after-signup.png", full_page=True)

    sign_out(page)
    expect(page.get_by_label("Account sign-in name")).to_have_value("initech")  # this browser remembers it
    submit_sign_in(page, "peter@example.com", "wrong password, surely")
    expect(page.get_by_text("Invalid login or password.")).to_be_visible()
    check(page, "login-error", screenshot=True)
    submit_sign_in(page, "peter@example.com", "tps reports every friday")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.locator("article.owner")).to_contain_text("peter@example.com")


def test_sign_up_without_javascript(browser: Browser, base_url: str, screenshot_dir: Path) -> None:
    context = no_js_context(browser)
    page = context.new_page()
    _sign_up(page, base_url, "Globex", "hank", password="password1234")
    expect(page.get_by_text("This password is too common")).to_be_visible()
    _sign_up(page, base_url, "Globex", "hank")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    page.screenshot(path=screenshot_dir / "users-no-js.png", full_page=True)
    context.close()
