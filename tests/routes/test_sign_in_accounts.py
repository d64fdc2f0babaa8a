"""Sign-in knows the account (issue 13, section 2): a login or email names a person only within its
account, so an outsider's accounts can neither lock out, nor read the sign-ins of, anyone else's people."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal import db
from portal.auth import lockout
from portal.models import Account, AuditEvent, LoginThrottle, OutboxEmail, User
from tests.helpers import PASSWORD, Client, Portal, emails_to

VICTIM_LOGIN, VICTIM_EMAIL = "ada", "ada@victim.example"
WRONG = "not the password at all"


@pytest.fixture(autouse=True)
def _no_rate_limits(app: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests count failures past the rate limits (tests/routes/test_limits.py covers those)."""
    monkeypatch.setitem(app.config, "RATELIMIT_PER_LOGIN", "10000 per minute")  # type: ignore[attr-defined]
    monkeypatch.setitem(app.config, "RATELIMIT_PER_ADDRESS", "10000 per minute")  # type: ignore[attr-defined]


def sign_in(portal: Portal, account: str, login: str, password: str, address: str = "127.0.0.1") -> int:
    client = Client(portal.app.test_client())
    client.raw.environ_base["REMOTE_ADDR"] = address
    return client.post("/login", {"account": account, "login": login, "password": password}).status_code


def audit_of(portal: Portal, account: Account, action: str) -> list[AuditEvent]:
    with portal.app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.account_id == account.id, AuditEvent.action == action)
            )
        )


def test_an_outsiders_look_alike_accounts_do_not_lock_out_the_victim(portal: Portal) -> None:
    """The high finding: ten accounts reusing the victim's login and email, signed into, used to make
    the victim's right password fail for good (the five most recently used matches were tried)."""
    victim_account, _ = portal.account("Victim Corp", login=VICTIM_LOGIN, email=VICTIM_EMAIL)
    for n in range(10):
        account, _ = portal.account(f"Fake {n}", login=VICTIM_LOGIN, email=VICTIM_EMAIL, password=f"fake pass {n}!")
        assert sign_in(portal, account.sign_in_name, VICTIM_LOGIN, f"fake pass {n}!") == 303
        assert sign_in(portal, account.sign_in_name, VICTIM_EMAIL, f"fake pass {n}!") == 303
    assert sign_in(portal, "victim-corp", VICTIM_LOGIN, PASSWORD) == 303
    assert sign_in(portal, "victim-corp", VICTIM_EMAIL, PASSWORD) == 303
    assert sign_in(portal, "fake-0", VICTIM_LOGIN, PASSWORD) == 401  # the victim's password is the victim's only
    assert victim_account.sign_in_name == "victim-corp"


def test_a_failed_sign_in_is_recorded_only_in_the_account_it_named(portal: Portal) -> None:
    """The medium finding: failures were written into the log of every account holding the login."""
    victim_account, victim = portal.account("Victim Corp", login=VICTIM_LOGIN, email=VICTIM_EMAIL)
    outsider_account, _ = portal.account("Outsider", login=VICTIM_LOGIN, email=VICTIM_EMAIL)
    assert sign_in(portal, "victim-corp", VICTIM_EMAIL, WRONG) == 401
    assert sign_in(portal, "victim-corp", "nobody-here", WRONG) == 401
    assert sign_in(portal, "no-such-account", VICTIM_LOGIN, WRONG) == 401
    failed = audit_of(portal, victim_account, "auth.sign_in_failed")
    assert [(e.target_id, e.changes["login"]) for e in failed] in (
        [(str(victim.id), VICTIM_EMAIL), ("", "nobody-here")],
        [("", "nobody-here"), (str(victim.id), VICTIM_EMAIL)],
    )
    assert audit_of(portal, outsider_account, "auth.sign_in_failed") == []
    with portal.app.app_context():  # the unknown account's attempt is recorded nowhere
        assert (
            db.session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "auth.sign_in_failed")
            )
            == 2
        )
    outsider = portal.scalar(select(User).where(User.account_id == outsider_account.id, User.is_owner))
    body = portal.client(outsider).get(f"/accounts/{outsider_account.id}/audit").get_data(as_text=True)
    assert "sign_in_failed" not in body and "victim-corp" not in body


