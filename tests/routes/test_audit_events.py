"""Every action leaves exactly one audit event naming the right actor and target (issue 8), and no
password, token or code ever reaches an event or a log line (SECURITY H4, L4).

To cover a new action, add a row to ACTIONS: a function that performs the action through its
route (with `act(...)`, which tags the request with a correlation id) and returns what the event
must say. The test finds the event by that correlation id.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from portal import db, request_log
from portal.auth import mfa
from portal.models import AuditEvent, LoginThrottle, OutboxEmail, User
from tests.helpers import PASSWORD, Client, Portal, Tenant, invitation_token, role_named, users_url

_ids = itertools.count()


def act(client: Client, url: str, data: dict[str, Any] | None = None, method: str = "post") -> TestResponse:
    """One request tagged with a fresh correlation id (a POST carries the session's CSRF token)."""
    headers = {"X-Correlation-Id": f"audit-case-{next(_ids)}"}
    if method == "post":
        return client.raw.post(url, data={**(data or {}), "csrf_token": client.csrf()}, headers=headers)
    return client.raw.open(url, method=method.upper(), headers=headers)


@dataclass(frozen=True)
class Expected:
    """What the one event must name. actor None: nobody was signed in."""

    response: TestResponse
    actor: User | None
    target_type: str
    target_id: str
    account_id: uuid.UUID | None
    target_label: str | None = None


def _user(portal: Portal, login: str) -> User:
    return portal.scalar(select(User).where(User.login == login))


def _as_user(user: User, response: TestResponse, label: str | None = None) -> Expected:
    return Expected(response, user, "user", str(user.id), user.account_id, label)


NEW_USER = {
    "login": "grace",
    "email": "grace@example.com",
    "first_name": "Grace",
    "last_name": "Hopper",
    "password": "cobol compilers rule the sea",
    "password_confirmation": "cobol compilers rule the sea",
    "temporary": "y",
}


def sign_in(portal: Portal, t: Tenant) -> Expected:
    client = portal.client()
    response = act(
        client, "/login", {"account": portal.sign_in_name(t.member), "login": t.member.login, "password": PASSWORD}
    )
    return _as_user(t.member, response, "member-a")


def sign_in_failure(portal: Portal, t: Tenant) -> Expected:
    # Nobody is signed in; the event names the user whose login was typed, in their account.
    response = act(
        portal.client(),
        "/login",
        {"account": portal.sign_in_name(t.member), "login": t.member.login, "password": "wrong password here"},
    )
    return Expected(response, None, "user", str(t.member.id), t.id)


def sign_out(portal: Portal, t: Tenant) -> Expected:
    response = act(portal.client(t.member), "/logout")
    return _as_user(t.member, response)


def sign_up(portal: Portal, _t: Tenant) -> Expected:
    response = act(
        portal.client(),
        "/signup",
        {
            "account_name": "Initech",
            "login": "peter",
            "email": "peter@initech.example.com",
            "first_name": "Peter",
            "last_name": "Gibbons",
            "password": "tps reports need cover sheets",
            "password_confirmation": "tps reports need cover sheets",
        },
    )
    owner = _user(portal, "peter")
    return Expected(response, owner, "user", str(owner.id), owner.account_id, "peter")


def user_create(portal: Portal, t: Tenant) -> Expected:
    response = act(portal.client(t.admin), users_url(t), NEW_USER)
    return Expected(response, t.admin, "user", str(_user(portal, "grace").id), t.id, "grace")


def user_update(portal: Portal, t: Tenant) -> Expected:
    member = portal.get(User, t.member.id)
    form = {
        "login": member.login,
        "email": member.email,
        "first_name": "Renamed",
        "last_name": member.last_name,
        "version": str(member.version),
    }
    response = act(portal.client(t.admin), users_url(t, f"/{member.id}/edit"), form)
    return Expected(response, t.admin, "user", str(member.id), t.id)


def user_set_password(portal: Portal, t: Tenant) -> Expected:
    form = {"password": "a brand new secret phrase", "password_confirmation": "a brand new secret phrase"}
    response = act(portal.client(t.admin), users_url(t, f"/{t.member.id}/password"), form)
    return Expected(response, t.admin, "user", str(t.member.id), t.id)


def user_reset_mfa(portal: Portal, t: Tenant) -> Expected:
    with portal.app.app_context():
        db.session.execute(update(User).where(User.id == t.member.id).values(mfa_enabled=True))
        db.session.commit()
    response = act(portal.client(t.admin), users_url(t, f"/{t.member.id}/reset-mfa"), {"reason": "lost phone"})
    return Expected(response, t.admin, "user", str(t.member.id), t.id)


def user_disable(portal: Portal, t: Tenant) -> Expected:
    response = act(portal.client(t.admin), users_url(t, f"/{t.member.id}/disable"))
    return Expected(response, t.admin, "user", str(t.member.id), t.id)


def user_enable(portal: Portal, t: Tenant) -> Expected:
    with portal.app.app_context():
        db.session.execute(update(User).where(User.id == t.member.id).values(status="disabled"))
        db.session.commit()
    response = act(portal.client(t.admin), users_url(t, f"/{t.member.id}/enable"))
    return Expected(response, t.admin, "user", str(t.member.id), t.id)


def user_delete(portal: Portal, t: Tenant) -> Expected:
    response = act(portal.client(t.admin), users_url(t, f"/{t.member.id}/delete"))
    return Expected(response, t.admin, "user", str(t.member.id), t.id, "member-a")


def user_lockout_clear(portal: Portal, t: Tenant) -> Expected:
    response = act(portal.client(t.owner), users_url(t, f"/{t.member.id}/lockout/clear"))
    return Expected(response, t.owner, "user", str(t.member.id), t.id)


def _made(portal: Portal, model: type, **where: Any) -> Any:
    with portal.app.app_context():
        return db.session.scalars(select(model).filter_by(**where)).one()


def role_create(portal: Portal, t: Tenant) -> Expected:
    response = act(
        portal.client(t.admin), f"/accounts/{t.id}/roles", {"name": "Helpdesk", "permissions": ["users:read"]}
    )
    from portal.models import Role

    role = _made(portal, Role, account_id=t.id, name="Helpdesk")
    return Expected(response, t.admin, "role", str(role.id), t.id)


def role_grant(portal: Portal, t: Tenant) -> Expected:
    auditor = role_named(portal, t, "auditor")
    response = act(
        portal.client(t.admin), users_url(t, f"/{t.member.id}/roles"), {"role_id": str(auditor.id), "default": "y"}
    )
    return Expected(response, t.admin, "user", str(t.member.id), t.id)


def group_create(portal: Portal, t: Tenant) -> Expected:
    from portal.models import Group

    response = act(portal.client(t.admin), f"/accounts/{t.id}/groups", {"name": "Night shift"})
    group = _made(portal, Group, account_id=t.id, name="Night shift")
    return Expected(response, t.admin, "group", str(group.id), t.id)


def group_members_add(portal: Portal, t: Tenant) -> Expected:
    from portal.models import Group

    act(portal.client(t.admin), f"/accounts/{t.id}/groups", {"name": "Day shift"})
    group = _made(portal, Group, account_id=t.id, name="Day shift")
    response = act(portal.client(t.admin), f"/accounts/{t.id}/groups/{group.id}/members", {"members": str(t.member.id)})
    return Expected(response, t.admin, "group", str(group.id), t.id)


def invitation_create(portal: Portal, t: Tenant) -> Expected:
    from portal.models import Invitation

    response = act(portal.client(t.admin), f"/accounts/{t.id}/invitations", {"emails": "newbie@example.com"})
    invitation = _made(portal, Invitation, account_id=t.id, email="newbie@example.com")
    return Expected(response, t.admin, "invitation", str(invitation.id), t.id)


def me_change_password(portal: Portal, t: Tenant) -> Expected:
    form = {
        "current_password": PASSWORD,
        "password": "a fresh passphrase of mine",
        "password_confirmation": "a fresh passphrase of mine",
    }
    response = act(portal.client(t.member), "/me/password", form)
    return _as_user(t.member, response)


def me_update_profile(portal: Portal, t: Tenant) -> Expected:
    response = act(portal.client(t.member), "/me", {"email": "member-a@example.com", "city": "Oslo"})
    return _as_user(t.member, response)


def me_api_key_create(portal: Portal, t: Tenant) -> Expected:
    response = act(portal.client(t.member), "/me/api-keys", {"name": "ci"})
    return _as_user(t.member, response)


def account_update(portal: Portal, t: Tenant) -> Expected:
    response = act(portal.client(t.owner), f"/accounts/{t.id}/settings", {"name": "Renamed Inc"})
    return Expected(response, t.owner, "account", str(t.id), t.id)


ACTIONS: dict[str, Callable[[Portal, Tenant], Expected]] = {
    "role.create": role_create,
    "role.grant": role_grant,
    "group.create": group_create,
    "group.members.add": group_members_add,
    "invitation.create": invitation_create,
    "me.change_password": me_change_password,
    "me.update_profile": me_update_profile,
    "me.api_key_create": me_api_key_create,
    "account.update": account_update,
    "auth.sign_in": sign_in,
    "auth.sign_in_failed": sign_in_failure,
    "auth.sign_out": sign_out,
    "account.create": sign_up,
    "user.create": user_create,
    "user.update": user_update,
    "user.set_password": user_set_password,
    "user.reset_mfa": user_reset_mfa,
    "user.disable": user_disable,
    "user.enable": user_enable,
    "user.delete": user_delete,
    "user.lockout_clear": user_lockout_clear,
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_action_leaves_exactly_one_event(portal: Portal, action: str) -> None:
    tenant = portal.tenant("A")
    expected = ACTIONS[action](portal, tenant)
    assert expected.response.status_code < 400 or action == "auth.sign_in_failed", expected.response.get_data(
        as_text=True
    )[:300]
    correlation = expected.response.headers["X-Correlation-Id"]
    assert correlation.startswith("audit-case-")
    with portal.app.app_context():
        caused = list(db.session.scalars(select(AuditEvent).where(AuditEvent.correlation_id == correlation)))
    matching = [e for e in caused if e.action == action]
    assert len(matching) == 1, [e.action for e in caused]
    event = matching[0]
    if expected.actor is None:
        assert (event.actor_id, event.actor_label) == (None, "")
    else:
        assert (event.actor_id, event.actor_label) == (expected.actor.id, expected.actor.login)
    assert (event.target_type, event.target_id) == (expected.target_type, expected.target_id)
    if expected.target_label is not None:
        assert event.target_label == expected.target_label
    assert event.account_id == expected.account_id
    assert event.ip_address == "127.0.0.1" and event.user_agent.startswith("Werkzeug/")


# --- nothing secret in an event or a log line --------------------------------------------------


class AllLines(logging.Handler):
    """Every record of every logger, formatted with its arguments."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage() + (self.format(record) if record.exc_info else ""))


@pytest.fixture
def all_log_lines() -> Iterator[AllLines]:
    handler = AllLines()
    handler.setFormatter(logging.Formatter())
    root = logging.getLogger()
    loggers = [root, logging.getLogger(request_log.REQUEST_LOGGER), logging.getLogger(request_log.EVENT_LOGGER)]
    old_level = root.level
    root.setLevel(logging.DEBUG)
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)
    root.setLevel(old_level)


def test_no_password_token_or_code_reaches_an_event_or_a_log_line(
    portal: Portal, all_log_lines: AllLines, caplog: pytest.LogCaptureFixture
) -> None:
    """H4: sign in, fail, sign up, create a user, set a password, accept an invitation, reset a
    password, pass the MFA step; then grep every stored event and every log record."""
    caplog.set_level(logging.DEBUG)
    t = portal.tenant("A")
    secrets_used = [
        PASSWORD,
        "wrong-Secret-guess-1",
        "tps reports need cover sheets",
        NEW_USER["password"],
        "a brand new secret phrase",
        "violet harbor lantern 42",
        "lighthouse keepers knit sweaters",
    ]

    act(
        portal.client(),
        "/login",
        {"account": portal.sign_in_name(t.member), "login": t.member.login, "password": "wrong-Secret-guess-1"},
    )
    portal.client(t.member)
    sign_up(portal, t)
    user_create(portal, t)
    user_set_password(portal, t)

    admin = portal.client(t.admin)
    role = role_named(portal, t.account, "member")
    admin.post(f"/accounts/{t.id}/invitations", {"emails": "new@example.com", "roles": [str(role.id)]})
    invite = invitation_token(portal, "new@example.com")
    secrets_used.append(invite)
    invited = portal.client()
    invited.get(f"/invitations/accept/{invite}")
    accepted = invited.post(
        f"/invitations/accept/{invite}",
        {
            "login": "jdoe",
            "first_name": "Jane",
            "last_name": "Doe",
            "password": "violet harbor lantern 42",
            "password_confirmation": "violet harbor lantern 42",
        },
    )
    assert accepted.status_code == 303

    portal.client().post("/password-reset", {"account": portal.sign_in_name(t.auditor), "login": t.auditor.email})
    with portal.app.app_context():
        body = db.session.scalars(select(OutboxEmail.body_text).where(OutboxEmail.kind == "password_reset")).one()
    reset = re.search(r"/password-reset/(\S+)", body).group(1)  # type: ignore[union-attr]
    secrets_used.append(reset)
    resetting = portal.client()
    assert resetting.get(f"/password-reset/{reset}").headers["Location"] == "/password-reset/choose"
    done = resetting.post(
        "/password-reset/choose",
        {"password": "lighthouse keepers knit sweaters", "password_confirmation": "lighthouse keepers knit sweaters"},
    )
    assert done.status_code == 303

    secret = mfa.new_secret()
    with portal.app.app_context():
        db.session.execute(
            update(User)
            .where(User.id == t.group_manager.id)
            .values(mfa_secret=mfa.seal(secret), mfa_enabled=True, mfa_last_counter=None)
        )
        db.session.commit()
    client = portal.client()
    client.post(
        "/login",
        {"account": portal.sign_in_name(t.group_manager), "login": t.group_manager.login, "password": PASSWORD},
    )
    client.post("/login/mfa", {"code": "123456" if pyotp.TOTP(secret).now() != "123456" else "654321"})
    code = pyotp.TOTP(secret).now()
    assert client.post("/login/mfa", {"code": code}).status_code == 303
    secrets_used += [secret]  # (a 6-digit code is too short to grep for without false alarms)

    with portal.app.app_context():
        events = list(db.session.scalars(select(AuditEvent)))
        hashes = [h for h in db.session.scalars(select(User.password_hash)) if h]
        throttles = list(db.session.scalars(select(LoginThrottle.key)))
    stored = "\n".join(
        json.dumps(
            {c.name: str(getattr(e, c.key)) for c in AuditEvent.__table__.columns} | {"changes": e.changes}, default=str
        )
        for e in events
    )
    logged = "\n".join(all_log_lines.lines + [r.getMessage() for r in caplog.records])
    assert len(events) >= 15 and '"event":"request"' in logged and "auth.sign_in_failed" in stored
    for text in secrets_used + hashes:
        assert text not in stored, text
        assert text not in logged, text
        assert all(text not in key for key in throttles)
    assert "$argon2" not in stored and "$argon2" not in logged
