"""Confirming it is you through the identity provider (/me/reauth): people who sign in only through SSO
have no password to re-enter, so a fresh SSO round-trip (prompt=login, max_age=0) confirms them instead."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from portal.models import ApiKey, LoginSession, SsoConnection, User
from tests.helpers import PASSWORD, Client, Portal
from tests.sso.conftest import Provider, at_provider, connect, query_of, sso_sign_in


def _sso_only_member(portal: Portal, provider: Provider) -> tuple[object, User, Client]:
    """An account with an active connection and a person created at their first SSO sign-in (no password)."""
    account, _owner = portal.account()
    connect(portal.app, account, provider.issuer, jit_enabled=True)
    provider.set_user("zoe-sub", email="zoe@example.com", email_verified=True, given_name="Zoe")
    client = portal.client()
    assert sso_sign_in(client, account.sign_in_name, "zoe-sub").status_code == 303
    user = portal.scalar(select(User).where(User.email == "zoe@example.com"))
    assert user.password_hash is None and user.is_sso
    return account, user, client


def _age_sessions(portal: Portal, user_id: object, minutes: int = 11) -> None:
    with portal.app.app_context():
        from portal import db
        from portal.db import utcnow

        db.session.execute(
            update(LoginSession)
            .where(LoginSession.user_id == user_id)
            .values(authenticated_at=utcnow() - timedelta(minutes=minutes))
        )
        db.session.commit()


def test_sso_only_person_confirms_through_the_provider_then_makes_an_api_key(
    portal: Portal, provider: Provider
) -> None:
    account, user, client = _sso_only_member(portal, provider)
    _age_sessions(portal, user.id)
    asked = client.post("/me/api-keys", {"name": "ci"})
    assert asked.status_code in (302, 303) and "/me/reauth" in asked.headers["Location"]
    page = client.get(asked.headers["Location"])
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Confirm with Mock IdP" in body
    assert 'type="password"' not in body  # no password to give
    start = client.post("/me/reauth/sso?next=/me/api-keys")
    assert start.status_code == 303
    query = query_of(start.headers["Location"])
    assert query["prompt"] == "login" and query["max_age"] == "0"
    assert query["code_challenge_method"] == "S256"
    back = client.raw.get(at_provider(start.headers["Location"], "zoe-sub"))
    assert back.status_code == 303 and back.headers["Location"].endswith("/me/api-keys")
    made = client.post("/me/api-keys", {"name": "ci"})
    assert made.status_code == 200 and "ap_" in made.get_data(as_text=True)
    assert portal.scalar(select(ApiKey).where(ApiKey.user_id == user.id)) is not None


def test_someone_elses_identity_at_the_provider_confirms_nothing(portal: Portal, provider: Provider) -> None:
    account, user, client = _sso_only_member(portal, provider)
    provider.set_user("other-sub", email="other@example.com", email_verified=True)
    assert sso_sign_in(portal.client(), account.sign_in_name, "other-sub").status_code == 303  # another user
    _age_sessions(portal, user.id)
    start = client.post("/me/reauth/sso?next=/me/api-keys")
    refused = client.raw.get(at_provider(start.headers["Location"], "other-sub"))
    assert refused.status_code == 400 and "belongs to another user" in refused.get_data(as_text=True)
    still = client.post("/me/api-keys", {"name": "ci"})
    assert still.status_code in (302, 303) and "/me/reauth" in still.headers["Location"]


def test_no_button_without_a_linked_identity_or_an_active_connection(portal: Portal, provider: Provider) -> None:
    account, _owner = portal.account()
    member = portal.user(account, "max")
    connect(portal.app, account, provider.issuer)
    client = portal.client(member)
    page = client.get("/me/reauth").get_data(as_text=True)
    assert "Confirm with" not in page and 'type="password"' in page
    assert client.post("/me/reauth/sso").status_code == 409
    # Linked, but the connection is switched off: the password again, no button.
    _account, user, sso_client = _sso_only_member_in(portal, provider, account)
    with portal.app.app_context():
        from portal import db

        db.session.execute(update(SsoConnection).values(active=False))
        db.session.commit()
    assert "Confirm with" not in sso_client.get("/me/reauth").get_data(as_text=True)
    assert sso_client.post("/me/reauth/sso").status_code == 409


def _sso_only_member_in(portal: Portal, provider: Provider, account: object) -> tuple[object, User, Client]:
    from portal.models import Account

    assert isinstance(account, Account)
    with portal.app.app_context():
        from portal import db

        db.session.execute(update(SsoConnection).values(jit_enabled=True))
        db.session.commit()
    provider.set_user("liv-sub", email="liv@example.com", email_verified=True)
    client = portal.client()
    assert sso_sign_in(client, account.sign_in_name, "liv-sub").status_code == 303
    return account, portal.scalar(select(User).where(User.email == "liv@example.com")), client


def test_password_confirmation_is_refused_while_sso_is_required_for_a_non_owner(
    portal: Portal, provider: Provider
) -> None:
    account, _owner = portal.account()
    member = portal.user(account, "ned")
    client = portal.client(member)
    connect(portal.app, account, provider.issuer, require_sso=True)
    page = client.get("/me/reauth").get_data(as_text=True)
    assert 'type="password"' not in page
    refused = client.post("/me/reauth", {"password": PASSWORD})
    assert refused.status_code == 403 and "identity provider" in refused.get_data(as_text=True)