def test_five_bad_tries_lock_the_login_in_one_account_only(portal: Portal) -> None:
    """The low finding: five failures locked that login in every account at once."""
    portal.account("Victim Corp", login=VICTIM_LOGIN, email=VICTIM_EMAIL)
    portal.account("Outsider", login=VICTIM_LOGIN, email=VICTIM_EMAIL)
    for _ in range(5):
        assert sign_in(portal, "outsider", VICTIM_LOGIN, WRONG) == 401
    assert sign_in(portal, "outsider", VICTIM_LOGIN, PASSWORD) == 401  # locked there
    assert sign_in(portal, "victim-corp", VICTIM_LOGIN, PASSWORD) == 303  # not here


def test_unknown_accounts_lock_alike_and_separately(portal: Portal) -> None:
    """An unknown account's login counts on its own: it says nothing and touches nobody."""
    portal.account("Victim Corp", login=VICTIM_LOGIN, email=VICTIM_EMAIL)
    for _ in range(5):
        assert sign_in(portal, "victim-corq", VICTIM_LOGIN, WRONG) == 401
    assert sign_in(portal, "victim-corp", VICTIM_LOGIN, PASSWORD) == 303


def test_one_address_guessing_across_logins_is_locked_out(portal: Portal) -> None:
    """Lockout also counts per client address (ADDRESS_MAX_FAILURES in a row, across logins and accounts)."""
    portal.account("Victim Corp", login=VICTIM_LOGIN, email=VICTIM_EMAIL)
    for n in range(lockout.ADDRESS_MAX_FAILURES):
        assert sign_in(portal, "victim-corp", f"guess{n}", WRONG, address="203.0.113.9") == 401
    assert sign_in(portal, "victim-corp", VICTIM_LOGIN, PASSWORD, address="203.0.113.9") == 401
    assert sign_in(portal, "victim-corp", VICTIM_LOGIN, PASSWORD, address="198.51.100.7") == 303
    with portal.app.app_context():
        row = db.session.get(LoginThrottle, lockout.address_key("203.0.113.9"))
        assert row is not None and row.locked_until is not None


