"""Two-step sign-in: TOTP codes used once, one step of drift, recovery codes (SECURITY M1–M3, M6)."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from portal import db
from portal.auth import mfa
from portal.db import utcnow
from portal.models import LoginSession, RecoveryCode, User
from tests.helpers import PASSWORD, Client, Portal

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def enrolled(portal: Portal) -> tuple[User, list[str]]:
    _account, owner = portal.account()
    with portal.app.app_context():
        user = db.session.get(User, owner.id)
        codes = mfa.enable(user, SECRET, step=0)
        db.session.commit()
        return user, codes


def password_step(client: Client, login: str = "owner") -> None:
    response = client.post("/login", {"account": "acme", "login": login, "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/login/mfa"


def now_code(offset_steps: int = 0) -> str:
    return pyotp.TOTP(SECRET).at(utcnow() + timedelta(seconds=30 * offset_steps))


def test_sign_in_asks_for_the_code_after_the_password(portal: Portal, enrolled) -> None:  # type: ignore[no-untyped-def]
    user, _codes = enrolled
    client = portal.client()
    password_step(client)
    # Not signed in yet: the account's pages still want a sign-in.
    assert client.get(f"/accounts/{user.account_id}/users").status_code == 302
    assert portal.scalar(select(func.count()).select_from(LoginSession)) == 0
    response = client.post("/login/mfa", {"code": now_code()})
    assert response.status_code == 303 and response.headers["Location"] == f"/accounts/{user.account_id}/users"
    assert client.get(response.headers["Location"]).status_code == 200


def test_a_code_is_accepted_once(portal: Portal, enrolled) -> None:  # type: ignore[no-untyped-def]
    """M1: replaying the same code, even in the same 30 s, fails."""
    code = now_code()
    first = portal.client()
    password_step(first)
    assert first.post("/login/mfa", {"code": code}).status_code == 303
    second = portal.client()
    password_step(second)
    response = second.post("/login/mfa", {"code": code})
    assert response.status_code == 401 and "not valid" in response.get_data(as_text=True)


def test_one_step_of_drift_either_side() -> None:
    """M2: t±30 s accepted, t−60 s refused."""
    now = utcnow()
    step = int(now.timestamp()) // 30
    totp = pyotp.TOTP(SECRET)
    assert mfa.matching_step(SECRET, totp.at(now - timedelta(seconds=30)), now) == step - 1
    assert mfa.matching_step(SECRET, totp.at(now + timedelta(seconds=30)), now) == step + 1
    assert mfa.matching_step(SECRET, totp.at(now - timedelta(seconds=60)), now) is None
    assert mfa.matching_step(SECRET, "12345", now) is None and mfa.matching_step(SECRET, "abcdef", now) is None
    assert len(mfa.new_secret()) >= 32


def test_secret_is_stored_encrypted(portal: Portal, enrolled) -> None:  # type: ignore[no-untyped-def]
    user, _ = enrolled
    stored = portal.get(User, user.id).mfa_secret
    assert stored and SECRET not in stored
    with portal.app.app_context():
        assert mfa.unseal(stored) == SECRET


def test_recovery_codes_work_once_and_are_hashed(portal: Portal, enrolled) -> None:  # type: ignore[no-untyped-def]
    """M3."""
    user, codes = enrolled
    assert len(codes) == 10 and len(set(codes)) == 10
    with portal.app.app_context():
        hashes = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert all(h.startswith("$argon2id$") for h in hashes) and not set(codes) & set(hashes)
    client = portal.client()
    password_step(client)
    assert client.post("/login/mfa", {"recovery_code": codes[3].upper()}).status_code == 303
    again = portal.client()
    password_step(again)
    assert again.post("/login/mfa", {"recovery_code": codes[3]}).status_code == 401
    assert again.post("/login/mfa", {"recovery_code": codes[4]}).status_code == 303


def test_regenerated_codes_replace_the_old_ones(portal: Portal, enrolled) -> None:  # type: ignore[no-untyped-def]
    user, old = enrolled
    with portal.app.app_context():
        new = mfa.replace_recovery_codes(user.id)
        db.session.commit()
    client = portal.client()
    password_step(client)
    assert client.post("/login/mfa", {"recovery_code": old[0]}).status_code == 401
    assert client.post("/login/mfa", {"recovery_code": new[0]}).status_code == 303


def test_the_second_step_expires_and_needs_the_first(portal: Portal, enrolled) -> None:  # type: ignore[no-untyped-def]
    client = portal.client()
    response = client.get("/login/mfa")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    password_step(client)
    with client.raw.session_transaction() as session:
        session["mfa_pending"] = {**session["mfa_pending"], "since": (utcnow() - timedelta(minutes=6)).isoformat()}
    response = client.post("/login/mfa", {"code": now_code()})
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_wrong_code_is_401_and_counts_as_a_failure(portal: Portal, enrolled) -> None:  # type: ignore[no-untyped-def]
    client = portal.client()
    password_step(client)
    response = client.post("/login/mfa", {"code": "000000"}, hx=True)
    assert response.status_code == 401
    assert response.get_data(as_text=True).lstrip().startswith('<form id="mfa_form"')
