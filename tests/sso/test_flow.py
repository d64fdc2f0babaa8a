"""End to end against oidc-provider-mock on loopback: every resolution branch, returning users, email
changes at the provider, JIT, and every failure as a 400 with a reason (issue 21)."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.models import EmailChange, LoginSession, SsoIdentity, User, UserStatus
from tests.helpers import Portal, events
from tests.sso.conftest import CLIENT_ID, Provider, at_provider, authorize_url, connect, query_of, sso_sign_in


def _identity(portal: Portal, user_id: object) -> SsoIdentity | None:
    return portal.scalar(select(SsoIdentity).where(SsoIdentity.user_id == user_id))


def _signed_in_as(client, login: str) -> bool:  # type: ignore[no-untyped-def]
    page = client.get("/me")
    return page.status_code == 200 and login in page.get_data(as_text=True)


def test_invited_person_links_on_proven_email_and_returns_by_sub(portal: Portal, provider: Provider) -> None:
    account, owner = portal.account()
    connect(portal.app, account, provider.issuer)
    admin = portal.client(owner)
    admin.post(f"/accounts/{account.id}/invitations", {"emails": "ada@example.com"})
    invited = portal.scalar(select(User).where(User.email == "ada@example.com"))
    assert invited.status == UserStatus.PENDING
    provider.set_user("ada-sub", email="ada@example.com", email_verified=True, given_name="Ada")
    client = portal.client()
    response = sso_sign_in(client, account.sign_in_name, "ada-sub")
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    user = portal.get(User, invited.id)
    assert user.status == UserStatus.ACTIVE and user.is_sso and user.first_name == "Ada"
    assert _identity(portal, user.id).subject == "ada-sub"
    assert _signed_in_as(client, user.login)
    assert events(portal, "sso.identity_linked")
    # Returning: found by sub, even when the provider's email is now another user's address.
    portal.user(account, "grace", email="grace@example.com")
    provider.set_user("ada-sub", email="grace@example.com", email_verified=True)
    again = portal.client()
    assert sso_sign_in(again, account.sign_in_name, "ada-sub").status_code == 303
    assert _signed_in_as(again, user.login)
    session = portal.scalar(
        select(LoginSession).where(LoginSession.user_id == user.id).order_by(LoginSession.created_at.desc()).limit(1)
    )
    assert session.auth_method == "sso" and session.expires_at is not None


def test_invitation_email_has_no_password_link_while_sso_is_active(portal: Portal, provider: Provider) -> None:
    account, owner = portal.account()
    connect(portal.app, account, provider.issuer)
    portal.client(owner).post(f"/accounts/{account.id}/invitations", {"emails": "bea@example.com"})
    from tests.helpers import emails_to

    [email] = emails_to(portal, "bea@example.com")
    assert email.kind == "sso_invitation" and "/invitations/accept/" not in email.body_text
    assert f"/a/{account.sign_in_name}/sso" in email.body_text


def test_active_user_links_only_after_password_reauthentication(portal: Portal, provider: Provider) -> None:
    account, _owner = portal.account()
    user = portal.user(account, "carl", email="carl@example.com")
    connect(portal.app, account, provider.issuer)
    provider.set_user("carl-sub", email="carl@example.com")  # not even proven: the password proves it
    client = portal.client()
    response = sso_sign_in(client, account.sign_in_name, "carl-sub")
    assert response.status_code == 303 and response.headers["Location"].endswith("/sso/link")
    assert _identity(portal, user.id) is None
    wrong = client.post(f"/a/{account.sign_in_name}/sso/link", {"password": "not-it"})
    assert wrong.status_code == 401 and _identity(portal, user.id) is None
    ok = client.post(f"/a/{account.sign_in_name}/sso/link", {"password": "correct-horse-battery-staple"})
    assert ok.status_code == 303
    assert _identity(portal, user.id).subject == "carl-sub" and portal.get(User, user.id).is_sso
    assert _signed_in_as(client, "carl")
    # The step is used: posting it again links nothing more and signs nobody in.
    replay = portal.client().post(f"/a/{account.sign_in_name}/sso/link", {"password": "correct-horse-battery-staple"})
    assert replay.status_code == 400


def test_email_change_at_the_provider_is_a_pending_change_never_a_second_user(
    portal: Portal, provider: Provider
) -> None:
    account, owner = portal.account()
    connect(portal.app, account, provider.issuer, jit_enabled=True)
    provider.set_user("dan-sub", email="dan@example.com", email_verified=True)
    assert sso_sign_in(portal.client(), account.sign_in_name, "dan-sub").status_code == 303
    dan = portal.scalar(select(User).where(User.email == "dan@example.com"))
    provider.set_user("dan-sub", email="daniel@example.com", email_verified=True)
    assert sso_sign_in(portal.client(), account.sign_in_name, "dan-sub").status_code == 303
    assert portal.scalar(select(func.count()).select_from(User).where(User.account_id == account.id)) == 2
    assert portal.get(User, dan.id).email == "dan@example.com"
    change = portal.scalar(select(EmailChange).where(EmailChange.user_id == dan.id))
    assert change.new_email == "daniel@example.com" and change.confirmed_at is None


def test_jit_creates_a_member_when_on_and_refuses_when_off(portal: Portal, provider: Provider) -> None:
    account, _owner = portal.account()
    connect(portal.app, account, provider.issuer, jit_enabled=False)
    provider.set_user("eve-sub", email="eve@example.com", email_verified=True)
    refused = sso_sign_in(portal.client(), account.sign_in_name, "eve-sub")
    assert refused.status_code == 400 and "invite you" in refused.get_data(as_text=True)
    assert portal.scalar(select(User).where(User.email == "eve@example.com")) is None
    with portal.app.app_context():
        from portal import db
        from portal.models import SsoConnection

        db.session.execute(SsoConnection.__table__.update().values(jit_enabled=True))
        db.session.commit()
    client = portal.client()
    assert sso_sign_in(client, account.sign_in_name, "eve-sub").status_code == 303
    eve = portal.scalar(select(User).where(User.email == "eve@example.com"))
    assert eve.is_sso and eve.password_hash is None and events(portal, "sso.jit_created")
    assert client.get(f"/accounts/{account.id}/users").status_code == 403  # member: least privilege


def test_unproven_email_is_refused_for_invitee_and_jit(portal: Portal, provider: Provider) -> None:
    account, owner = portal.account()
    connect(portal.app, account, provider.issuer, jit_enabled=True)
    portal.client(owner).post(f"/accounts/{account.id}/invitations", {"emails": "fay@example.com"})
    provider.set_user("fay-sub", email="fay@example.com", email_verified=False)
    provider.set_user("gus-sub", email="gus@example.com")
    for sub in ("fay-sub", "gus-sub"):
        response = sso_sign_in(portal.client(), account.sign_in_name, sub)
        assert response.status_code == 400 and "email_verified" in response.get_data(as_text=True)
    assert portal.scalar(select(func.count()).select_from(SsoIdentity)) == 0


def test_failures_are_400_pages_with_reason_and_correlation_id(portal: Portal, provider: Provider) -> None:
    account, owner = portal.account()
    connect(portal.app, account, provider.issuer, jit_enabled=True)
    provider.set_user("hal-sub", email="hal@example.com", email_verified=True)
    client = portal.client()
    callback = at_provider(authorize_url(client, account.sign_in_name), "hal-sub")
    assert client.raw.get(callback).status_code == 303
    replayed = portal.client().raw.get(callback)  # replayed callback (another browser too)
    assert replayed.status_code == 400
    same_browser = client.raw.get(callback)
    assert same_browser.status_code in (302, 303, 400)  # signed in already; never a second sign-in
    bad_state = portal.client().raw.get(f"/a/{account.sign_in_name}/sso/callback?code=x&state=nope")
    body = bad_state.get_data(as_text=True)
    assert bad_state.status_code == 400 and "unknown state" in body
    assert bad_state.headers["X-Correlation-Id"] in body
    fresh = portal.client()
    denied = fresh.raw.get(at_provider(authorize_url(fresh, account.sign_in_name), deny=True))
    assert denied.status_code == 400 and "declined" in denied.get_data(as_text=True)
    failures = events(portal, "sso.sign_in_failed")
    assert {e.changes["reason"] for e in failures} >= {"replayed", "bad_state", "denied"}


def test_provider_down_is_a_400(portal: Portal) -> None:
    account, _owner = portal.account()
    connect(portal.app, account, "http://127.0.0.1:9")  # nothing listens there
    response = portal.client().post(f"/a/{account.sign_in_name}/sso")
    assert response.status_code == 400 and "could not be reached" in response.get_data(as_text=True)


def test_pkce_s256_on_authorize_and_the_verifier_on_the_token_request(
    portal: Portal, provider: Provider, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import base64
    import hashlib

    from authlib.integrations.requests_client import OAuth2Session

    sent: dict[str, str] = {}
    original = OAuth2Session.fetch_token

    def spy(self, url=None, **kwargs):  # type: ignore[no-untyped-def]
        sent.update({k: v for k, v in kwargs.items() if isinstance(v, str)})
        return original(self, url, **kwargs)

    monkeypatch.setattr(OAuth2Session, "fetch_token", spy)
    account, _owner = portal.account()
    connect(portal.app, account, provider.issuer, jit_enabled=True)
    provider.set_user("ivy-sub", email="ivy@example.com", email_verified=True)
    client = portal.client()
    url = authorize_url(client, account.sign_in_name)
    query = query_of(url)
    assert query["code_challenge_method"] == "S256" and query["client_id"] == CLIENT_ID
    assert query["state"] and query["nonce"] and query["response_type"] == "code"
    assert client.raw.get(at_provider(url, "ivy-sub")).status_code == 303
    verifier = sent["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == query["code_challenge"]


def test_tenant_isolation_state_issuer_and_sub_of_another_account(portal: Portal, provider: Provider) -> None:
    account_a, _ = portal.account("A", login="owner-a")
    account_b, _ = portal.account("B", login="owner-b")
    connect(portal.app, account_a, provider.issuer, jit_enabled=True)
    connect(portal.app, account_b, provider.issuer, jit_enabled=True, client_id="b-client")
    provider.set_user("kim-sub", email="kim@example.com", email_verified=True)
    # B's sub is linked in B only: in A it is a stranger (here JIT makes a new A user; nothing of B is touched).
    assert sso_sign_in(portal.client(), account_b.sign_in_name, "kim-sub").status_code == 303
    # A's callback with B's state: 400, no session.
    client = portal.client()
    callback_b = at_provider(authorize_url(client, account_b.sign_in_name), "kim-sub")
    crossed = client.raw.get(callback_b.replace(f"/a/{account_b.sign_in_name}/", f"/a/{account_a.sign_in_name}/"))
    assert crossed.status_code == 400 and client.get("/me").status_code == 302
    # A token issued for B's client (another audience) is refused by A: the code was B's.
    client2 = portal.client()
    url_a = authorize_url(client2, account_a.sign_in_name)
    url_b = authorize_url(portal.client(), account_b.sign_in_name)
    b_code = query_of("http://x" + at_provider(url_b, "kim-sub"))["code"]
    state_a = query_of(url_a)["state"]
    mixed = client2.raw.get(f"/a/{account_a.sign_in_name}/sso/callback?code={b_code}&state={state_a}")
    assert mixed.status_code == 400 and client2.get("/me").status_code == 302
    b_identity = portal.scalar(
        select(SsoIdentity).join(User, User.id == SsoIdentity.user_id).where(User.account_id == account_b.id)
    )
    assert b_identity is not None and b_identity.subject == "kim-sub"


def test_password_reauthentication_to_link_is_rate_limited(portal: Portal, provider: Provider) -> None:
    """The link step checks a password, so it is limited like the sign-in form (SECURITY L4): past the
    per-address limit the next attempt is 429, even with the right password, before any password check."""
    portal.app.config.update(RATELIMIT_PER_LOGIN="2 per minute", RATELIMIT_PER_ADDRESS="3 per minute")
    account, _owner = portal.account()
    user = portal.user(account, "dora", email="dora@example.com")
    connect(portal.app, account, provider.issuer)
    provider.set_user("dora-sub", email="dora@example.com")
    client = portal.client()
    assert sso_sign_in(client, account.sign_in_name, "dora-sub").headers["Location"].endswith("/sso/link")
    link = f"/a/{account.sign_in_name}/sso/link"
    assert [client.post(link, {"password": "not-it"}).status_code for _ in range(2)] == [401, 401]
    refused = client.post(link, {"password": "correct-horse-battery-staple"})
    assert refused.status_code == 429 and _identity(portal, user.id) is None