def test_the_account_sign_in_page_fills_in_the_account_and_is_remembered(portal: Portal) -> None:
    account, owner = portal.account("Initech", login="peter")
    client = portal.client()
    page = client.get("/a/initech/login")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "to Initech" in body
    assert 'action="/a/initech/login"' in body and 'name="account" type="hidden" value="initech"' in body
    response = client.post("/a/initech/login", {"login": "peter", "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == f"/accounts/{account.id}/users"
    cookie = next(v for k, v in response.headers if k == "Set-Cookie" and v.startswith("portal_account="))
    assert cookie.startswith("portal_account=initech;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    client.post("/logout")
    again = client.get("/login").get_data(as_text=True)
    assert re.search(r'name="account" type="text" value="initech"', again)
    assert owner.login == "peter"


def test_the_account_sign_in_page_cannot_be_pointed_at_another_account(portal: Portal) -> None:
    """The URL decides the account: a typed `account` field is ignored there."""
    portal.account("Initech", login="peter")
    portal.account("Globex", login="hank")
    client = portal.client()
    response = client.post("/a/initech/login", {"account": "globex", "login": "hank", "password": PASSWORD})
    assert response.status_code == 401


def test_an_unknown_account_page_answers_like_a_known_one_on_failure(portal: Portal) -> None:
    portal.account("Initech", login="peter")
    unknown = portal.client().post("/a/initrode/login", {"login": "peter", "password": PASSWORD})
    wrong = portal.client().post("/a/initech/login", {"login": "peter", "password": WRONG})
    assert unknown.status_code == wrong.status_code == 401
    assert "Invalid login or password." in unknown.get_data(as_text=True)


def test_forgot_which_account_emails_the_sign_in_links(portal: Portal) -> None:
    portal.account("Initech", login="peter", email="peter@example.com")
    portal.account("Globex", login="pete", email="peter@example.com")
    portal.account("Umbrella", login="someone", email="someone@example.com")
    known = portal.client().post("/login/find", {"email": "Peter@Example.com"})
    unknown = portal.client().post("/login/find", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 303
    assert known.headers["Location"] == unknown.headers["Location"] == "/login"
    (email,) = emails_to(portal, "peter@example.com")
    assert email.kind == "sign_in_links"
    assert "http://portal.example.com/a/initech/login" in email.body_text
    assert "http://portal.example.com/a/globex/login" in email.body_text
    assert "umbrella" not in email.body_text
    assert emails_to(portal, "nobody@example.com") == []


def test_forgot_which_account_answers_alike(portal: Portal) -> None:
    portal.account("Initech", login="peter", email="peter@example.com")
    bodies = []
    for address in ("peter@example.com", "nobody@example.com"):
        client = portal.client()
        client.post("/login/find", {"email": address})
        bodies.append(re.sub(r'(value="|content="|nonce=")[^"]+', r"\1", client.get("/login").get_data(as_text=True)))
    assert bodies[0] == bodies[1] and "If that address belongs to any account" in bodies[0]


def test_password_reset_is_scoped_to_the_account(portal: Portal) -> None:
    """The same address in two accounts: the reset asked for in one mails only that account's person."""
    portal.account("Initech", login="peter", email="peter@example.com")
    portal.account("Globex", login="pete", email="peter@example.com")
    for data in (
        {"account": "initech", "login": "peter@example.com"},
        {"account": "nowhere", "login": "peter"},
        {"account": "globex", "login": "nobody"},
    ):
        assert portal.client().post("/password-reset", data).status_code == 303
    (email,) = emails_to(portal, "peter@example.com")
    assert "peter in Initech" in email.body_text and "http://portal.example.com/a/initech/login" in email.body_text
    assert portal.client().post("/a/globex/password-reset", {"login": "pete"}).status_code == 303
    assert len(emails_to(portal, "peter@example.com")) == 2


def test_every_email_about_an_account_links_to_its_sign_in_page(portal: Portal) -> None:
    account, owner = portal.account("Initech", login="peter", email="peter@example.com")
    client = portal.client(owner)
    client.post(f"/accounts/{account.id}/invitations", {"emails": "milton@example.com"})
    (invitation,) = emails_to(portal, "milton@example.com")
    assert "http://portal.example.com/a/initech/login" in invitation.body_text
    assert "http://portal.example.com/a/initech/login" in invitation.body_html
    with portal.app.app_context():
        kinds = {e.kind for e in db.session.scalars(select(OutboxEmail))}
    assert kinds == {"invitation"}


def test_sign_up_chooses_or_suggests_a_sign_in_name(portal: Portal) -> None:
    signup = {
        "account_name": "Café Zürich",
        "first_name": "Ada",
        "last_name": "L",
        "login": "ada",
        "email": "ada@example.com",
        "password": "long enough passphrase 9",
        "password_confirmation": "long enough passphrase 9",
    }
    assert portal.client().post("/signup", signup).status_code == 303
    assert portal.scalar(select(Account.sign_in_name).where(Account.name == "Café Zürich")) == "cafe-zurich"
    assert portal.client().post("/signup", {**signup, "login": "bob"}).status_code == 303
    assert portal.scalar(select(func.count()).select_from(Account).where(Account.sign_in_name == "cafe-zurich-2")) == 1
    taken = portal.client().post("/signup", {**signup, "sign_in_name": "cafe-zurich"})
    assert taken.status_code == 422 and "already uses this sign-in name" in taken.get_data(as_text=True)
    bad = portal.client().post("/signup", {**signup, "sign_in_name": "-Not OK-"})
    assert bad.status_code == 422 and "hyphens" in bad.get_data(as_text=True)
    chosen = portal.client().post("/signup", {**signup, "sign_in_name": "Zurich-Cafe"})
    assert chosen.status_code == 303
    assert portal.scalar(select(func.count()).select_from(Account).where(Account.sign_in_name == "zurich-cafe")) == 1


def test_only_the_owner_changes_the_sign_in_name(portal: Portal) -> None:
    t = portal.tenant("A")
    settings = f"/accounts/{t.id}/settings"
    admin = portal.client(t.admin)
    assert admin.post(settings, {"name": "Tenant A", "sign_in_name": "hijacked"}).status_code == 303
    assert portal.get(Account, t.id).sign_in_name == "tenant-a"
    owner = portal.client(t.owner)
    page = owner.get(settings).get_data(as_text=True)
    assert "http://portal.example.com/a/tenant-a/login" in page
    portal.tenant("B")
    taken = owner.post(settings, {"name": "Tenant A", "sign_in_name": "tenant-b"})
    assert taken.status_code == 422 and portal.get(Account, t.id).sign_in_name == "tenant-a"
    assert owner.post(settings, {"name": "Tenant A", "sign_in_name": "tenant-alpha"}).status_code == 303
    assert portal.get(Account, t.id).sign_in_name == "tenant-alpha"
    assert sign_in(portal, "tenant-alpha", t.member.login, PASSWORD) == 303
    assert sign_in(portal, "tenant-a", t.member.login, PASSWORD) == 401
    (event,) = audit_of(portal, t.account, "account.update")
    assert event.changes == {"sign_in_name": ["tenant-a", "tenant-alpha"]}


def test_another_account_link_clears_the_remembered_account(portal: Portal) -> None:
    _account, owner = portal.account("Initech", login="peter")
    client = portal.client(owner)
    client.post("/logout")
    page = client.get("/a/initech/login").get_data(as_text=True)
    assert 'href="/login?account="' in page
    assert 'name="account" type="text" value=""' in client.get("/login?account=").get_data(as_text=True)
    assert 'name="account" type="text" value="initech"' in client.get("/login").get_data(as_text=True)


def test_sign_in_routes_never_cross_accounts(portal: Portal) -> None:
    """Tenant isolation of the sign-in routes: credentials work only through their own account's name,
    whichever route carries it, and a reset asked through one account never mails another's person."""
    a, b = portal.tenant("A"), portal.tenant("B")
    twin = portal.user(b.account, "member-a", password="the twin's own passphrase")  # B's namesake of A's member
    people = [(a, a.member, PASSWORD), (b, twin, "the twin's own passphrase"), (b, b.owner, PASSWORD)]
    for tenant, user, password in people:
        for named in (a, b):
            expected = 303 if named is tenant else 401
            name = named.account.sign_in_name
            assert sign_in(portal, name, user.login, password) == expected, (name, user.login)
            assert sign_in(portal, name, user.email, password) == expected, (name, user.email)
            client = Client(portal.app.test_client())
            assert client.post(f"/a/{name}/login", {"login": user.login, "password": password}).status_code == expected
    with portal.app.app_context():
        db.session.execute(OutboxEmail.__table__.delete())
        db.session.commit()
    portal.client().post("/a/tenant-b/password-reset", {"login": a.owner.email})
    portal.client().post("/a/tenant-a/password-reset", {"login": "member-a"})
    mailed = {
        e.to_address
        for e in (emails_to(portal, a.member.email) + emails_to(portal, twin.email) + emails_to(portal, a.owner.email))
    }
    # "member-a" in tenant A is A's member (member-a@example.com); B's twin has the same address, but
    # the reset names A's person, so exactly one email, about A.
    (email,) = emails_to(portal, "member-a@example.com")
    assert mailed == {"member-a@example.com"} and "in Tenant A" in email.body_text
