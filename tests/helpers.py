"""Test helpers: typed factories, a client that carries the CSRF token, the tenants of SECURITY.md."""

from __future__ import annotations

import re
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from werkzeug.test import TestResponse

from portal import db
from portal.accounts.services import OwnerDetails, create_account
from portal.actors import Actor
from portal.auth.passwords import hash_password
from portal.models import Account, AuditEvent, Role, RoleAssignment, User
from portal.permissions import ALL_PERMISSIONS

PASSWORD = "correct-horse-battery-staple"
HX = {"HX-Request": "true"}
_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_HASH_CACHE: dict[str, str] = {}
# The users of a tenant, by attribute name, and the built-in role each holds.
TENANT_ROLES = {
    "admin": "account-admin",
    "user_manager": "user-manager",
    "group_manager": "group-manager",
    "auditor": "auditor",
    "member": "member",
    "no_role": None,
}


def sign_in_name_of(app: Flask, login: str) -> str:
    """The sign-in name of the one account that has a user with this login or email (tests only)."""
    with app.app_context():
        names = db.session.scalars(
            select(Account.sign_in_name)
            .join(User, User.account_id == Account.id)
            .where((User.login == login.lower()) | (User.email == login.lower()))
        ).all()
    assert len(names) == 1, f"{login!r} is in {len(names)} accounts: say which"
    return names[0]


def csrf_token_in(html: str) -> str:
    """The CSRF token a page carries in its layout."""
    match = _TOKEN.search(html)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


def _hash(password: str) -> str:
    # Hashing is deliberately slow; tests reuse one hash per password.
    if password not in _HASH_CACHE:
        _HASH_CACHE[password] = hash_password(password)
    return _HASH_CACHE[password]


