"""Creating an account: the account, its built-in roles and its owner, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from portal import db
from portal.accounts import sign_in_names
from portal.auth.passwords import hash_password
from portal.models import Account, Role, RoleAssignment, User, UserStatus
from portal.permissions import BUILTIN_ROLES


@dataclass(frozen=True)
class OwnerDetails:
    """Who the first person of a new account is."""

    login: str
    email: str
    password: str
    first_name: str = ""
    last_name: str = ""


def create_builtin_roles(account: Account) -> dict[str, Role]:
    """The built-in roles every account has, by name."""
    roles = {
        name: Role(
            account_id=account.id,
            name=name,
            description=description,
            permissions=sorted(p.value for p in permissions),
            is_builtin=True,
        )
        for name, (description, permissions) in BUILTIN_ROLES.items()
    }
    db.session.add_all(roles.values())
    return roles


def create_account(name: str, owner: OwnerDetails, sign_in_name: str | None = None) -> tuple[Account, User]:
    """A new account with its built-in roles and its owner (who also holds account-admin).

    Without a sign-in name, one is made from the account's name (portal.accounts.sign_in_names.suggest).
    """
    account = Account(
        name=name.strip(),
        sign_in_name=sign_in_names.normalise(sign_in_name) if sign_in_name else sign_in_names.suggest(name),
    )
    db.session.add(account)
    db.session.flush()
    roles = create_builtin_roles(account)
    user = User(
        account_id=account.id,
        login=owner.login.strip().lower(),
        email=owner.email.strip().lower(),
        first_name=owner.first_name.strip(),
        last_name=owner.last_name.strip(),
        password_hash=hash_password(owner.password),
        status=UserStatus.ACTIVE.value,
        is_owner=True,
    )
    db.session.add(user)
    db.session.flush()
    db.session.add(RoleAssignment(user_id=user.id, role_id=roles["account-admin"].id, is_default=True))
    return account, user
