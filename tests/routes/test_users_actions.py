"""One user: view, create, edit (optimistic lock), password, MFA reset, disable, enable, delete, bulk."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from portal.models import Group, GroupMember, LoginSession, Role, RoleAssignment, User
from tests.helpers import PASSWORD, CallCounter, Portal, Tenant, count, edit_form, events, users_url

NEW = {
    "login": "Grace.Hopper",
    "email": "Grace@Navy.example.com",
    "password": "cobol compilers rule the sea",
    "password_confirmation": "cobol compilers rule the sea",
    "first_name": "Grace",
    "last_name": "Hopper",
    "company_name": "US Navy",
    "address": "1 Harvard Yard",
    "postal_code": "02138",
    "city": "Cambridge",
    "state": "MA",
    "country": "US",
    "phone": "+1 555 0100",
    "temporary": "y",
}


# --- view -----------------------------------------------------------------------------------------


def test_show_by_id_and_by_login(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.admin)
    body = client.get(users_url(a, f"/{a.member.id}")).get_data(as_text=True)
    assert a.member.email in body and "Last sign-in" in body
    response = client.get(users_url(a, "/MEMBER-a"))
    assert response.status_code == 302 and response.headers["Location"] == users_url(a, f"/{a.member.id}")
    assert client.get(users_url(a, "/nobody-here")).status_code == 404


def test_the_user_page_builds_no_statement_of_its_own(portal: Portal, a: Tenant) -> None:
    """Issue 20: the user page's statements (the user, roles with grants, groups, the open email change, the
    lockout, the recent events) are built once and bound per call; building them cost ~15 % of the page. The
    owner sees every panel."""
    client = portal.client(a.owner)
    url = users_url(a, f"/{a.member.id}")
    assert client.get(url).status_code == 200
    with CallCounter() as calls:
        body = client.get(url).get_data(as_text=True)
    assert a.member.email in body and "Groups" in body and "Recent activity" in body
    assert not calls.statements_built  # 11 select() and 10 where() before


def test_foreign_and_missing_users_are_404(portal: Portal, a: Tenant, b: Tenant) -> None:
    client = portal.client(a.admin)
    for path in (
        f"/{b.member.id}",
        f"/{uuid.uuid4()}",
        f"/{b.member.id}/edit",
        f"/{b.member.id}/password",
        f"/{b.member.id}/delete",
        "/member-b",
    ):
        assert client.get(users_url(a, path)).status_code == 404, path
    for path in (
        f"/{b.member.id}/disable",
        f"/{b.member.id}/delete",
        f"/{b.member.id}/edit",
        f"/{b.member.id}/reset-mfa",
        f"/{b.member.id}/password",
    ):
        assert client.post(users_url(a, path), {"reason": "x", "version": "1"}).status_code == 404, path
    assert portal.get(User, b.member.id).status == "active"


def test_reading_needs_users_read(portal: Portal, a: Tenant) -> None:
    assert portal.client(a.member).get(users_url(a, f"/{a.admin.id}")).status_code == 403
    assert portal.client(a.group_manager).get(users_url(a, f"/{a.admin.id}")).status_code == 200
    assert portal.client(a.auditor).get(users_url(a, "/new")).status_code == 403


# --- create ---------------------------------------------------------------------------------------


def test_create_user_with_roles(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.admin)
    auditor = portal.scalar(select(Role.id).where(Role.account_id == a.id, Role.name == "auditor"))
    response = client.post(users_url(a), {**NEW, "roles": [str(auditor)]})
    assert response.status_code == 303
    user = portal.scalar(select(User).where(User.login == "grace.hopper"))
    assert response.headers["Location"] == users_url(a, f"/{user.id}")
    assert (user.email, user.city, user.status, user.must_change_password) == (
        "grace@navy.example.com",
        "Cambridge",
        "active",
        True,
    )
    assert user.password_hash.startswith("$argon2id$")
    assert count(portal, RoleAssignment, RoleAssignment.user_id == user.id) == 1
    [event] = events(portal, "user.create")
    assert event.actor_id == a.admin.id and event.changes["password"] == "[changed]"
    assert NEW["password"] not in str(event.changes)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Grace Hopper was created." in page


@pytest.mark.parametrize(
    ("changes", "field_message"),
    [
        ({"login": ""}, "This field is required."),
        ({"email": ""}, "This field is required."),
        ({"password": "", "password_confirmation": ""}, "This field is required."),
        ({"login": "-abc"}, "starting with a letter"),
        ({"login": "ab"}, "between 3 and 254"),
        ({"login": "a" * 255}, "between 3 and 254"),
        ({"login": "OWNER-A"}, "already taken"),
        ({"email": "Owner-A@Example.com"}, "already taken"),
        ({"email": "x" * 80 + "@example.com"}, "at most 90"),
        ({"email": "not an email"}, "email address"),
        ({"password_confirmation": "something else entirely"}, "differ"),
        ({"password": "grace.hopper-1", "password_confirmation": "grace.hopper-1"}, "login, email"),
    ],
)
def test_create_refuses_bad_input_and_saves_nothing(
    portal: Portal, a: Tenant, changes: dict, field_message: str
) -> None:
    before = count(portal, User)
    for hx in (False, True):
        response = portal.client(a.admin).post(users_url(a), {**NEW, **changes}, hx=hx)
        assert response.status_code == 422
        assert field_message in response.get_data(as_text=True)
        assert ("<html" in response.get_data(as_text=True)) is not hx
    assert count(portal, User) == before


def test_create_cannot_grant_more_than_you_hold(portal: Portal, a: Tenant) -> None:
    admin_role = portal.scalar(select(Role.id).where(Role.account_id == a.id, Role.name == "account-admin"))
    response = portal.client(a.user_manager).post(users_url(a), {**NEW, "roles": [str(admin_role)]})
    assert response.status_code == 403
    assert "account:manage" in response.get_data(as_text=True)
    assert count(portal, User, User.login == "grace.hopper") == 0


def test_create_with_a_foreign_role_is_404(portal: Portal, a: Tenant, b: Tenant) -> None:
    their_role = portal.scalar(select(Role.id).where(Role.account_id == b.id, Role.name == "member"))
    response = portal.client(a.admin).post(users_url(a), {**NEW, "roles": [str(their_role)]})
    assert response.status_code in (404, 422)
    assert count(portal, User, User.login == "grace.hopper") == 0


def test_create_needs_users_write_and_csrf(portal: Portal, a: Tenant) -> None:
    assert portal.client(a.auditor).post(users_url(a), NEW).status_code == 403
    assert portal.client(a.admin).post(users_url(a), NEW, csrf=False).status_code == 400
    assert count(portal, User, User.login == "grace.hopper") == 0


# --- edit -----------------------------------------------------------------------------------------


def test_edit_saves_only_profile_fields(portal: Portal, a: Tenant, b: Tenant) -> None:
    """A7: privileged fields in the body are ignored."""
    client = portal.client(a.admin)
    user = portal.get(User, a.member.id)
    form = edit_form(
        user,
        city="Paris",
        is_owner="y",
        account_id=str(b.id),
        status="disabled",
        password_hash="x",
        role_id="1",
        mfa_enabled="y",
    )
    response = client.post(users_url(a, f"/{user.id}/edit"), form)
    assert response.status_code == 303
    after = portal.get(User, user.id)
    assert (after.city, after.is_owner, after.account_id, after.status, after.password_hash) == (
        "Paris",
        False,
        a.id,
        "active",
        user.password_hash,
    )
    assert after.version == user.version + 1
    [event] = events(portal, "user.update")
    assert event.changes == {"city": [user.city, "Paris"]}


def test_edit_conflict_is_409_and_overwrites_nothing(portal: Portal, a: Tenant) -> None:
    first, second = portal.client(a.admin), portal.client(a.owner)
    stale = portal.get(User, a.member.id)
    assert first.post(users_url(a, f"/{stale.id}/edit"), edit_form(stale, city="Paris")).status_code == 303
    response = second.post(users_url(a, f"/{stale.id}/edit"), edit_form(stale, city="Rome", phone="123"))
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Someone else changed this user" in body and "Paris" in body and "Rome" in body
    assert portal.get(User, stale.id).city == "Paris"
    # The form now carries the new version: saving again is a deliberate overwrite.
    fresh_version = portal.get(User, stale.id).version
    assert f'value="{fresh_version}"' in body
    retry = second.post(
        users_url(a, f"/{stale.id}/edit"), {**edit_form(stale, city="Rome"), "version": str(fresh_version)}
    )
    assert retry.status_code == 303 and portal.get(User, stale.id).city == "Rome"


def test_edit_refuses_taken_login_and_bad_version(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.admin)
    user = portal.get(User, a.member.id)
    assert client.post(users_url(a, f"/{user.id}/edit"), edit_form(user, login="auditor-a")).status_code == 422
    assert client.post(users_url(a, f"/{user.id}/edit"), edit_form(user, version="")).status_code == 422
    assert portal.get(User, user.id).login == "member-a"
    # Keeping one's own login and email is not a conflict with oneself.
    assert client.post(users_url(a, f"/{user.id}/edit"), edit_form(user, city="Oslo")).status_code == 303


def test_rank_rules_on_edit(portal: Portal, a: Tenant) -> None:
    """A5: only the owner acts on the owner; a user-manager cannot edit an account-admin."""
    owner = portal.get(User, a.owner.id)
    assert portal.client(a.admin).post(users_url(a, f"/{owner.id}/edit"), edit_form(owner, city="X")).status_code == 403
    admin = portal.get(User, a.admin.id)
    response = portal.client(a.user_manager).post(users_url(a, f"/{admin.id}/edit"), edit_form(admin, city="X"))
    assert response.status_code == 403
    assert portal.get(User, admin.id).city == "" and portal.get(User, owner.id).city == ""
    assert portal.client(a.owner).post(users_url(a, f"/{admin.id}/edit"), edit_form(admin, city="X")).status_code == 303


# --- password, MFA ----------------------------------------------------------------------------------


def test_set_password_signs_the_user_out_everywhere(portal: Portal, a: Tenant) -> None:
    """P6 and S3: temporary by default, never shown, every session of the user ends."""
    victim = portal.client(a.member)
    home = users_url(a, f"/{a.member.id}")
    form = {
        "password": "a brand new secret phrase",
        "password_confirmation": "a brand new secret phrase",
        "temporary": "y",
    }
    response = portal.client(a.admin).post(users_url(a, f"/{a.member.id}/password"), form)
    assert response.status_code == 303
    assert "a brand new secret phrase" not in portal.client(a.admin).get(home).get_data(as_text=True)
    user = portal.get(User, a.member.id)
    assert user.must_change_password
    assert count(portal, LoginSession, LoginSession.user_id == a.member.id) == 0
    assert victim.get("/").status_code == 302 and victim.get("/").headers["Location"] == "/login"
    portal.client(a.member, password="a brand new secret phrase")


def test_set_password_rules(portal: Portal, a: Tenant) -> None:
    form = {"password": "member-a-123456", "password_confirmation": "member-a-123456"}
    assert portal.client(a.admin).post(users_url(a, f"/{a.member.id}/password"), form).status_code == 422
    good = {"password": "a brand new secret phrase", "password_confirmation": "a brand new secret phrase"}
    assert portal.client(a.admin).post(users_url(a, f"/{a.owner.id}/password"), good).status_code == 403
    assert portal.client(a.user_manager).post(users_url(a, f"/{a.admin.id}/password"), good).status_code == 403
    assert portal.client(a.auditor).post(users_url(a, f"/{a.member.id}/password"), good).status_code == 403
    assert portal.get(User, a.member.id).password_hash == portal.get(User, a.auditor.id).password_hash


def test_reset_mfa(portal: Portal, a: Tenant) -> None:
    from portal import db

    with portal.app.app_context():
        db.session.get(User, a.member.id).mfa_enabled = True
        db.session.commit()
    victim = portal.client(a.member)
    assert portal.client(a.admin).post(users_url(a, f"/{a.member.id}/reset-mfa"), {"reason": ""}).status_code == 422
    assert portal.get(User, a.member.id).mfa_enabled
    response = portal.client(a.admin).post(users_url(a, f"/{a.member.id}/reset-mfa"), {"reason": "lost phone"})
    assert response.status_code == 303
    assert not portal.get(User, a.member.id).mfa_enabled
    assert victim.get("/").headers["Location"] == "/login"
    [event] = events(portal, "user.reset_mfa")
    assert event.changes == {"reason": "lost phone"}


def test_owner_mfa_cannot_be_reset_and_the_button_is_not_offered(portal: Portal, a: Tenant) -> None:
    for actor in (a.owner, a.admin):
        response = portal.client(actor).post(users_url(a, f"/{a.owner.id}/reset-mfa"), {"reason": "please"})
        assert response.status_code == 422
    assert "Reset MFA" not in portal.client(a.owner).get(users_url(a, f"/{a.owner.id}")).get_data(as_text=True)


# --- disable, enable, delete ------------------------------------------------------------------------


def test_disable_and_enable(portal: Portal, a: Tenant) -> None:
    victim = portal.client(a.member)
    admin = portal.client(a.admin)
    assert admin.post(users_url(a, f"/{a.member.id}/disable")).status_code == 303
    assert portal.get(User, a.member.id).status == "disabled"
    assert victim.get("/").headers["Location"] == "/login"
    assert (
        portal.client().post("/login", {"account": "tenant-a", "login": "member-a", "password": PASSWORD}).status_code
        == 401
    )
    response = admin.post(users_url(a, f"/{a.member.id}/enable"), hx=True)
    assert response.status_code == 200 and response.get_data(as_text=True).lstrip().startswith(
        '<section id="user_summary"'
    )
    assert portal.get(User, a.member.id).status == "active"
    portal.client(a.member)


def test_cannot_disable_or_delete_self_or_owner(portal: Portal, a: Tenant) -> None:
    admin = portal.client(a.admin)
    assert admin.post(users_url(a, f"/{a.admin.id}/disable")).status_code == 422
    assert admin.post(users_url(a, f"/{a.admin.id}/delete")).status_code == 422
    assert admin.post(users_url(a, f"/{a.owner.id}/disable")).status_code == 403
    assert admin.post(users_url(a, f"/{a.owner.id}/delete")).status_code == 403
    owner = portal.client(a.owner)
    assert owner.post(users_url(a, f"/{a.owner.id}/delete")).status_code == 422
    assert count(portal, User, User.account_id == a.id) == 7
    assert portal.get(User, a.owner.id).status == "active"


def test_delete_with_confirmation_takes_roles_and_groups_along(portal: Portal, a: Tenant) -> None:
    from portal import db

    with portal.app.app_context():
        group = Group(account_id=a.id, name="Ops")
        db.session.add(group)
        db.session.flush()
        db.session.add(GroupMember(group_id=group.id, user_id=a.member.id))
        db.session.commit()
    client = portal.client(a.admin)
    confirm = client.get(users_url(a, f"/{a.member.id}/delete")).get_data(as_text=True)
    assert "cannot be undone" in confirm and 'action="' + users_url(a, f"/{a.member.id}/delete") in confirm
    response = client.post(users_url(a, f"/{a.member.id}/delete"))
    assert response.status_code == 303 and response.headers["Location"] == users_url(a)
    assert portal.get(User, a.member.id) is None
    assert count(portal, RoleAssignment, RoleAssignment.user_id == a.member.id) == 0
    assert count(portal, GroupMember, GroupMember.user_id == a.member.id) == 0
    assert events(portal, "user.delete")[0].target_label == "member-a"


def test_delete_with_htmx_verb_redirects_the_page(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.admin)
    response = client.raw.delete(
        users_url(a, f"/{a.auditor.id}"), headers={"HX-Request": "true", "X-CSRFToken": client.csrf()}
    )
    assert response.status_code == 204 and response.headers["HX-Redirect"] == users_url(a)
    assert portal.get(User, a.auditor.id) is None


# --- bulk -----------------------------------------------------------------------------------------


def test_bulk_disable_reports_each_user(portal: Portal, a: Tenant) -> None:
    ids = [a.member.id, a.auditor.id, a.admin.id, a.owner.id]
    response = portal.client(a.admin).post(
        users_url(a, "/bulk"), {"action": "disable", "user_ids": [str(i) for i in ids], "confirm": "yes"}
    )
    body = " ".join(response.get_data(as_text=True).split())
    assert response.status_code == 200
    assert "2 of 4 users changed." in body
    assert "You cannot disable yourself." in body and "Only the owner can change the owner." in body
    statuses = {i: portal.get(User, i).status for i in ids}
    assert statuses == {a.member.id: "disabled", a.auditor.id: "disabled", a.admin.id: "active", a.owner.id: "active"}


def test_a_bulk_done_at_once_keeps_its_report_as_a_job_with_the_same_csv(portal: Portal, a: Tenant, b: Tenant) -> None:
    """A bulk over a few users runs in the request, and its per-user report is kept as a finished job: the
    same CSV download (and Jobs page) as a bulk job's."""
    import csv
    import io
    import re

    from portal.models import Job

    ids = [a.member.id, a.admin.id]
    client = portal.client(a.admin)
    body = client.post(
        users_url(a, "/bulk"), {"action": "disable", "user_ids": [str(i) for i in ids], "confirm": "yes"}
    ).get_data(as_text=True)
    job = portal.scalar(select(Job).where(Job.account_id == a.id))
    assert job is not None and job.kind == "bulk_users" and job.state == "done" and job.notified
    assert (job.total, job.done, job.refused, job.result) == (2, 2, 1, {"changed": 1, "refused": 1})
    assert job.title == "Disable 2 users"
    link = f"/accounts/{a.id}/jobs/{job.id}/report.csv"
    assert re.search(f'href="{link}"[^>]*download', body)
    report = client.get(link)
    assert report.status_code == 200 and report.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(report.get_data(as_text=True))))
    assert rows[0] == ["n", "who", "outcome", "reason"]
    assert sorted((r[2], r[3]) for r in rows[1:]) == [("done", "disabled"), ("refused", "You cannot disable yourself.")]
    assert all("@" in r[1] for r in rows[1:])
    assert portal.client(b.admin).get(f"/accounts/{b.id}/jobs/{job.id}/report.csv").status_code == 404


