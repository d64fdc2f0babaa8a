"""Signing in and out in the browser tests: the one place that knows the sign-in form's fields.

When the form changes (an account's sign-in name, say), only this module changes."""

from __future__ import annotations

from flask import Flask
from playwright.sync_api import Page

from tests.helpers import PASSWORD, sign_in_name_of

APP: Flask | None = None  # the live server's app, set by tests/browser/conftest.py for each test


def fill_sign_in(page: Page, login: str, password: str = PASSWORD) -> None:
    """Fill the sign-in form on the current page (without sending it): the account's sign-in name too, unless
    the page already knows it (an account's own sign-in link, or the one this browser remembers)."""
    account = page.get_by_label("Account sign-in name")
    if APP is not None and account.count() and not account.input_value():
        account.fill(sign_in_name_of(APP, login))
    page.get_by_label("Login or email").fill(login)
    page.get_by_label("Password").fill(password)


def submit_sign_in(page: Page, login: str, password: str = PASSWORD) -> None:
    """Fill and send the sign-in form on the current page; what follows is the test's to check."""
    fill_sign_in(page, login, password)
    page.get_by_role("button", name="Sign in").click()


def sign_in(page: Page, base_url: str, login: str, password: str = PASSWORD) -> None:
    """Open the sign-in page, sign in, and wait until the browser has left it."""
    page.goto(f"{base_url}/login")
    submit_sign_in(page, login, password)
    page.wait_for_url(lambda url: "/login" not in url)
    page.wait_for_load_state()


def sign_out(page: Page) -> None:
    """Sign out from the header's menu, whichever the screen shows (the person's menu, or Menu on a phone)."""
    menu = page.locator("header nav details.dropdown:visible").last
    menu.locator("summary").click()
    menu.get_by_role("button", name="Sign out").click()
    page.get_by_text("You are signed out.").wait_for()
