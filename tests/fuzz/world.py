"""The fixture the fuzz runs against: two tenants with a few users, roles, groups and invitations, the
signed-in people, and the pools of real, foreign and missing values for every URL argument."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient
from itsdangerous import BadSignature

from portal import actors, db
from portal.auth import mfa
from portal.me.credentials import create_api_key
from portal.models import User, UserStatus
from tests import db_state
from tests.helpers import PASSWORD, Portal, Tenant, csrf_token_in, emails_to, make_group, make_role

MFA_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
MISSING = str(uuid.UUID(int=0x5EED_0000_0000_4000_8000_0000_0000_0001))  # an id no row has
_LINK_TOKEN = re.compile(r"/(?:invitations/accept|password-reset)/([A-Za-z0-9_-]{16,})")
# Argument names whose table is not "<name>s".
TABLES = {"key_id": "api_keys", "session_id": "login_sessions"}


@dataclass
class Person:
    """A browser: its test client, the user it signs in as (None: nobody) and its current CSRF token."""

    portal: Portal
    user: Any
    probe: str | None = None  # a page that sends this browser to the sign-in page once its session is gone
    client: FlaskClient = field(init=False)
    token: str = field(init=False, default="")
    _secret: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.sign_in()

    def sign_in(self) -> None:
        """A new browser, signed in as the user (through the helpers' sign-in, whatever the form asks)."""
        self.client = self.portal.client(self.user).raw if self.user is not None else self.portal.app.test_client()
        self.refresh_token()

    def refresh_token(self) -> None:
        self.token = csrf_token_in(self.client.get("/__csrf__").get_data(as_text=True))
        self._secret = self._session().get("csrf_token")

    def keep_token(self) -> None:
        """After an answer: a new token only if the session's CSRF secret changed (it is signed into the token),
        read from the cookie rather than asked for with a request."""
        if self._session().get("csrf_token") != self._secret:
            self.refresh_token()

    def _session(self) -> dict[str, Any]:
        app = self.portal.app
        cookie = self.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
        if cookie is None:
            return {}
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        try:
            return dict(serializer.loads(cookie.value))
        except BadSignature:  # not a cookie this app signed: the token gets asked for again
            return {}


@dataclass
class World:
    """Tenant A (the one fuzzed) and tenant B (whose rows nobody in A may touch), and their values."""

    portal: Portal
    a: Tenant
    b: Tenant
    api_key: str
    tokens: list[str]
    mfa_user: Any  # signs in halfway: the password given, the code asked for
    baseline: db_state.Dump = field(default_factory=dict)
    fingerprint: tuple[Any, ...] = ()
    mark: Any = None  # db_state.write_mark() when the database was last known to be the baseline
    owners: dict[Any, str] = field(default_factory=dict)  # row id -> "A" or "B"

    def settle(self) -> None:
        """Take the baseline the fuzz restores after each accepted change, and learn whose each row is."""
        self.baseline = db_state.take(self.portal.app)
        self.fingerprint = db_state.fingerprint(self.portal.app)
        self.mark = db_state.write_mark(self.portal.app)
        owners: dict[Any, str] = {self.a.id: "A", self.b.id: "B"}
        for _ in range(3):  # rows point at rows that point at the account: follow the chain
            for rows in self.baseline.values():
                for row in rows.values():
                    rid = row.get("id")
                    if rid is None or rid in owners:
                        continue
                    for name, value in row.items():
                        if name.endswith("_id") and value in owners:
                            owners[rid] = owners[value]
                            break
        self.owners = owners

    def touches_b(self, row: dict[str, Any]) -> bool:
        """Whether a row is tenant B's or points at one of B's rows."""
        return any(self.owners.get(value) == "B" for value in row.values() if isinstance(value, uuid.UUID))

    def ids(self, table: str | None, tenant: str) -> list[str]:
        """The ids of a table's rows (all tables when None) that belong to tenant "A" or "B"."""
        tables = [table] if table else list(self.baseline)
        return sorted(
            str(row["id"])
            for name in tables
            for row in self.baseline.get(name, {}).values()
            if "id" in row and self.owners.get(row["id"]) == tenant
        )

    def strings(self, column: str, tenant: str) -> list[str]:
        """The values of every column of that name in the tenant's rows (logins, names, emails…)."""
        found = set()
        for rows in self.baseline.values():
            for row in rows.values():
                value = row.get(column)
                if isinstance(value, str) and 0 < len(value) <= 100 and self.owners.get(row.get("id")) == tenant:
                    found.add(value)
        return sorted(found)

    def related(self, names: list[str]) -> list[dict[str, str]]:
        """Values for several id arguments at once, taken from one of tenant A's rows that links them (a user
        and a role they hold, a group and one of its members): apart, they rarely belong together."""
        wanted = [name for name in names if name != "account_id" and name.endswith("_id")]
        if len(wanted) < 2:
            return []
        for table, rows in self.baseline.items():
            columns = next(iter(rows.values()), {}).keys()
            mapping = {
                name: name if name in columns else "id"
                for name in wanted
                if name in columns or (self.table_for(name) == table and "id" in columns)
            }
            if len(mapping) == len(wanted):
                return [
                    {name: str(row[column]) for name, column in mapping.items()}
                    for row in rows.values()
                    if self._tenant_of(row) == "A"
                ]
        return []

    def _tenant_of(self, row: dict[str, Any]) -> str | None:
        return next((self.owners[v] for v in row.values() if isinstance(v, uuid.UUID) and v in self.owners), None)

    def table_for(self, argument: str) -> str | None:
        if argument in TABLES:
            return TABLES[argument]
        if argument.endswith("_id"):
            plural = argument[:-3] + "s"
            return next((name for name in self.baseline if name == plural or name.endswith("_" + plural)), None)
        return None

    def argument_pool(self, name: str, converter: str) -> tuple[list[str], list[str]]:
        """(own values, foreign or missing values) for a URL argument."""
        if converter == "uuid" or name.endswith("_id"):
            table = self.table_for(name)
            own = self.ids(table, "A") or self.ids(None, "A")
            return own, [*self.ids(table, "B")[:4], MISSING]
        if "token" in name:
            return self.tokens, ["", "x", "a" * 43, "A" * 500]
        own = self.strings(name, "A") or self.strings("login", "A")
        return own, self.strings(name, "B")[:3] or ["nobody"]

    def words(self) -> list[str]:
        """Values people of both tenants would type: logins, emails, names of roles and groups."""
        return sorted(
            {
                value
                for tenant in ("A", "B")
                for column in ("login", "email", "name", "first_name")
                for value in self.strings(column, tenant)
            }
        )


def build(portal: Portal) -> World:
    """Two tenants; in A: custom roles, groups with members, two pending invitations, a disabled user, a user
    with MFA, an ownership transfer offered to the admin, an API key and a second session of the owner; the
    invitation and reset tokens their emails carry."""
    a, b = portal.tenant("A"), portal.tenant("B")
    for tenant in (a, b):
        slug = tenant.account.name[-1].lower()
        make_role(portal, tenant.account, f"support-{slug}", ("users:read", "groups:read"), holders=(tenant.member,))
        make_group(
            portal,
            tenant.account,
            f"Engineering {slug}",
            members=(tenant.member, tenant.no_role),
            description="Builds things",
        )
    make_role(portal, a.account, "auditors-plus", ("audit:read", "users:read"), holders=(a.auditor,), default=False)
    make_group(portal, a.account, "Sales", members=(a.admin,))
    make_group(portal, a.account, "Empty")
    portal.user(a.account, "gone-a", status=UserStatus.DISABLED.value)
    mfa_user = portal.user(a.account, "mfa-a", roles=("member",))
    owner = portal.client(a.owner)
    owner.post(f"/accounts/{a.id}/invitations", {"emails": "invitee-1@example.com\ninvitee-2@example.com"})
    owner.post(f"/accounts/{a.id}/transfer", {"new_owner_id": str(a.admin.id), "current_password": PASSWORD})
    portal.client(b.owner).post(f"/accounts/{b.id}/invitations", {"emails": "invitee-b@example.com"})
    portal.client().post("/password-reset", {"email": a.member.email})  # its form may ask for more: then no token
    with portal.app.app_context():
        mfa.enable(db.session.get(User, mfa_user.id), MFA_SECRET, step=0)
        maker = db.session.get(User, a.owner.id)
        api_key = create_api_key(maker, "fuzz", None, actor=actors.person(maker))
        db.session.commit()
    tokens = [
        match
        for address in ("invitee-1@example.com", a.member.email)
        for mail in emails_to(portal, address)
        for match in _LINK_TOKEN.findall(mail.body_text)
    ]
    world = World(portal, a, b, api_key, sorted(set(tokens)), mfa_user)
    world.settle()
    return world