def test_bulk_with_a_foreign_id_changes_nothing(portal: Portal, a: Tenant, b: Tenant) -> None:
    form = {"action": "delete", "user_ids": [str(a.member.id), str(b.member.id)]}
    assert portal.client(a.admin).post(users_url(a, "/bulk"), form).status_code == 404
    assert portal.get(User, a.member.id) is not None and portal.get(User, b.member.id) is not None


def test_bulk_all_matching_uses_the_list_filter(portal: Portal, a: Tenant) -> None:
    form = {"action": "disable", "all_matching": "y", "q": "member", "user_ids": [], "confirm": "yes"}
    response = portal.client(a.admin).post(users_url(a, "/bulk"), form, hx=True)
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    assert portal.get(User, a.member.id).status == "disabled"
    assert portal.get(User, a.auditor.id).status == "active"


def test_bulk_grant_role_and_add_to_group_follow_the_single_rules(portal: Portal, a: Tenant) -> None:
    from portal import db

    with portal.app.app_context():
        group = Group(account_id=a.id, name="Ops")
        db.session.add(group)
        db.session.commit()
        auditor = db.session.scalar(select(Role.id).where(Role.account_id == a.id, Role.name == "auditor"))
        admin_role = db.session.scalar(select(Role.id).where(Role.account_id == a.id, Role.name == "account-admin"))
    targets = [str(a.member.id), str(a.no_role.id)]
    admin = portal.client(a.admin)
    assert (
        admin.post(
            users_url(a, "/bulk"), {"action": "grant_role", "role_id": str(auditor), "user_ids": targets}
        ).status_code
        == 200
    )
    assert count(portal, RoleAssignment, RoleAssignment.role_id == auditor) == 3
    assert (
        admin.post(
            users_url(a, "/bulk"), {"action": "add_to_group", "group_id": str(group.id), "user_ids": targets}
        ).status_code
        == 200
    )
    assert count(portal, GroupMember, GroupMember.group_id == group.id) == 2
    # A user-manager may not grant roles at all (roles:write), nor a role above them.
    manager = portal.client(a.user_manager)
    refused = manager.post(
        users_url(a, "/bulk"), {"action": "grant_role", "role_id": str(admin_role), "user_ids": targets}
    )
    assert refused.status_code == 403
    assert count(portal, RoleAssignment, RoleAssignment.role_id == admin_role) == 2  # the owner and the admin


