"""The admin side of invitations: list, invite, per-address report, edit, resend, revoke, retry,
daily limit, permissions and tenant isolation (issue 5; SECURITY I4, I5, A3, A4, L3, R2)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal import db
from portal.invitations import clock
from portal.models import (
    AuditEvent,
    GroupMember,
    Invitation,
    InvitationGroup,
    InvitationRole,
    OutboxEmail,
    RoleAssignment,
    User,
)
from tests.helpers import Client, Portal, Tenant, count, emails_to, invitation_token, make_group, role_named


def url(a: Tenant, suffix: str = "") -> str:
    return f"/accounts/{a.id}/invitations{suffix}"


_REVIEWED = re.compile(r'name="reviewed" type="hidden" value="([0-9a-f]+)"')


def invite(
    client: Client,
    a: Tenant,
    emails: str,
    roles: tuple[Any, ...] = (),
    groups: tuple[Any, ...] = (),
    review: bool = True,
    **kwargs: Any,
) -> Any:
    """Post the invite form; several addresses are reviewed first, then sent as reviewed (review=False: the
    first answer, the review itself)."""
    data = {"emails": emails, "roles": [str(r.id) for r in roles], "groups": [str(g.id) for g in groups]}
    response = client.post(url(a), data, **kwargs)
    reviewed = _REVIEWED.search(response.get_data(as_text=True)) if review and response.status_code == 200 else None
    if reviewed:
        response = client.post(url(a), {**data, "reviewed": reviewed.group(1)}, **kwargs)
    return response


def invitation_of(portal: Portal, email: str) -> Invitation:
    return portal.scalar(select(Invitation).where(Invitation.email == email).order_by(Invitation.created_at.desc()))


def snapshot(portal: Portal) -> tuple[int, ...]:
    """Row counts of everything inviting touches."""
    return tuple(
        count(portal, model)
        for model in (User, Invitation, InvitationRole, InvitationGroup, GroupMember, OutboxEmail, RoleAssignment)
    )


# --- inviting -------------------------------------------------------------------------------------------------


def test_invite_one_creates_pending_user_invitation_memberships_and_email(portal: Portal, a: Tenant) -> None:
    engineering = make_group(portal, a.account, "Engineering")
    user_manager_role = role_named(portal, a.account, "user-manager")
    client = portal.client(a.admin)
    response = invite(client, a, "Jane.Doe@Example.com", roles=(user_manager_role,), groups=(engineering,))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(url(a))
    assert "Invited 1 person: jane.doe@example.com." in client.get(url(a)).get_data(as_text=True)

    invitation = invitation_of(portal, "jane.doe@example.com")
    user = portal.get(User, invitation.user_id)
    assert user.status == "pending" and user.password_hash is None and user.email == "jane.doe@example.com"
    assert re.fullmatch(r"jane\.doe-[0-9a-f]{6}", user.login)
    assert invitation.status == "pending" and invitation.sent_count == 1 and invitation.invited_by_id == a.admin.id
    assert re.fullmatch(r"[0-9a-f]{64}", invitation.token_hash)
    assert abs(invitation.expires_at - (clock.now() + timedelta(days=7))) < timedelta(minutes=1)
    # Roles wait on the invitation; the group membership exists now (pending while the user is).
    assert count(portal, InvitationRole, InvitationRole.invitation_id == invitation.id) == 1
    assert count(portal, RoleAssignment, RoleAssignment.user_id == user.id) == 0
    assert count(portal, GroupMember, GroupMember.user_id == user.id, GroupMember.group_id == engineering.id) == 1
    # The email: queued in the same transaction, linked to the invitation, link from PORTAL_BASE_URL (R2).
    [email] = emails_to(portal, "jane.doe@example.com")
    assert email.status == "queued" and email.id == invitation.email_id and email.account_id == a.id
    assert "http://portal.example.com/invitations/accept/" in email.body_text
    assert "http://portal.example.com/invitations/accept/" in email.body_html
    assert "Admin-A" in email.subject and "Tenant A" in email.subject
    token = invitation_token(portal, "jane.doe@example.com")
    assert len(token) >= 43 and token not in invitation.token_hash  # 32 random bytes; only a digest is stored
    # Audited, without the token.
    event = portal.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.create"))
    assert event.actor_id == a.admin.id and event.target_id == str(invitation.id)
    assert event.changes["email"] == "jane.doe@example.com" and event.changes["roles"] == ["user-manager"]
    assert token not in str(event.changes)


def test_an_address_too_long_is_refused_with_the_words_of_every_email_field(portal: Portal, a: Tenant) -> None:
    """One email check (portal.field_rules.email_problem): the invite box says what the user and API forms say."""
    from portal.field_rules import EMAIL_MAX, email_problem

    client = portal.client(a.admin)
    long_address = "a" * (EMAIL_MAX - len("@example.com") + 1) + "@example.com"
    before = count(portal, User)
    response = invite(client, a, f"ok@example.com, {long_address}")
    html = response.get_data(as_text=True)
    assert f"{long_address}: Not a valid address: {email_problem(long_address)}" in html
    assert email_problem(long_address) == f"Use at most {EMAIL_MAX} characters."
    assert count(portal, User) == before + 1  # only ok@example.com


def test_invite_many_reports_each_refused_address_and_invites_the_rest(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.admin)
    assert invite(client, a, "pending@example.com").status_code == 303
    pending = invitation_of(portal, "pending@example.com")
    before = count(portal, User)
    text = (
        "new1@example.com, not-an-address\nmember-a@example.com;pending@example.com\n\n"
        "new2@example.com NEW1@example.com"
    )
    response = invite(client, a, text)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "2 invited, 3 not invited." in html
    assert "new1@example.com: invited." in html and "new2@example.com: invited." in html
    assert "not-an-address: Not a valid address" in html
    assert "member-a@example.com: Already a user of this account." in html
    assert "pending@example.com: Already invited." in html
    assert f'action="{url(a, f"/{pending.id}/resend")}"' in html  # the way out: resend
    # The refused addresses are left in the box; the invited ones are gone from it.
    box = re.search(r"<textarea[^>]*>(.*?)</textarea>", html, re.S).group(1)
    assert box.split() == ["not-an-address", "member-a@example.com", "pending@example.com"]
    assert count(portal, User) == before + 2
    assert count(portal, Invitation, Invitation.email == "pending@example.com") == 1  # nothing new for it
    assert len(emails_to(portal, "pending@example.com")) == 1


def test_all_refused_is_422_and_changes_nothing(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.admin)
    before = snapshot(portal)
    response = invite(client, a, "owner-a@example.com, @bad", hx=True)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="invite_form"' in html and "0 invited, 2 not invited." in html
    assert snapshot(portal) == before


@pytest.mark.parametrize(
    "emails, message",
    [
        ("", "Enter at least one email address."),
        (" , ,\n", "Enter at least one email address."),
        (",".join(f"p{i}@example.com" for i in range(101)), "Invite at most 100 addresses at once (you entered 101)."),
    ],
)
def test_invalid_form_is_422_with_the_error_at_the_field(portal: Portal, a: Tenant, emails: str, message: str) -> None:
    client = portal.client(a.admin)
    before = snapshot(portal)
    for hx in (False, True):
        response = invite(client, a, emails, hx=hx)
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
        assert ("<html" in response.get_data(as_text=True)) is not hx
    assert snapshot(portal) == before


def test_one_hundred_addresses_at_once(portal: Portal, a: Tenant) -> None:
    response = invite(portal.client(a.admin), a, "\n".join(f"p{i}@example.com" for i in range(100)))
    assert response.status_code == 303
    assert count(portal, Invitation) == 100 and count(portal, OutboxEmail) == 100


def test_the_form_offers_only_roles_the_inviter_may_grant(portal: Portal, a: Tenant) -> None:
    make_group(portal, a.account, "Support")
    html = portal.client(a.user_manager).get(url(a, "/new")).get_data(as_text=True)
    checkbox = (
        r'<input (?:aria-describedby="[^"]+" )?id="roles-\d+" name="roles" type="checkbox" value="[^"]+">'
        r"\s*(\S+)</label>"
    )
    offered = set(re.findall(checkbox, html))
    assert offered == {"member", "user-manager"}
    assert "Support" in html
    admin_html = portal.client(a.admin).get(url(a, "/new")).get_data(as_text=True)
    assert "account-admin" in admin_html


def test_inviting_with_a_role_one_may_not_grant_is_403_and_changes_nothing(portal: Portal, a: Tenant) -> None:
    """A4: no escalation by inviting."""
    before = snapshot(portal)
    admin_role = role_named(portal, a.account, "account-admin")
    response = invite(portal.client(a.user_manager), a, "x@example.com", roles=(admin_role,))
    assert response.status_code == 403
    assert "account:manage" in response.get_data(as_text=True)
    assert snapshot(portal) == before


def test_foreign_role_and_group_ids_are_404(portal: Portal, a: Tenant) -> None:
    """A3: ids in form bodies are scoped to the account."""
    other = portal.tenant("B")
    their_role = role_named(portal, other.account, "member")
    their_group = make_group(portal, other.account, "Theirs")
    client = portal.client(a.admin)
    before = snapshot(portal)
    assert invite(client, a, "x@example.com", roles=(their_role,)).status_code == 404
    assert invite(client, a, "x@example.com", groups=(their_group,)).status_code == 404
    assert client.post(url(a), {"emails": "x@example.com", "roles": "not-a-uuid"}).status_code == 422
    assert snapshot(portal) == before


def test_an_address_of_another_account_is_invited_like_any_other(portal: Portal, a: Tenant) -> None:
    """L3: nothing tells an admin that an address exists in another account."""
    other = portal.tenant("B")
    client = portal.client(a.admin)
    known = invite(client, a, other.member.email)
    unknown = invite(client, a, "nobody-anywhere@example.com")
    assert known.status_code == unknown.status_code == 303
    assert count(portal, User, User.account_id == a.id, User.email == other.member.email) == 1
    assert portal.get(User, other.member.id).status == "active"


def test_a_failure_while_inviting_leaves_nothing_behind(
    portal: Portal, a: Tenant, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """I5: the user, invitation, memberships and email are one transaction."""
    from portal.mail import outbox

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("mail templates are broken")

    group = make_group(portal, a.account, "Ops")
    before = snapshot(portal)
    monkeypatch.setattr(outbox, "enqueue", broken)
    response = invite(portal.client(a.admin), a, "a@example.com\nb@example.com", groups=(group,))
    assert response.status_code == 500
    assert "mail templates" not in response.get_data(as_text=True)
    assert snapshot(portal) == before


def test_links_never_come_from_the_host_header(portal: Portal, a: Tenant) -> None:
    """R2."""
    client = portal.client(a.admin)
    token = client.csrf()
    cookie = client.raw.get_cookie("portal")
    client.raw.set_cookie("portal", cookie.value, domain="evil.test")  # the session, sent to the spoofed host
    response = client.raw.post(
        url(a),
        data={"emails": "h@example.com", "csrf_token": token},
        headers={"Host": "evil.test", "X-Forwarded-Host": "evil.test"},
    )
    assert response.status_code == 303
    [email] = emails_to(portal, "h@example.com")
    assert "evil.test" not in email.body_text + email.body_html
    assert "http://portal.example.com/invitations/accept/" in email.body_text


# --- the list -------------------------------------------------------------------------------------------------


def _invite_several(portal: Portal, a: Tenant, n: int, prefix: str = "p") -> list[Invitation]:
    client = portal.client(a.admin)
    for i in range(n):
        assert invite(client, a, f"{prefix}{i}@example.com").status_code == 303
    with portal.app.app_context():
        return list(db.session.scalars(select(Invitation).order_by(Invitation.created_at)))


def _set(portal: Portal, invitation_id: uuid.UUID, **values: Any) -> None:
    from sqlalchemy import update

    with portal.app.app_context():
        db.session.execute(update(Invitation).where(Invitation.id == invitation_id).values(**values))
        db.session.commit()


def _emails_listed(html: str) -> list[str]:
    return re.findall(r'<tr id="invitation-[^"]+">\s*<td>([^<]+)</td>', html)


def test_list_shows_each_invitation_and_filters_by_status(portal: Portal, a: Tenant) -> None:
    group = make_group(portal, a.account, "Design")
    member_role = role_named(portal, a.account, "member")
    client = portal.client(a.admin)
    invite(client, a, "a@example.com", roles=(member_role,), groups=(group,))
    invite(client, a, "b@example.com")
    invite(client, a, "c@example.com")
    invite(client, a, "d@example.com")
    b, c, d = (invitation_of(portal, f"{x}@example.com") for x in "bcd")
    _set(portal, b.id, expires_at=clock.now() - timedelta(seconds=1))
    _set(portal, c.id, status="accepted", accepted_at=clock.now())
    client.post(url(a, f"/{d.id}/revoke"))

    html = client.get(url(a)).get_data(as_text=True)
    assert _emails_listed(html) == ["d@example.com", "c@example.com", "b@example.com", "a@example.com"]
    row_a = html[html.index("a@example.com") :]
    row_a = row_a[: row_a.index("</tr>")]
    for text in ("pending", "member", "Design", "Admin-A", '"sent-count">1×<', "queued"):
        assert text in row_a, text
    assert "4 invitations" in html
    for status, expected in [
        ("pending", ["a@example.com"]),
        ("expired", ["b@example.com"]),
        ("accepted", ["c@example.com"]),
        ("revoked", ["d@example.com"]),
    ]:
        page = client.get(url(a, f"?status={status}")).get_data(as_text=True)
        assert _emails_listed(page) == expected, status
        assert '<span class="status' in page
    assert len(_emails_listed(client.get(url(a, "?status=bogus")).get_data(as_text=True))) == 4


def test_list_pages_with_from_and_take_and_answers_htmx_with_the_block(portal: Portal, a: Tenant) -> None:
    _invite_several(portal, a, 5)
    client = portal.client(a.admin)
    first = client.get(url(a, "?take=2")).get_data(as_text=True)
    assert _emails_listed(first) == ["p4@example.com", "p3@example.com"]
    assert "Page 1 of 3" in first and "5 invitations" in first
    assert f'href="{url(a, "?from=2&amp;take=2")}"' in first
    second = client.get(url(a, "?from=2&take=2"), hx=True)
    html = second.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<section id="invitations">')
    assert _emails_listed(html) == ["p2@example.com", "p1@example.com"]
    assert "Page 2 of 3" in html
    assert _emails_listed(client.get(url(a, "?from=4&take=2")).get_data(as_text=True)) == ["p0@example.com"]
    assert len(_emails_listed(client.get(url(a, "?take=1000")).get_data(as_text=True))) == 5  # at most 100


def test_list_runs_the_same_statements_for_2_or_30_invitations(portal: Portal, a: Tenant) -> None:
    """No N+1: roles, groups, inviter and delivery state are loaded per page, not per row."""
    role = role_named(portal, a.account, "member")
    group = make_group(portal, a.account, "G")
    client = portal.client(a.admin)
    invite(client, a, "\n".join(f"s{i}@example.com" for i in range(2)), roles=(role,), groups=(group,))
    client.get(url(a))
    with portal.count_statements() as small:
        client.get(url(a, "?take=100"))
    invite(client, a, "\n".join(f"t{i}@example.com" for i in range(28)), roles=(role,), groups=(group,))
    with portal.count_statements() as large:
        html = client.get(url(a, "?take=100")).get_data(as_text=True)
    assert len(_emails_listed(html)) == 30
    assert large.count == small.count


def test_nav_shows_invitations_to_those_who_may_read_them(portal: Portal, a: Tenant) -> None:
    link = f'href="{url(a)}">Invitations</a>'
    assert link in portal.client(a.user_manager).get(url(a)).get_data(as_text=True)
    assert link in portal.client(a.auditor).get(url(a)).get_data(as_text=True)
    member_page = portal.client(a.member).get(f"/accounts/{a.id}/invitations").get_data(as_text=True)
    assert link not in member_page


# --- permissions and tenants ----------------------------------------------------------------------------------


def test_permissions(portal: Portal, a: Tenant) -> None:
    """A2: read for auditors and user managers; write for user managers and admins; nothing for others."""
    [invitation] = _invite_several(portal, a, 1)
    reads = {
        "owner": 200,
        "admin": 200,
        "user_manager": 200,
        "auditor": 200,
        "group_manager": 403,
        "member": 403,
        "no_role": 403,
    }
    for name, status in reads.items():
        user = a.owner if name == "owner" else getattr(a, name)
        client = portal.client(user)
        for hx in (False, True):
            assert client.get(url(a), hx=hx).status_code == status, (name, hx)
        may_write = name in {"owner", "admin", "user_manager"}
        assert client.get(url(a, "/new")).status_code == (200 if may_write else 403), name
        if not may_write:
            before = snapshot(portal)
            assert invite(client, a, "nope@example.com").status_code == 403
            for action in ("resend", "revoke", "retry", "edit"):
                assert client.post(url(a, f"/{invitation.id}/{action}"), {"version": 1}).status_code == 403
            assert snapshot(portal) == before


def test_foreign_and_unknown_invitation_ids_are_the_same_404(portal: Portal, a: Tenant) -> None:
    """A3 and L3: another account's invitation does not exist, for every action."""
    other = portal.tenant("B")
    their_client = portal.client(other.admin)
    assert invite(their_client, other, "theirs@example.com").status_code == 303
    theirs = invitation_of(portal, "theirs@example.com")
    client = portal.client(a.admin)
    before = snapshot(portal)
    for action in ("resend", "revoke", "retry", "edit"):
        foreign = client.post(url(a, f"/{theirs.id}/{action}"), {"version": 1})
        missing = client.post(url(a, f"/{uuid.uuid4()}/{action}"), {"version": 1})
        assert foreign.status_code == missing.status_code == 404
        assert foreign.get_data() == missing.get_data() or _normalise(foreign) == _normalise(missing)
    assert client.get(url(a, f"/{theirs.id}/edit")).status_code == 404
    assert snapshot(portal) == before
    assert portal.get(Invitation, theirs.id).status == "pending"


