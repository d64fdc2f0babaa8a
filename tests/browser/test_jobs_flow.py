"""Jobs in Chromium (issue 18): a bulk disable over 1,000 matching users runs as a job; its bar moves as the
worker commits batches (htmx polling), and its report opens when it is done. The job, jobs and import pages
pass axe-core at 1280 and 390 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from portal.models import User
from tests.browser._a11y import check
from tests.browser._signin import sign_in
from tests.helpers import Portal, add_many_users, run_jobs

pytestmark = pytest.mark.browser


def test_bulk_disable_over_1000_matching_users_shows_its_bar_moving_and_its_report(
    page: Page, base_url: str, portal: Portal
) -> None:
    account, _owner = portal.account("Initech", login="peter")
    add_many_users(portal, account, 1000)
    sign_in(page, base_url, "peter")
    page.goto(f"{base_url}/accounts/{account.id}/users")
    page.get_by_label(re.compile(r"Select all 1,000 matching users")).check()
    page.get_by_label("Action", exact=True).select_option("disable")
    page.get_by_role("button", name="Apply").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text("Disable 1,000 users?")
    dialog.get_by_role("button", name="Disable 1,000 users").click()

    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Disable 1,000 matching users")
    bar = page.locator("progress#job-progress")
    expect(page.get_by_text("Waiting for the worker…")).to_be_visible()

    run_jobs(portal, batch=100, max_batches=3)  # prepared, then two batches: 200 of 1,000
    expect(bar).to_have_attribute("value", "200", timeout=10_000)  # htmx polls: no reload
    expect(page.locator("#job_status").get_by_text("200 of 1,000 handled")).to_be_visible()
    # Not checked with axe here: the page polls every second and a swap landing while axe reads it flakes the
    # check (seen under load); the same template is checked at rest below ("job-done").
    page.screenshot(path="tests/browser/screenshots/job-running.png", full_page=True)
    run_jobs(portal, batch=100, max_batches=4)
    expect(bar).to_have_attribute("value", "600", timeout=10_000)
    run_jobs(portal, batch=100)
    expect(page.locator("#job_status").get_by_text("Done.")).to_be_visible(timeout=10_000)
    expect(bar).to_have_attribute("value", "1000")
    assert portal.scalar(select(func.count()).select_from(User).where(User.status == "disabled")) == 1000
    check(page, "job-done", screenshot=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the report (CSV)").click()
    with open(download.value.path(), encoding="utf-8") as report:
        lines = report.read().splitlines()
    assert lines[0] == "n,who,outcome,reason" and len(lines) == 1001
    assert all(",done,disabled" in line for line in lines[1:])

    page.goto(f"{base_url}/accounts/{account.id}/jobs")
    expect(page.get_by_role("link", name="Disable 1,000 matching users")).to_be_visible()
    check(page, "jobs-list", screenshot=True)
    page.goto(f"{base_url}/accounts/{account.id}/users/import")
    check(page, "users-import", screenshot=True)
