"""Importing users from CSV (issue 18): the dry run, its per-row reasons, the apply, the limits."""

from __future__ import annotations

import csv
import io
import os
import time

import pytest
from sqlalchemy import func, select

from portal import db
from portal.models import AuditEvent, Group, GroupMember, Invitation, Job, JobItem, OutboxEmail, RoleAssignment, User
from portal.users import imports
from tests.helpers import account_url, add_many_users, make_group, make_role, run_jobs

HEADER = "id,login,email,first_name,last_name,city,roles,groups,access_expires\n"


def _upload(client, account, data: bytes, **fields):
    return client.post(account_url(account, "/users/import"), {"file": (io.BytesIO(data), "people.csv"), **fields})


def _report(portal, job_id):
    with portal.app.app_context():
        return [
            (item.outcome, item.message)
            for item in db.session.scalars(select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.seq))
        ]


def _latest_job(portal):
    return portal.scalar(select(Job).order_by(Job.created_at.desc()).limit(1))


def _counts(portal):
    return tuple(
        portal.scalar(select(func.count()).select_from(model))
        for model in (User, Invitation, AuditEvent, OutboxEmail, RoleAssignment, GroupMember)
    )


def test_bad_rows_get_their_own_reasons(portal):
    tenant = portal.tenant()
    make_group(portal, tenant.account, "Support")
    make_role(portal, tenant.account, "billing", ("users:read", "account:manage"))
    importer = portal.user(tenant.account, "importer", roles=("user-manager",))
    make_role(portal, tenant.account, "granter", ("roles:write", "roles:read"), holders=(importer,))
    rows = [
        ",,not-an-email,Ada,,,,,",  # 2 invalid email
        ",,ada@example.com,Ada,,,nosuchrole,,",  # 3 unknown role
        ",,bob@example.com,Bob,,,,Nowhere,",  # 4 unknown group
        ",,cy@example.com,Cy,,,billing,,",  # 5 a role the importer may not grant
        f",{tenant.member.login},member2@example.com,,,,,,",  # 6 not the member's row: login of another
        f",,{tenant.admin.email},,,,,,",  # 7 an admin: outranks a user-manager
        ",,dee@example.com,Dee,,,,,not-a-date",  # 8 unreadable expiry
        ",,ed@example.com,Ed,,,,,2001-01-01",  # 9 past expiry
        "zzz,,fay@example.com,,,,,,",  # 10 not an id
        ",,gus@example.com,Gus,,,,",  # 11 a cell short
        ",,ada@example.com,Ada again,,,,,",  # 12 the same person twice
        f",,{tenant.no_role.email},,,{'x' * 300},,,",  # 13 too long for city
        ",,hal@example.com,\xff\xfe,,,,,",  # 14 not UTF-8 (written as latin-1 below)
        f",,{tenant.member.email},Member,,,,Support,",  # 15 fine: added to Support
    ]
    data = (HEADER + "\n".join(rows) + "\n").encode("utf-8").replace("\xff\xfe".encode(), b"\xff\xfe")
    client = portal.client(importer)
    before = _counts(portal)
    answer = _upload(client, tenant.account, data)
    assert answer.status_code == 303
    run_jobs(portal)
    job = _latest_job(portal)
    assert job.state == "done" and job.params["dry_run"] is True
    report = _report(portal, job.id)
    expected = [
        ("refused", "email"),
        ("refused", "Unknown role: nosuchrole."),
        ("refused", "Unknown group: Nowhere."),
        ("refused", "billing"),
        ("refused", "login"),
        ("refused", "permissions you do not have"),
        ("refused", "not a date"),
        ("refused", "has passed"),
        ("refused", "is not a user id"),
        ("refused", "Has 8 cells"),
        ("refused", "row 3 already"),
        ("refused", "city"),
        ("refused", "UTF-8"),
        ("refused", "groups:write"),
    ]
    assert len(report) == len(expected)
    for n, ((outcome, message), (want, words)) in enumerate(zip(report, expected, strict=True), start=2):
        assert outcome == want and words in message, (n, outcome, message)
    assert _counts(portal)[:2] == before[:2]  # the dry run wrote no user and no invitation
    page = client.get(account_url(tenant.account, f"/jobs/{job.id}")).get_data(as_text=True)
    assert "This was a dry run" in page and "Unknown role: nosuchrole." in page


