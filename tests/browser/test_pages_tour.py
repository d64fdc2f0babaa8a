"""Every page of the portal, in Chromium, at 1280 and 390 px, light and dark (issue 17): axe-core finds no
violation, nothing scrolls sideways on a phone, and each page is photographed at both widths
(tests/browser/screenshots/<page>-1280.png, -390.png and -dark.png)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from portal import db
from portal.auth import mfa
from portal.models import GroupMember, Invitation, User
from tests.browser._a11y import PHONE, SCREENSHOTS, findings, preload
from tests.browser._signin import sign_in, submit_sign_in
from tests.helpers import Portal, invitation_token, make_group, make_role
from tests.routes.test_users_list import seed_users

pytestmark = pytest.mark.browser


@dataclass
class World:
    account_id: uuid.UUID
    milton: uuid.UUID
    invitee: uuid.UUID
    group: uuid.UUID
    member: uuid.UUID
    role: uuid.UUID
    invitation: uuid.UUID
    token: str


def build_world(portal: Portal) -> World:
    """An account as a new admin finds it after a week: people, an invitee, groups, a custom role."""
    account, owner = portal.account("Initech", login="peter")
    with portal.app.app_context():
        me = db.session.get(User, owner.id)
        me.first_name, me.last_name = "Peter", "Gibbons"
        db.session.commit()
    seed_users(portal.app, account, 45)
    with portal.app.app_context():
        sealed = mfa.seal(pyotp.random_base32())
    milton = portal.user(
        account,
        "milton",
        roles=("member", "auditor"),
        first_name="Milton",
        last_name="Waddams",
        company_name="Initech",
        city="Austin",
        mfa_enabled=True,
        mfa_secret=sealed,
    )
    portal.user(account, "samir", first_name="Samir", last_name="Nagheenanajar", status="disabled")
    # A long name, a long address and several roles: the list's widest row.
    portal.user(
        account,
        "bartholomew",
        roles=("member", "auditor", "group-manager"),
        first_name="Bartholomew",
        last_name="Featherstonehaugh",
        email="bartholomew.featherstonehaugh@initech-holdings.example.com",
        mfa_enabled=True,
    )
    engineering = make_group(portal, account, "Engineering", members=(milton,), description="Builds TPS reports")
    make_group(portal, account, "Support")
    role = make_role(
        portal,
        account,
        "Support desk",
        ("users:read",),
        holders=(milton,),
        description="First-line support: looks people up",
    )
    client = portal.client(portal.get(User, owner.id))
    response = client.post(
        f"/accounts/{account.id}/invitations", {"emails": "ada@example.com", "groups": [str(engineering.id)]}
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    with portal.app.app_context():
        invitation = db.session.scalar(select(Invitation).where(Invitation.email == "ada@example.com"))
        member = db.session.scalar(select(GroupMember.id).where(GroupMember.user_id == milton.id))
        return World(
            account.id,
            milton.id,
            invitation.user_id,
            engineering.id,
            member,
            role.id,
            invitation.id,
            invitation_token(portal, "ada@example.com"),
        )


def signed_in_pages(w: World) -> list[tuple[str, str]]:
    a = f"/accounts/{w.account_id}"
    return [
        ("users-list", f"{a}/users"),
        ("users-none-match", f"{a}/users?q=zzz&mfa=on"),
        ("user-new", f"{a}/users/new"),
        ("user-show", f"{a}/users/{w.milton}"),
        ("user-show-invitee", f"{a}/users/{w.invitee}"),
        ("user-edit", f"{a}/users/{w.milton}/edit"),
        ("user-password", f"{a}/users/{w.milton}/password"),
        ("user-reset-mfa", f"{a}/users/{w.milton}/reset-mfa"),
        ("user-disable", f"{a}/users/{w.milton}/disable"),
        ("user-delete", f"{a}/users/{w.milton}/delete"),
        ("user-roles", f"{a}/users/{w.milton}/roles"),
        ("groups-list", f"{a}/groups"),
        ("group-new", f"{a}/groups/new"),
        ("group-show", f"{a}/groups/{w.group}"),
        ("group-edit", f"{a}/groups/{w.group}/edit"),
        ("group-replace", f"{a}/groups/{w.group}/members/replace"),
        ("group-delete", f"{a}/groups/{w.group}/delete"),
        ("group-member", f"{a}/groups/{w.group}/members/{w.member}"),
        ("group-member-remove", f"{a}/groups/{w.group}/members/{w.member}/delete"),
        ("roles-list", f"{a}/roles"),
        ("role-show", f"{a}/roles/{w.role}"),
        ("role-new", f"{a}/roles/new"),
        ("role-edit", f"{a}/roles/{w.role}/edit"),
        ("role-delete", f"{a}/roles/{w.role}/delete"),
        ("invitations-list", f"{a}/invitations"),
        ("invite-new", f"{a}/invitations/new"),
        ("invitation-edit", f"{a}/invitations/{w.invitation}/edit"),
        ("invitation-revoke", f"{a}/invitations/{w.invitation}/revoke"),
        ("outbox", f"{a}/outbox"),
        ("audit-log", f"{a}/audit"),
        ("settings", f"{a}/settings"),
        ("transfer", f"{a}/transfer"),
        ("me-profile", "/me"),
        ("me-password", "/me/password"),
        ("me-mfa-enrol", "/me/mfa"),
        ("me-sessions", "/me/sessions"),
        ("me-api-keys", "/me/api-keys"),
        ("me-roles", "/me/roles"),
        ("me-reauth", "/me/reauth"),
        ("not-found", f"{a}/users/{uuid.uuid4()}"),
    ]


def test_every_page_passes_axe_and_fits_a_phone(page: Page, browser: Browser, base_url: str, portal: Portal) -> None:
    w = build_world(portal)
    preload(page)
    problems: list[str] = []

    # Signed out: sign-in, sign-up, password reset, an invitation, the two-step sign-in.
    for state, path in [
        ("login", "/login"),
        ("signup", "/signup"),
        ("password-reset", "/password-reset"),
        ("password-reset-invalid", "/password-reset/not-a-token"),
        ("invitation-accept", f"/invitations/accept/{w.token}"),
        ("invitation-invalid", "/invitations/accept/not-a-token"),
    ]:
        page.goto(f"{base_url}{path}")
        problems += findings(page, state, screenshot=True)
    page.goto(f"{base_url}/login")
    submit_sign_in(page, "milton")
    expect(page.get_by_role("heading", name="Two-step sign-in")).to_be_visible()
    problems += findings(page, "login-mfa", screenshot=True)

    page.context.clear_cookies()
    sign_in(page, base_url, "peter")
    for state, path in signed_in_pages(w):
        page.goto(f"{base_url}{path}")
        problems += findings(page, state, screenshot=True)
        if state == "users-list":  # at 1280 px every column shows without scrolling sideways
            box = page.locator("#users_table .table-scroll")
            widths = box.evaluate("(box) => [box.scrollWidth, box.clientWidth]")
            if widths[0] > widths[1]:
                problems.append(f"the users list scrolls sideways at 1280 px: {widths}")

    # The header's menu on a phone, open: every link, and Sign out, are there.
    page.goto(f"{base_url}/accounts/{w.account_id}/users")
    page.set_viewport_size(PHONE)
    page.get_by_text("Menu", exact=True).click()
    menu = page.locator(".nav-narrow")
    for name in ("Users", "Groups", "Roles", "Invitations", "Audit log", "Profile", "Account settings"):
        expect(menu.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(menu.get_by_role("button", name="Sign out")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "menu-open-390.png")
    problems += findings(page, "menu-open")
    assert not problems, "\n\n".join(problems)
