"""A demo account with realistic people, roles and groups, for trying the portal out."""

from __future__ import annotations

import random
from datetime import timedelta
from functools import cache
from importlib import resources

from sqlalchemy import select

from portal import db
from portal.accounts import sign_in_names
from portal.accounts.services import OwnerDetails, create_account
from portal.auth.passwords import hash_password
from portal.db import utcnow
from portal.models import Account, Group, GroupMember, Role, RoleAssignment, User, UserStatus

DEMO_ACCOUNT = "Acme Robotics (demo)"
DEMO_SIGN_IN_NAME = "demo"
DEMO_LOGIN = "demo"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "violet-harbor-lantern-42"
GROUPS = {
    "Engineering": "Builds and runs the robots' software",
    "Sales": "Talks to customers",
    "Support": "Answers customers' questions",
    "Finance": "Pays the bills",
}
COMPANIES = ["Acme Robotics", "Acme Robotics GmbH", "Acme Robotics Ltd"]
CITIES = [("Berlin", "DE"), ("London", "GB"), ("Austin", "US"), ("Lyon", "FR"), ("Toronto", "CA")]


@cache
def names(kind: str) -> list[str]:
    """First or last names shipped in portal/data (from zxcvbn's frequency lists)."""
    return resources.files("portal").joinpath(f"data/{kind}-names.txt").read_text().split()


def seed_demo(user_count: int = 50, seed: int = 7) -> Account:
    """Create the demo account unless it exists; returns it."""
    existing = db.session.scalars(
        select(Account).join(User, User.account_id == Account.id).where(User.login == DEMO_LOGIN, User.is_owner)
    ).first()
    if existing is not None:
        return existing
    account, _owner = create_account(
        DEMO_ACCOUNT,
        OwnerDetails(DEMO_LOGIN, DEMO_EMAIL, DEMO_PASSWORD, "Dana", "Demo"),
        sign_in_name=None if sign_in_names.is_taken(DEMO_SIGN_IN_NAME) else DEMO_SIGN_IN_NAME,
    )
    roles = {role.name: role for role in db.session.scalars(select(Role).where(Role.account_id == account.id))}
    groups = [Group(account_id=account.id, name=name, description=text) for name, text in GROUPS.items()]
    db.session.add_all(groups)
    rng = random.Random(seed)
    password_hash = hash_password(DEMO_PASSWORD)  # once: demo users share the demo password
    now = utcnow()
    taken: set[str] = set()
    for _ in range(user_count):
        first, last = rng.choice(names("first")), rng.choice(names("last"))
        login = f"{first}.{last}".lower()
        while login in taken:
            login = f"{first}.{last}{rng.randint(2, 99)}".lower()
        taken.add(login)
        city, country = rng.choice(CITIES)
        status = rng.choices([UserStatus.ACTIVE, UserStatus.PENDING, UserStatus.DISABLED], [40, 6, 4])[0]
        user = User(
            account_id=account.id,
            login=login,
            email=f"{login}@example.com",
            first_name=first,
            last_name=last,
            company_name=rng.choice(COMPANIES),
            city=city,
            country=country,
            phone=f"+1 555 {rng.randint(1000, 9999)}",
            password_hash=None if status == UserStatus.PENDING else password_hash,
            status=status.value,
            mfa_enabled=rng.random() < 0.3 and status != UserStatus.PENDING,  # an invitee cannot set MFA up yet
            created_at=now - timedelta(days=rng.randint(1, 700)),
            last_login_at=None if status == UserStatus.PENDING else now - timedelta(hours=rng.randint(1, 2000)),
        )
        db.session.add(user)
        db.session.flush()
        role = rng.choices(["member", "user-manager", "group-manager", "auditor"], [30, 3, 3, 2])[0]
        db.session.add(RoleAssignment(user_id=user.id, role_id=roles[role].id, is_default=True))
        for group in rng.sample(groups, rng.randint(0, 2)):
            db.session.add(GroupMember(group_id=group.id, user_id=user.id))
    return account