def test_password_set_and_mfa_reset_notify_the_user(portal: Portal, a: Tenant) -> None:
    from portal import db
    from portal.models import OutboxEmail

    admin = portal.client(a.admin)
    form = {"password": "a brand new secret phrase", "password_confirmation": "a brand new secret phrase"}
    admin.post(users_url(a, f"/{a.member.id}/password"), form)
    admin.post(users_url(a, f"/{a.member.id}/reset-mfa"), {"reason": "lost phone"})
    with portal.app.app_context():
        mails = db.session.execute(select(OutboxEmail.to_address, OutboxEmail.subject, OutboxEmail.body_text)).all()
    subjects = {(to, subject) for to, subject, _ in mails}
    assert ("member-a@example.com", "An administrator set your password") in subjects
    assert ("member-a@example.com", "Your two-step sign-in was reset") in subjects
    assert all("a brand new secret phrase" not in body for _, _, body in mails)


def test_granting_roles_at_creation_takes_roles_write(portal: Portal, a: Tenant) -> None:
    """One rule for the page and the API (portal.users.services.create_user): a user-manager, who cannot grant
    roles on the user page, is not offered them on the new-user page either, and cannot post them."""
    member = portal.scalar(select(Role.id).where(Role.account_id == a.id, Role.name == "member"))
    client = portal.client(a.user_manager)
    assert 'name="roles"' not in client.get(users_url(a, "/new")).get_data(as_text=True)
    assert 'name="roles"' in portal.client(a.admin).get(users_url(a, "/new")).get_data(as_text=True)
    response = client.post(users_url(a), {**NEW, "roles": [str(member)]})
    assert response.status_code == 403 and "roles:write" in response.get_data(as_text=True)
    assert client.post(users_url(a), NEW).status_code == 303