def _normalise(response: Any) -> str:
    html = response.get_data(as_text=True)
    # Tokens differ by design, and a CSRF token's timestamp changes with the second: blank them all.
    return re.sub(r'(csrf-token" content|nonce|name="csrf_token" value)="[^"]+"', "", html)


def test_posts_without_csrf_are_400(portal: Portal, a: Tenant) -> None:
    [invitation] = _invite_several(portal, a, 1)
    client = portal.client(a.admin)
    before = snapshot(portal)
    assert client.post(url(a), {"emails": "x@example.com"}, csrf=False).status_code == 400
    for action in ("resend", "revoke", "retry", "edit"):
        assert client.post(url(a, f"/{invitation.id}/{action}"), {"version": 1}, csrf=False).status_code == 400
    assert snapshot(portal) == before


# --- resend, revoke, edit, retry ------------------------------------------------------------------------------


def test_resend_rotates_the_token_resets_the_expiry_and_counts(
    portal: Portal, a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """I4: the old link dies."""
    [invitation] = _invite_several(portal, a, 1)
    old_token = invitation_token(portal, "p0@example.com")
    _set(portal, invitation.id, expires_at=clock.now() - timedelta(days=1))  # expired: resend revives it
    client = portal.client(a.user_manager)
    response = client.post(url(a, f"/{invitation.id}/resend"))
    assert response.status_code == 303
    assert "Sent again to p0@example.com; the old link no longer works." in client.get(url(a)).get_data(as_text=True)
    after = portal.get(Invitation, invitation.id)
    assert after.sent_count == 2 and after.token_hash != invitation.token_hash
    assert after.expires_at > clock.now() + timedelta(days=6, hours=23)
    assert after.invited_by_id == a.admin.id  # the inviter stays the one who chose the roles
    emails = emails_to(portal, "p0@example.com")
    assert len(emails) == 2 and after.email_id == emails[-1].id
    new_token = invitation_token(portal, "p0@example.com")
    assert new_token != old_token
    anonymous = portal.client()
    assert anonymous.get(f"/invitations/accept/{old_token}").status_code == 410
    assert anonymous.get(f"/invitations/accept/{new_token}").status_code == 200
    event = portal.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.resend"))
    assert event.actor_id == a.user_manager.id and event.changes["sent_count"] == 2


def test_resend_with_htmx_answers_the_updated_row(portal: Portal, a: Tenant) -> None:
    [invitation] = _invite_several(portal, a, 1)
    response = portal.client(a.admin).post(url(a, f"/{invitation.id}/resend"), hx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith(f'<tr id="invitation-{invitation.id}">') and "<html" not in html
    assert '<span class="sent-count">2×</span>' in html


def test_revoke_kills_the_link_and_removes_the_pending_user(portal: Portal, a: Tenant) -> None:
    group = make_group(portal, a.account, "Ops")
    client = portal.client(a.admin)
    invite(client, a, "r@example.com", groups=(group,))
    invitation = invitation_of(portal, "r@example.com")
    token = invitation_token(portal, "r@example.com")
    response = client.post(url(a, f"/{invitation.id}/revoke"), hx=True)
    assert response.status_code == 200 and "revoked" in response.get_data(as_text=True)
    after = portal.get(Invitation, invitation.id)
    assert after.status == "revoked" and after.user_id is None
    assert portal.get(User, invitation.user_id) is None
    assert count(portal, GroupMember, GroupMember.user_id == invitation.user_id) == 0
    assert portal.client().get(f"/invitations/accept/{token}").status_code == 410
    assert client.post(url(a, f"/{invitation.id}/revoke")).status_code == 409
    assert client.post(url(a, f"/{invitation.id}/resend")).status_code == 409
    # Revoked: the address may be invited afresh.
    assert invite(client, a, "r@example.com").status_code == 303
    event = portal.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.revoke"))
    assert event.changes == {"email": "r@example.com", "pending_user_removed": True}


def test_edit_replaces_roles_and_groups_before_acceptance(portal: Portal, a: Tenant) -> None:
    old_group, new_group = make_group(portal, a.account, "Old"), make_group(portal, a.account, "New")
    member = role_named(portal, a.account, "member")
    user_manager = role_named(portal, a.account, "user-manager")
    client = portal.client(a.admin)
    invite(client, a, "e@example.com", roles=(member,), groups=(old_group,))
    invitation = invitation_of(portal, "e@example.com")
    page = client.get(url(a, f"/{invitation.id}/edit")).get_data(as_text=True)
    assert re.search(rf'value="{member.id}" checked', page) or re.search(rf'checked[^>]*value="{member.id}"', page)
    assert f'name="version" type="hidden" value="{invitation.version}"' in page
    response = client.post(
        url(a, f"/{invitation.id}/edit"),
        {"roles": [str(user_manager.id)], "groups": [str(new_group.id)], "version": invitation.version},
    )
    assert response.status_code == 303
    with portal.app.app_context():
        assert list(db.session.scalars(select(InvitationRole.role_id))) == [user_manager.id]
        assert list(db.session.scalars(select(InvitationGroup.group_id))) == [new_group.id]
        assert list(
            db.session.scalars(select(GroupMember.group_id).where(GroupMember.user_id == invitation.user_id))
        ) == [new_group.id]
    # The version moved on: a form opened before the save is refused.
    stale = client.post(url(a, f"/{invitation.id}/edit"), {"roles": [str(member.id)], "version": invitation.version})
    assert stale.status_code == 409
    assert portal.scalar(select(InvitationRole.role_id)) == user_manager.id
    event = portal.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.update"))
    assert event.changes["roles"] == {"from": ["member"], "to": ["user-manager"]}


def test_edit_refusals(portal: Portal, a: Tenant) -> None:
    admin_role = role_named(portal, a.account, "account-admin")
    member = role_named(portal, a.account, "member")
    client = portal.client(a.admin)
    invite(client, a, "f@example.com", roles=(admin_role,))
    invitation = invitation_of(portal, "f@example.com")
    # Missing version: the form again, 422, nothing changed.
    response = client.post(url(a, f"/{invitation.id}/edit"), {"roles": [str(member.id)]}, hx=True)
    assert response.status_code == 422 and 'id="edit_form"' in response.get_data(as_text=True)
    # A user manager cannot touch an invitation that grants account-admin, nor grant it (A4).
    manager = portal.client(a.user_manager)
    page = manager.get(url(a, f"/{invitation.id}/edit")).get_data(as_text=True)
    assert "This invitation grants account-admin, which you cannot grant yourself" in page
    assert 'name="version"' not in page
    response = manager.post(url(a, f"/{invitation.id}/edit"), {"roles": [str(member.id)], "version": 1})
    assert response.status_code == 403
    assert portal.scalar(select(InvitationRole.role_id)) == admin_role.id
    # Accepted or revoked: 409.
    client.post(url(a, f"/{invitation.id}/revoke"))
    response = client.post(
        url(a, f"/{invitation.id}/edit"),
        {"roles": [str(member.id)], "version": portal.get(Invitation, invitation.id).version},
    )
    assert response.status_code == 409


def test_delivery_state_is_shown_and_a_failed_email_can_be_retried(portal: Portal, a: Tenant) -> None:
    [invitation] = _invite_several(portal, a, 1)
    client = portal.client(a.admin)
    assert client.post(url(a, f"/{invitation.id}/retry")).status_code == 409  # queued: nothing to retry
    from sqlalchemy import update

    with portal.app.app_context():
        db.session.execute(
            update(OutboxEmail).values(status="failed", attempts=6, last_error="550 5.1.1 Mailbox does not exist")
        )
        db.session.commit()
    html = client.get(url(a)).get_data(as_text=True)
    assert "Failed: 550 5.1.1 Mailbox does not exist" in html and "Retry delivery" in html
    response = client.post(url(a, f"/{invitation.id}/retry"), hx=True)
    assert response.status_code == 200
    assert "queued" in response.get_data(as_text=True) and "Retry delivery" not in response.get_data(as_text=True)
    email = portal.get(OutboxEmail, invitation.email_id)
    assert email.status == "queued" and email.attempts == 0
    assert portal.scalar(select(AuditEvent.action).where(AuditEvent.action == "email.retry")) == "email.retry"


def test_the_daily_limit_stops_a_runaway_script(
    portal: Portal, a: Tenant, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "INVITATIONS_PER_DAY", 3)
    client = portal.client(a.admin)
    assert invite(client, a, "l1@example.com").status_code == 303
    response = invite(client, a, "l2@example.com, l3@example.com, l4@example.com")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "l4@example.com: The account&#39;s limit of 3 invitations a day is reached." in html
    assert count(portal, Invitation) == 3
    before = snapshot(portal)
    assert invite(client, a, "l5@example.com").status_code == 429
    l1 = invitation_of(portal, "l1@example.com")
    assert client.post(url(a, f"/{l1.id}/resend")).status_code == 429
    assert snapshot(portal) == before
    # Another account has its own limit.
    other = portal.tenant("B")
    assert invite(portal.client(other.admin), other, "b1@example.com").status_code == 303


# --- issue 17: asking first, feedback in place, search by email ------------------------------------------------


def test_revoke_asks_first_without_javascript(portal: Portal, a: Tenant) -> None:
    [invitation] = _invite_several(portal, a, 1)
    client = portal.client(a.user_manager)
    revoke_url = url(a, f"/{invitation.id}/revoke")
    listed = client.get(url(a)).get_data(as_text=True)
    assert re.search(rf'<form method="get" action="{revoke_url}"[^>]*hx-post="{revoke_url}"', listed)
    page = client.get(revoke_url)
    body = " ".join(page.get_data(as_text=True).split())
    assert page.status_code == 200 and "Revoke the invitation to p0@example.com?" in body
    assert f'<form method="post" action="{revoke_url}">' in body
    assert portal.get(Invitation, invitation.id).status == "pending"
    assert portal.client(a.member).get(revoke_url).status_code == 403
    other = portal.tenant("B")
    assert portal.client(other.admin).get(f"/accounts/{other.id}/invitations/{invitation.id}/revoke").status_code == 404


def test_resend_and_revoke_in_place_say_what_happened(portal: Portal, a: Tenant) -> None:
    [invitation] = _invite_several(portal, a, 1)
    client = portal.client(a.admin)
    resent = client.post(url(a, f"/{invitation.id}/resend"), hx=True).get_data(as_text=True)
    assert resent.lstrip().startswith(f'<tr id="invitation-{invitation.id}">')
    assert '<small class="note">Sent again to p0@example.com; the old link no longer works.</small>' in resent
    assert '<div id="messages" hx-swap-oob="innerHTML">' in resent and "2×" in resent
    revoked = client.post(url(a, f"/{invitation.id}/revoke"), hx=True).get_data(as_text=True)
    assert 'data-focus tabindex="-1">Revoked the invitation to p0@example.com.</small>' in revoked


def test_invitations_are_searchable_by_email(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.admin)
    for address in ("ada@example.com", "grace@navy.example.com", "alan@example.org"):
        assert invite(client, a, address).status_code == 303

    def listed(query: str, hx: bool = False) -> list[str]:
        return _emails_listed(client.get(url(a, query), hx=hx).get_data(as_text=True))

    assert sorted(listed("?q=example.com")) == ["ada@example.com", "grace@navy.example.com"]
    assert listed("?q=GRACE", hx=True) == ["grace@navy.example.com"]
    assert listed("?q=%25") == []  # not a pattern
    body = client.get(url(a, "?q=a&take=1")).get_data(as_text=True)
    assert f'href="{url(a, "?q=a&amp;from=1&amp;take=1")}"' in body  # paging keeps the search


def test_several_invitations_are_reviewed_before_anything_is_sent(portal: Portal, a: Tenant) -> None:
    support = make_group(portal, a.account, "Support")
    member = role_named(portal, a.account, "member")
    client = portal.client(a.admin)
    before = snapshot(portal)
    emails = "a1@example.com, a2@example.com\na3@example.com"
    review = invite(client, a, emails, roles=(member,), groups=(support,), review=False)
    body = " ".join(review.get_data(as_text=True).split())
    assert review.status_code == 200 and "Invite 3 people as member to Support?" in body
    assert "<li>a2@example.com</li>" in body and ">Send 3 invitations</button>" in body
    assert snapshot(portal) == before
    reviewed = _REVIEWED.search(review.get_data(as_text=True)).group(1)
    # Changed after the review (one address more): reviewed again, still nothing sent.
    changed = client.post(
        url(a),
        {
            "emails": emails + ", a4@example.com",
            "roles": [str(member.id)],
            "groups": [str(support.id)],
            "reviewed": reviewed,
        },
    )
    assert "Invite 4 people as member to Support?" in changed.get_data(as_text=True)
    assert snapshot(portal) == before
    sent = client.post(
        url(a), {"emails": emails, "roles": [str(member.id)], "groups": [str(support.id)], "reviewed": reviewed}
    )
    assert sent.status_code == 303
    assert count(portal, Invitation) == 3


def test_one_invitation_needs_no_review_and_roles_say_what_they_allow(portal: Portal, a: Tenant) -> None:
    client = portal.client(a.admin)
    assert invite(client, a, "solo@example.com", review=False).status_code == 303
    form = client.get(url(a, "/new")).get_data(as_text=True)
    match = re.search(
        r'<input aria-describedby="(roles-\d+-note)" id="roles-\d+" name="roles" type="checkbox" '
        r'value="[^"]+">\s*auditor</label>\s*<small id="\1">([^<]+)</small>',
        form,
    )
    assert match and match.group(2).strip()