def test_dry_run_then_apply_creates_updates_and_skips(portal):
    account, owner = portal.account()
    make_group(portal, account, "Support")
    kept = portal.user(account, "kept", city="Paris")
    changed = portal.user(account, "changed", city="Paris")
    data = (
        HEADER
        + ",,new@example.com,New,Person,Oslo,auditor,Support,2099-01-12\n"
        + f",,{kept.email},Kept,,Paris,member,,\n"
        + f"{changed.id},,{changed.email},Changed,,Rome,auditor,Support,\n"
    ).encode()
    client = portal.client(owner)
    before = _counts(portal)
    assert _upload(client, account, data).status_code == 303
    run_jobs(portal)
    dry = _latest_job(portal)
    assert [o for o, _m in _report(portal, dry.id)] == ["created", "skipped", "updated"]
    assert dry.result == {"created": 1, "updated": 1, "skipped": 1, "refused": 0}
    after_dry = _counts(portal)
    assert after_dry[:2] == before[:2] and after_dry[3:] == before[3:]  # nothing but the job's own audit event
    assert after_dry[2] == before[2] + 1
    applied = client.post(account_url(account, "/users/import"), {"dry_run_job": str(dry.id), "send_invitations": "y"})
    assert applied.status_code == 303
    run_jobs(portal)
    job = _latest_job(portal)
    assert job.id != dry.id and job.state == "done"
    assert [o for o, _m in _report(portal, job.id)] == ["created", "skipped", "updated"]
    with portal.app.app_context():
        new = db.session.scalar(select(User).where(User.email == "new@example.com"))
        assert new.status == "pending" and new.city == "Oslo" and new.first_name == "New"
        membership = db.session.scalar(select(GroupMember).where(GroupMember.user_id == new.id))
        assert membership.expires_at.year == 2099 and membership.expires_at.day == 13  # through the 12th
        assert (
            db.session.scalar(
                select(func.count()).select_from(OutboxEmail).where(OutboxEmail.to_address == "new@example.com")
            )
            == 1
        )
        moved = db.session.get(User, changed.id)
        assert moved.city == "Rome" and moved.first_name == "Changed"
        roles = db.session.scalar(
            select(func.count()).select_from(RoleAssignment).where(RoleAssignment.user_id == changed.id)
        )
        assert roles == 2  # member kept, auditor added
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(GroupMember)
                .join(Group)
                .where(GroupMember.user_id == changed.id, Group.name == "Support")
            )
            == 1
        )


def test_file_level_problems_are_a_form_error_never_a_500(portal):
    account, owner = portal.account()
    client = portal.client(owner)
    for data, words in (
        (b"", "empty"),
        (b"name,city\nx,y\n", "email among them"),
        (b"email,email\n", "twice"),
        (b"email\n", "no rows"),
    ):
        answer = _upload(client, account, data)
        assert answer.status_code == 422 and words in answer.get_data(as_text=True), words
    assert client.post(account_url(account, "/users/import"), {}).status_code == 422
    assert client.post(account_url(account, "/users/import"), {"dry_run_job": "nope"}).status_code == 404
    assert portal.scalar(select(func.count()).select_from(Job)) == 0
    big = b"email\n" + b"x" * (imports.MAX_BYTES + 1)
    assert _upload(client, account, big).status_code == 422
    template = client.get(account_url(account, "/users/import/template.csv"))
    assert template.status_code == 200 and next(csv.reader(io.StringIO(template.get_data(as_text=True))))[2] == "email"
    assert client.get(account_url(account, "/users/import")).status_code == 200
    assert (
        portal.client(portal.user(account, "aud", roles=("auditor",)))
        .get(account_url(account, "/users/import"))
        .status_code
        == 403
    )


@pytest.mark.skipif(not os.environ.get("PORTAL_IMPORT_100K"), reason="by hand: PORTAL_IMPORT_100K=1 (minutes)")
def test_a_100k_row_file_dry_run_and_apply(portal):
    """100,000 rows: half update existing users, half invite new ones (without emails). Timed by hand
    (PORTAL_IMPORT_ROWS sets another size)."""
    rows = int(os.environ.get("PORTAL_IMPORT_ROWS", "100000"))
    half = rows // 2
    account, owner = portal.account()
    add_many_users(portal, account, half)
    lines = ["email,first_name,city"]
    lines += [f"many{i:06d}@example.com,Many,City{i}" for i in range(half)]
    lines += [f"new{i:06d}@example.com,New,Town{i}" for i in range(half)]
    data = ("\n".join(lines) + "\n").encode()
    client = portal.client(owner)
    before = _counts(portal)
    started, cpu = time.monotonic(), time.process_time()
    assert _upload(client, account, data).status_code == 303
    run_jobs(portal, batch=500)
    dry_seconds, dry_cpu = time.monotonic() - started, time.process_time() - cpu
    dry = _latest_job(portal)
    assert dry.result == {"created": half, "updated": half, "skipped": 0, "refused": 0}
    assert _counts(portal)[:2] == before[:2]
    started, cpu = time.monotonic(), time.process_time()
    assert client.post(account_url(account, "/users/import"), {"dry_run_job": str(dry.id)}).status_code == 303
    run_jobs(portal, batch=500)
    apply_seconds, apply_cpu = time.monotonic() - started, time.process_time() - cpu
    job = _latest_job(portal)
    assert job.result == {"created": half, "updated": half, "skipped": 0, "refused": 0}
    assert portal.scalar(select(func.count()).select_from(User)) == 2 * half + 1
    print(
        f"\n{2 * half:,} rows: dry run {dry_seconds:.1f} s ({dry_cpu:.1f} s CPU), apply {apply_seconds:.1f} s "
        f"({apply_cpu:.1f} s CPU)"
    )


