"""Require SSO: only a fresh SSO sign-in turns it on; then no password route works for non-owners, and
the owner's break-glass and the recovery codes work once each, audited and emailed (issue 21)."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.models import AuditEvent, OutboxEmail, SsoConnection, User
from tests.helpers import PASSWORD, Portal, count
from tests.sso.conftest import Provider, connect, sso_sign_in


def _enforce(portal: Portal, provider: Provider) -> tuple[object, object, object, list[str]]:
    """An account with an active connection, an admin linked to the provider, SSO required; the codes."""
    tenant = portal.tenant()
    connect(portal.app, tenant.account, provider.issuer, jit_enabled=False)
    provider.set_user("admin-sub", email=tenant.admin.email, email_verified=True)
    by_password = portal.client(tenant.admin)
    refused = by_password.post(f"/accounts/{tenant.id}/settings/sso/require")
    assert refused.status_code == 403  # no fresh SSO sign-in
    assert not portal.scalar(select(SsoConnection.require_sso))
    # The admin signs in through the provider (linking after their password), then requires SSO.
    admin = portal.client()
    assert sso_sign_in(admin, tenant.account.sign_in_name, "admin-sub").status_code == 303
    assert admin.post(f"/a/{tenant.account.sign_in_name}/sso/link", {"password": PASSWORD}).status_code == 303
    page = admin.post(f"/accounts/{tenant.id}/settings/sso/require")
    assert page.status_code == 200
    codes = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code>", page.get_data(as_text=True))
    assert len(codes) == 10 and portal.scalar(select(SsoConnection.require_sso))
    return tenant, admin, by_password, codes


def test_requiring_sso_refuses_every_password_route_but_the_owners(portal: Portal, provider: Provider) -> None:
    tenant, _admin, _old, _codes = _enforce(portal, provider)
    name = tenant.account.sign_in_name
    member = tenant.member
    for login in (member.login, tenant.admin.login, tenant.owner.login):  # the owner too: break-glass only
        response = portal.client().post(f"/a/{name}/login", {"login": login, "password": PASSWORD})
        assert response.status_code == 403 and "identity provider" in response.get_data(as_text=True)
    assert (
        portal.client().post("/login", {"account": name, "login": member.login, "password": PASSWORD}).status_code
        == 403
    )
    before = count(portal, OutboxEmail, OutboxEmail.to_address == member.email)
    portal.client().post(f"/a/{name}/password-reset", {"login": member.login})
    assert count(portal, OutboxEmail, OutboxEmail.to_address == member.email) == before
    # An admin cannot set a non-owner's password either (nor can anyone change their own: no session to try).
    with portal.app.app_context():
        from portal import db
        from portal.errors import Forbidden
        from portal.me.credentials import change_password
        from portal.users.services import Actor, set_password

        target = db.session.get(User, member.id)
        for attempt in (
            lambda: change_password(target, PASSWORD, "a-new-long-password-1", None, actor=Actor(target, frozenset())),
            lambda: set_password(
                target, "a-new-long-password-1", True, actor=Actor(db.session.get(User, tenant.owner.id), frozenset())
            ),
        ):
            try:
                attempt()
            except Forbidden:
                pass
            else:
                raise AssertionError("a password change went through while SSO is required")
            db.session.rollback()


def test_owner_break_glass_and_recovery_codes_work_once_each_audited_and_emailed(
    portal: Portal, provider: Provider
) -> None:
    tenant, _admin, _old, codes = _enforce(portal, provider)
    name = tenant.account.sign_in_name
    url = f"/a/{name}/login?local=1"
    owner = tenant.owner
    # The owner has no TOTP here: a recovery code is the second thing; without it, the generic failure.
    assert portal.client().post(url, {"login": owner.login, "password": PASSWORD}).status_code == 401
    # A member with the right password and a good code still cannot (not owner, no account:manage).
    assert (
        portal.client()
        .post(url, {"login": tenant.member.login, "password": PASSWORD, "sso_recovery_code": codes[1]})
        .status_code
        == 401
    )
    mails_before = count(portal, OutboxEmail, OutboxEmail.subject.like("Break-glass%"))
    ok = portal.client().post(url, {"login": owner.login, "password": PASSWORD, "sso_recovery_code": codes[0]})
    assert ok.status_code == 303
    assert count(portal, AuditEvent, AuditEvent.action == "sso.break_glass") == 1
    assert count(portal, OutboxEmail, OutboxEmail.subject.like("Break-glass%")) > mails_before
    again = portal.client().post(url, {"login": owner.login, "password": PASSWORD, "sso_recovery_code": codes[0]})
    assert again.status_code == 401  # each code works once
    # An admin with a password may use another code (audited and emailed the same way).
    admin_ok = portal.client().post(
        url, {"login": tenant.admin.login, "password": PASSWORD, "sso_recovery_code": codes[2]}
    )
    assert admin_ok.status_code == 303
    assert count(portal, AuditEvent, AuditEvent.action == "sso.break_glass") == 2


def test_owner_with_totp_breaks_glass_with_password_and_code(portal: Portal, provider: Provider) -> None:
    import pyotp

    tenant, _admin, _old, _codes = _enforce(portal, provider)
    secret = pyotp.random_base32(32)
    with portal.app.app_context():
        from portal import db
        from portal.auth import mfa

        owner = db.session.get(User, tenant.owner.id)
        mfa.enable(owner, secret, 0)
        db.session.commit()
    client = portal.client()
    step = client.post(
        f"/a/{tenant.account.sign_in_name}/login?local=1", {"login": tenant.owner.login, "password": PASSWORD}
    )
    assert step.status_code == 303 and step.headers["Location"].endswith("/login/mfa")
    assert client.post("/login/mfa", {"code": pyotp.TOTP(secret).now()}).status_code == 303
    event = portal.scalar(select(AuditEvent).where(AuditEvent.action == "sso.break_glass"))
    assert event is not None and event.actor_id == tenant.owner.id


def test_turning_requirement_off_emails_sso_only_users_a_set_password_link(portal: Portal, provider: Provider) -> None:
    tenant, admin, _old, _codes = _enforce(portal, provider)
    with portal.app.app_context():
        from portal import db

        db.session.execute(SsoConnection.__table__.update().values(jit_enabled=True))
        db.session.commit()
    provider.set_user("new-sub", email="newcomer@example.com", email_verified=True)
    assert sso_sign_in(portal.client(), tenant.account.sign_in_name, "new-sub").status_code == 303
    assert admin.post(f"/accounts/{tenant.id}/settings/sso/unrequire").status_code == 303
    mail = portal.scalar(
        select(OutboxEmail).where(
            OutboxEmail.to_address == "newcomer@example.com", OutboxEmail.kind == "password_reset"
        )
    )
    assert mail is not None and "no longer requires single sign-on" in mail.body_text
    assert count(portal, AuditEvent, AuditEvent.action == "sso.enforced") == 2


def test_new_recovery_codes_need_a_fresh_sso_sign_in_and_kill_the_old_ones(portal: Portal, provider: Provider) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from portal.models import LoginSession

    tenant, admin, by_password, old = _enforce(portal, provider)
    url = f"/accounts/{tenant.id}/settings/sso/recovery-codes"
    assert by_password.post(url).status_code == 403  # signed in with a password, not through the provider
    # (Without account:manage: 403, in tests/routes/test_authorization_matrix.py.)
    settings = admin.get(f"/accounts/{tenant.id}/settings/sso").get_data(as_text=True)
    assert "Make new recovery codes" in settings
    page = admin.post(url)
    assert page.status_code == 200
    new = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code>", page.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert "no longer work" in page.get_data(as_text=True)
    assert portal.scalar(select(SsoConnection.require_sso))  # still required
    event = portal.scalar(select(AuditEvent).where(AuditEvent.action == "sso.recovery_codes_regenerated"))
    assert event is not None and event.actor_id == tenant.admin.id
    name = tenant.account.sign_in_name
    login = f"/a/{name}/login?local=1"
    assert (
        portal.client()
        .post(login, {"login": tenant.owner.login, "password": PASSWORD, "sso_recovery_code": old[3]})
        .status_code
        == 401
    )  # the old set is dead
    assert (
        portal.client()
        .post(login, {"login": tenant.owner.login, "password": PASSWORD, "sso_recovery_code": new[0]})
        .status_code
        == 303
    )
    # Ten minutes after the SSO sign-in, it takes another one.
    with portal.app.app_context():
        from portal import db
        from portal.db import utcnow

        db.session.execute(
            update(LoginSession)
            .where(LoginSession.user_id == tenant.admin.id)
            .values(authenticated_at=utcnow() - timedelta(minutes=11))
        )
        db.session.commit()
    assert admin.post(url).status_code == 403
    assert "Make new recovery codes" not in admin.get(f"/accounts/{tenant.id}/settings/sso").get_data(as_text=True)


def test_recovery_codes_are_made_only_while_sso_is_required(portal: Portal, provider: Provider) -> None:
    tenant, admin, _old, _codes = _enforce(portal, provider)
    assert admin.post(f"/accounts/{tenant.id}/settings/sso/unrequire").status_code == 303
    assert admin.post(f"/accounts/{tenant.id}/settings/sso/recovery-codes").status_code == 409
    assert count(portal, AuditEvent, AuditEvent.action == "sso.recovery_codes_regenerated") == 0