class Client:
    """A test client that posts with its session's CSRF token unless told not to."""

    def __init__(self, flask_client: FlaskClient) -> None:
        self.raw = flask_client

    def get(self, url: str, hx: bool = False, **kwargs: Any) -> TestResponse:
        return self.raw.get(url, headers=HX if hx else None, **kwargs)

    def csrf(self) -> str:
        """A fresh token for this session: every page in the layout carries one (a 404 will do)."""
        return csrf_token_in(self.raw.get("/__csrf__").get_data(as_text=True))

    def post(
        self, url: str, data: dict[str, Any] | None = None, hx: bool = False, csrf: bool = True, **kwargs: Any
    ) -> TestResponse:
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf())
        return self.raw.post(url, data=data, headers=HX if hx else None, **kwargs)

    def sign_in(self, login: str, password: str = PASSWORD, account: str | None = None) -> TestResponse:
        """Sign in to the account with that sign-in name (by default: the one account holding the login)."""
        if account is None:
            account = sign_in_name_of(self.raw.application, login)
        response = self.post("/login", {"account": account, "login": login, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return response


@dataclass
class Tenant:
    """An account with one user per built-in role, plus one with no role (SECURITY.md fixtures)."""

    account: Account
    owner: User
    users: dict[str, User] = field(default_factory=dict)

    @property
    def id(self) -> uuid.UUID:
        return self.account.id

    def __getattr__(self, name: str) -> User:
        try:
            return self.__dict__["users"][name]
        except KeyError:
            raise AttributeError(name) from None


class Portal:
    """Factories that commit, and signed-in clients."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def account(
        self, name: str = "Acme", login: str = "owner", email: str | None = None, password: str = PASSWORD
    ) -> tuple[Account, User]:
        with self.app.app_context():
            account, owner = create_account(name, OwnerDetails(login, email or f"{login}@example.com", "x" * 12))
            owner.password_hash = _hash(password)
            db.session.commit()
            return account, owner

    def user(
        self,
        account: Account,
        login: str,
        roles: tuple[str, ...] = ("member",),
        password: str = PASSWORD,
        default: bool = True,
        **fields: Any,
    ) -> User:
        with self.app.app_context():
            fields.setdefault("email", f"{login}@example.com")
            fields.setdefault("first_name", login.title())
            user = User(account_id=account.id, login=login, password_hash=_hash(password), **fields)
            db.session.add(user)
            db.session.flush()
            for name in roles:
                role_id = db.session.scalar(select(Role.id).where(Role.account_id == account.id, Role.name == name))
                db.session.add(RoleAssignment(user_id=user.id, role_id=role_id, is_default=default))
            db.session.commit()
            return user

    def tenant(self, name: str = "A") -> Tenant:
        account, owner = self.account(f"Tenant {name}", login=f"owner-{name.lower()}")
        tenant = Tenant(account, owner)
        for key, role in TENANT_ROLES.items():
            roles = (role,) if role else ()
            tenant.users[key] = self.user(account, f"{key.replace('_', '-')}-{name.lower()}", roles=roles)
        return tenant

    def client(self, user: User | None = None, password: str = PASSWORD) -> Client:
        client = Client(self.app.test_client())
        if user is not None:
            client.sign_in(user.login, password, account=self.sign_in_name(user))
        return client

    def sign_in_name(self, user: User) -> str:
        """The sign-in name of the user's account."""
        return str(self.scalar(select(Account.sign_in_name).where(Account.id == user.account_id)))

    def get(self, model: type, id_: Any) -> Any:
        """A fresh copy of a row, read outside any request."""
        with self.app.app_context():
            return db.session.get(model, id_)

    def scalar(self, statement: Any) -> Any:
        with self.app.app_context():
            return db.session.scalar(statement)

    def count_statements(self) -> StatementCounter:
        return StatementCounter(self.app)


class CallCounter:
    """Counts the Python function calls made while the block runs, by function: the CPU work of a page measured
    without a clock, so that a test can say how much a row costs (`with CallCounter() as calls: ...`)."""

    def __init__(self, outside: Callable[..., Any] | None = None) -> None:
        self.by_function: Counter[str] = Counter()
        # Calls made inside this function (a view, say) are not counted: what a request costs around it.
        self._skipped = outside.__code__ if outside is not None else None
        self._inside: FrameType | None = None

    @property
    def count(self) -> int:
        return sum(self.by_function.values())

    def _on_event(self, frame: FrameType, event_name: str, _arg: object) -> None:
        if self._inside is not None:
            if event_name == "return" and frame is self._inside:
                self._inside = None
            return
        if event_name == "call":
            code = frame.f_code
            if code is self._skipped:
                self._inside = frame
                return
            self.by_function[f"{code.co_filename}:{code.co_name}"] += 1

    def __enter__(self) -> CallCounter:
        sys.setprofile(self._on_event)
        return self

    def __exit__(self, *_exc: Any) -> None:
        sys.setprofile(None)

    @property
    def statements_built(self) -> dict[str, int]:
        """SQLAlchemy's select() and .where() calls: a page whose statements are built once and bound per call
        makes none (issue 20: building them cost ~15 % of a page)."""
        builders = ("sql/_selectable_constructors.py:select", "sql/selectable.py:where")
        return {name: n for name, n in self.by_function.items() if name.endswith(builders)}


class StatementCounter:
    """Counts SQL statements sent while the block runs: `with portal.count_statements() as n: ...`."""

    def __init__(self, app: Flask) -> None:
        self.engine = app.extensions["portal.engine"]
        self.count = 0

    def _on_execute(self, *_args: Any) -> None:
        self.count += 1

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(self, *_exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)


def account_url(account: Account | Tenant, path: str = "") -> str:
    return f"/accounts/{account.id}{path}"


def users_url(tenant: Tenant, path: str = "") -> str:
    return f"/accounts/{tenant.id}/users{path}"


def edit_form(user: User, **changes: str) -> dict[str, str]:
    """The user edit form as the page fills it in for this user (read fresh), with the given changes."""
    fields = (
        "login",
        "email",
        "first_name",
        "last_name",
        "company_name",
        "address",
        "postal_code",
        "city",
        "state",
        "country",
        "phone",
    )
    return {**{f: getattr(user, f) for f in fields}, "version": str(user.version), **changes}


def events(portal: Portal, action: str) -> list[AuditEvent]:
    """The audit events of one action, read fresh outside any request."""
    with portal.app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def count(portal: Portal, model: type, *where: Any) -> int:
    """How many rows of a model there are (matching the conditions), read fresh outside any request."""
    return int(portal.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def actor_of(user_id: uuid.UUID, via: str | None = None) -> Actor:
    """The user as the actor a service takes, with every permission they hold now (inside an app context)."""
    from portal.roles.policy import held_permissions

    user = db.session.get(User, user_id)
    assert user is not None
    return Actor(user, ALL_PERMISSIONS if user.is_owner else held_permissions([user.id])[user.id], via=via)


def make_role(
    portal: Portal,
    account: Account,
    name: str,
    permissions: tuple[str, ...] = (),
    holders: tuple[User, ...] = (),
    default: bool = True,
    description: str = "",
) -> Role:
    """A custom role of the account, held by the given users (roles tests, the authorization matrix)."""
    with portal.app.app_context():
        role = Role(
            account_id=account.id, name=name, description=description, permissions=sorted(permissions), is_builtin=False
        )
        db.session.add(role)
        db.session.flush()
        for user in holders:
            db.session.add(RoleAssignment(user_id=user.id, role_id=role.id, is_default=default))
        db.session.commit()
        return role


def role_named(portal: Portal, account: Account, name: str) -> Role | None:
    """The account's role of that name, read fresh."""
    return portal.scalar(select(Role).where(Role.account_id == account.id, Role.name == name))


def make_group(
    portal: Portal, account: Account, name: str = "Engineering", members: tuple[User, ...] = (), description: str = ""
) -> Any:
    """A group of the account with these members (groups tests)."""
    from portal.models import Group, GroupMember

    with portal.app.app_context():
        group = Group(account_id=account.id, name=name, description=description)
        db.session.add(group)
        db.session.flush()
        db.session.add_all(GroupMember(group_id=group.id, user_id=user.id) for user in members)
        db.session.commit()
        return group


def add_many_members(portal: Portal, account: Account, group: Any, n: int, prefix: str = "bulk") -> None:
    """n new users of the account, all members of the group, inserted in bulk (paging and scale tests)."""
    from datetime import timedelta

    from sqlalchemy import insert

    from portal.db import utcnow
    from portal.models import GroupMember

    start = utcnow() - timedelta(days=1)
    users = [
        {
            "id": uuid.uuid4(),
            "account_id": account.id,
            "login": f"{prefix}{i:06d}",
            "email": f"{prefix}{i:06d}@example.com",
            "first_name": "Bulk",
            "last_name": f"Person{i:06d}",
        }
        for i in range(n)
    ]
    members = [
        {"id": uuid.uuid4(), "group_id": group.id, "user_id": user["id"], "created_at": start + timedelta(seconds=i)}
        for i, user in enumerate(users)
    ]
    with portal.app.app_context():
        for i in range(0, n, 1000):  # a commit per chunk: the user-count trigger's row stays small
            db.session.execute(insert(User), users[i : i + 1000])
            db.session.execute(insert(GroupMember), members[i : i + 1000])
            db.session.commit()


INVITE_LINK = re.compile(r"(https?://[^/\s\"<>]+)/invitations/accept/([A-Za-z0-9_-]+)")


def emails_to(portal: Portal, address: str) -> list[Any]:
    """The outbox emails to an address, oldest first, read fresh."""
    from portal.models import OutboxEmail

    with portal.app.app_context():
        return list(
            db.session.scalars(
                select(OutboxEmail).where(OutboxEmail.to_address == address).order_by(OutboxEmail.created_at)
            )
        )


def invitation_token(portal: Portal, address: str) -> str:
    """The accept-link token in the latest invitation email to the address."""
    match = INVITE_LINK.search(emails_to(portal, address)[-1].body_text)
    assert match, "no invitation link in the email"
    return match.group(2)


def add_many_users(portal: Portal, account: Account, n: int, prefix: str = "many", **fields: Any) -> list[uuid.UUID]:
    """n new active users of the account, inserted in bulk (jobs and scale tests); their ids."""
    from sqlalchemy import insert

    users = [
        {
            "id": uuid.uuid4(),
            "account_id": account.id,
            "login": f"{prefix}{i:06d}",
            "email": f"{prefix}{i:06d}@example.com",
            "first_name": "Many",
            "last_name": f"Person{i:06d}",
            "status": "active",
            **fields,
        }
        for i in range(n)
    ]
    with portal.app.app_context():
        for i in range(0, n, 1000):
            db.session.execute(insert(User), users[i : i + 1000])
            db.session.commit()
    return [user["id"] for user in users]


def run_jobs(portal: Portal, batch: int = 200, max_batches: int = 100_000) -> int:
    """Run every queued job to its end in this process, as the worker would (batches, each committed)."""
    from portal.jobs import services as jobs

    batches = 0
    with portal.app.app_context():
        while batches < max_batches:
            held = jobs.claim()
            if held is None:
                break
            more = True
            while batches < max_batches and (more := jobs.run_batch(held, batch)):
                batches += 1
                db.session.remove()  # as the worker does: a fresh session for each batch
            if more:
                jobs.release(held)  # stopped half-way, as a worker stopping gracefully does
            db.session.remove()
    return batches
