"""Roles in Chromium: the owner creates a custom role, grants it to a user, and that user sees exactly
the pages the role allows; the same without JavaScript; a held role activated for the session."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser._a11y import check, no_js_context
from tests.browser._signin import sign_in, sign_out
from tests.helpers import Portal

pytestmark = pytest.mark.browser

# Every navigation item and the permission that shows it (those of base.html).
NAV = {
    "Users": "users:read",
    "Groups": "groups:read",
    "Roles": "roles:read",
    "Invitations": "invitations:read",
    "Audit log": "audit:read",
    "Jobs": "users:read",
}
USER_MANAGER = {"users:read", "groups:read", "roles:read", "invitations:read"}
AUDITOR = {"users:read", "groups:read", "roles:read", "invitations:read", "audit:read"}


def shown(permissions: set[str]) -> set[str]:
    """The navigation items these permissions show."""
    return {item for item, permission in NAV.items() if permission in permissions}


def nav_items(page: Page) -> set[str]:
    """The feature links of the navigation bar (not the brand, not the person's menu)."""
    return {text.strip() for text in page.locator("header nav > ul:nth-of-type(2) > li > a").all_inner_texts()}


def test_custom_role_granted_and_used(page: Page, base_url: str, portal: Portal, screenshot_dir: Path) -> None:
    account, _owner = portal.account("Initech", login="peter")
    sam = portal.user(account, "samir", roles=("member",), first_name="Samir", last_name="Nagheenanajar")
    sign_in(page, base_url, "peter")
    page.get_by_role("link", name="Roles", exact=True).click()
    expect(page.get_by_role("heading", name="Roles")).to_be_visible()
    expect(page.locator("#roles tbody tr")).to_have_count(5)
    page.screenshot(path=screenshot_dir / "roles-list.png", full_page=True)

    # A mistake first: htmx swaps the form with the error at the field, nothing is created.
    page.get_by_role("link", name="New role").click()
    page.get_by_label("Name").fill("account-ADMIN")
    page.get_by_label("users:read").check()
    page.get_by_role("button", name="Create the role").click()
    expect(page.get_by_text("Another role of the account has this name.")).to_be_visible()
    expect(page.get_by_label("users:read")).to_be_checked()
    check(page, "role-form-error", screenshot=True)

    page.get_by_label("Name").fill("Support desk")
    page.get_by_label("Description").fill("First-line support: looks people up")
    page.get_by_label("roles:read").check()
    page.get_by_role("button", name="Create the role").click()
    expect(page.get_by_role("heading", name="Support desk")).to_be_visible()
    expect(page.get_by_text("Role Support desk created.")).to_be_visible()
    expect(page.locator("#role_permissions code")).to_have_text(["users:read", "roles:read"])
    page.screenshot(path=screenshot_dir / "role-show.png", full_page=True)

    # Grant it on the user's roles panel (the panel the user page includes), in place with htmx.
    page.goto(f"{base_url}/accounts/{account.id}/users/{sam.id}/roles")
    page.get_by_label("Role to add").select_option(label="Support desk")
    expect(page.get_by_label(re.compile("^Default"))).to_be_checked()
    page.get_by_role("button", name="Add role").click()
    panel = page.locator("#user_roles")
    expect(panel.get_by_text("Samir Nagheenanajar holds the role Support desk (default).")).to_be_visible()
    expect(panel.locator("tbody tr", has_text="users:read")).to_contain_text("Support desk")
    check(page, "user-roles-panel", screenshot=True)
    sign_out(page)

    # Samir sees exactly what the role allows.
    sign_in(page, base_url, "samir")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    allowed = {"users:read", "roles:read"}
    assert nav_items(page) == shown(allowed)
    page.get_by_role("link", name="Roles", exact=True).click()
    expect(page.get_by_role("link", name="Support desk")).to_be_visible()
    expect(page.get_by_role("link", name="New role")).to_have_count(0)
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    page.screenshot(path=screenshot_dir / "roles-as-support-desk.png", full_page=True)
    for path, status in [
        ("/users", 200),
        ("/roles", 200),
        ("/roles/new", 403),
        ("/groups", 403),
        ("/invitations", 403),
        ("/audit", 403),
        (f"/users/{sam.id}/edit", 403),
    ]:
        response = page.goto(f"{base_url}/accounts/{account.id}{path}")
        assert response is not None and response.status == status, path
    expect(page.get_by_text("You need the users:write permission")).to_be_visible()
    page.screenshot(path=screenshot_dir / "forbidden-as-support-desk.png", full_page=True)


def test_roles_without_javascript(browser: Browser, base_url: str, portal: Portal, screenshot_dir: Path) -> None:
    account, _owner = portal.account("Globex", login="hank")
    context = no_js_context(browser)
    page = context.new_page()
    sign_in(page, base_url, "hank")
    page.goto(f"{base_url}/accounts/{account.id}/roles/new")
    page.get_by_label("Name").fill("MEMBER")
    page.get_by_role("button", name="Create the role").click()
    expect(page.get_by_text("Another role of the account has this name.")).to_be_visible()
    page.get_by_label("Name").fill("Temporary")
    page.get_by_label("groups:read").check()
    page.get_by_role("button", name="Create the role").click()
    expect(page.get_by_text("Role Temporary created.")).to_be_visible()

    # Delete asks on a page of its own without JavaScript.
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete the role Temporary?")).to_be_visible()
    page.screenshot(path=screenshot_dir / "role-delete-no-js.png", full_page=True)
    page.get_by_role("button", name="Delete the role").click()
    expect(page.get_by_text("Role Temporary deleted; 0 users no longer hold it.")).to_be_visible()
    expect(page.get_by_role("link", name="Temporary")).to_have_count(0)
    context.close()


def test_delete_with_javascript_confirms(page: Page, base_url: str, portal: Portal) -> None:
    account, _owner = portal.account("Hooli", login="gavin")
    sign_in(page, base_url, "gavin")
    page.goto(f"{base_url}/accounts/{account.id}/roles/new")
    page.get_by_label("Name").fill("Short-lived")
    page.get_by_role("button", name="Create the role").click()
    expect(page.get_by_text("Role Short-lived created.")).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete Short-lived").click()
    expect(page.get_by_text("Role Short-lived deleted")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/roles$"))


def test_activate_a_held_role_for_the_session(page: Page, base_url: str, portal: Portal, screenshot_dir: Path) -> None:
    account, _owner = portal.account("Initrode", login="bill")
    portal.user(account, "nina", roles=("user-manager",), first_name="Nina")
    with portal.app.app_context():
        from sqlalchemy import select

        from portal import db
        from portal.models import Role, RoleAssignment, User

        nina = db.session.scalar(select(User).where(User.login == "nina"))
        auditor = db.session.scalar(select(Role).where(Role.account_id == account.id, Role.name == "auditor"))
        db.session.add(RoleAssignment(user_id=nina.id, role_id=auditor.id, is_default=False))
        db.session.commit()
    sign_in(page, base_url, "nina")
    assert nav_items(page) == shown(USER_MANAGER)
    response = page.goto(f"{base_url}/accounts/{account.id}/roles/{auditor.id}")
    assert response is not None and response.status == 200
    page.locator("nav summary", has_text="Nina").click()
    page.get_by_role("link", name="My roles").click()
    expect(page.get_by_role("heading", name="My roles")).to_be_visible()
    page.get_by_role("button", name="Deactivate user-manager").click()
    expect(page.get_by_text("user-manager is inactive for this session.")).to_be_visible()
    assert nav_items(page) == set()
    page.get_by_role("button", name="Activate auditor").click()
    expect(page.get_by_text("auditor is active for this session.")).to_be_visible()
    assert nav_items(page) == shown(AUDITOR)
    page.screenshot(path=screenshot_dir / "my-roles.png", full_page=True)
    response = page.goto(f"{base_url}/accounts/{account.id}/users/new")
    assert response is not None and response.status == 403