def test_access_expires_bounds_the_roles_of_created_and_updated_people(portal):
    """`access_expires` ends every role grant and membership the row makes: an updated user's at once, an
    invited person's role from the moment they accept (the invitation keeps the end); bad dates refuse the row."""
    from tests.helpers import invitation_token

    account, owner = portal.account()
    make_group(portal, account, "Support")
    kept = portal.user(account, "kept")
    data = (
        HEADER
        + ",,new@example.com,New,Person,Oslo,auditor,Support,2099-01-12\n"
        + f",,{kept.email},,,,auditor,,2099-02-01T10:00:00Z\n"
        + ",,bad@example.com,Bad,,,auditor,,12 Jan\n"
    ).encode()
    client = portal.client(owner)
    assert _upload(client, account, data).status_code == 303
    run_jobs(portal)
    dry = _latest_job(portal)
    report = _report(portal, dry.id)
    assert [o for o, _m in report] == ["created", "updated", "refused"] and "not a date" in report[2][1]
    assert (
        client.post(
            account_url(account, "/users/import"), {"dry_run_job": str(dry.id), "send_invitations": "y"}
        ).status_code
        == 303
    )
    run_jobs(portal)
    with portal.app.app_context():
        grant = db.session.scalar(
            select(RoleAssignment).where(RoleAssignment.user_id == kept.id, RoleAssignment.expires_at.is_not(None))
        )
        assert (grant.expires_at.month, grant.expires_at.day, grant.expires_at.hour) == (2, 1, 10)
        new = db.session.scalar(select(User).where(User.email == "new@example.com"))
        assert db.session.scalar(select(RoleAssignment).where(RoleAssignment.user_id == new.id)) is None
    listed = client.get(account_url(account, "/users?q=new")).get_data(as_text=True)
    assert "auditor (invited) (until 12 Jan 2099)" in listed
    token = invitation_token(portal, "new@example.com")
    accepted = portal.client().post(
        f"/invitations/accept/{token}",
        {
            "login": "newbie",
            "first_name": "New",
            "last_name": "Person",
            "password": "violet harbor lantern 42",
            "password_confirmation": "violet harbor lantern 42",
        },
    )
    assert accepted.status_code == 303, accepted.get_data(as_text=True)
    with portal.app.app_context():
        grant = db.session.scalar(select(RoleAssignment).where(RoleAssignment.user_id == new.id))
        assert grant is not None and (grant.expires_at.year, grant.expires_at.month, grant.expires_at.day) == (
            2099,
            1,
            13,
        )


def test_the_apply_checks_again_only_what_changed_since_the_dry_run(portal, monkeypatch):
    """The apply of a dry run does not run the forms again for rows whose values (a matched user's own included)
    the dry run saw pass: it asks only the uniqueness checks, which read the database. Every row's outcome and
    message are what checking everything again gives: a login taken since is refused, a user changed since is
    checked in full."""
    account, owner = portal.account()
    kept = portal.user(account, "kept")
    changed = portal.user(account, "changed")
    renamed = portal.user(account, "renamed")
    data = (
        "email,login,city\n"
        f"{kept.email},,Oslo\n"
        f"{changed.email},,Bergen\n"
        "new.one@example.com,newone,Tromsø\n"
        "new.two@example.com,grabbed,Bodø\n"
        "new.three@example.com,,Molde\n"
        f"{renamed.email},wanted,Hamar\n"
    ).encode()
    client = portal.client(owner)
    assert _upload(client, account, data).status_code == 303
    run_jobs(portal)
    dry = _latest_job(portal)
    assert dry.result == {"created": 3, "updated": 3, "skipped": 0, "refused": 0}
    with portal.app.app_context():  # since the dry run: someone took a login, someone edited a user
        db.session.get(User, changed.id).last_name = "Edited"
        db.session.commit()
    portal.user(account, "grabbed")
    portal.user(account, "wanted")
    assert client.post(account_url(account, "/users/import"), {"dry_run_job": str(dry.id)}).status_code == 303
    filled: list[str] = []
    fill = imports.Context.form
    monkeypatch.setattr(
        imports.Context, "form", lambda ctx, cls, *a, **k: filled.append(cls.__name__) or fill(ctx, cls, *a, **k)
    )
    run_jobs(portal)
    job = _latest_job(portal)
    assert _report(portal, job.id) == [
        ("updated", "changes city"),
        ("updated", "changes city"),
        ("created", "invited (the invitation is not sent until you resend it)"),
        ("refused", "login: This login is already taken in this account."),
        ("created", "invited (the invitation is not sent until you resend it)"),
        ("refused", "login: This login is already taken in this account."),
    ]
    assert filled == ["UserProfileForm"]  # the changed user's row only (before: every row's form again)
    with portal.app.app_context():
        assert db.session.get(User, kept.id).city == "Oslo"
        assert (db.session.get(User, changed.id).city, db.session.get(User, changed.id).last_name) == (
            "Bergen",
            "Edited",
        )
        created = db.session.scalar(select(User).where(User.email == "new.one@example.com"))
        assert (created.login, created.city, created.status) == ("newone", "Tromsø", "pending")
        assert db.session.scalar(select(User).where(User.email == "new.two@example.com")) is None
