"""The permission catalogue, the built-in roles, and how a view declares who may open it.

Views only *declare* their access with @require, @signed_in or @public; the one check runs
in portal.access before every request, so a view without a declaration is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any, TypeVar

from flask import g

F = TypeVar("F", bound=Callable[..., Any])


class Permission(StrEnum):
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    USERS_PASSWORD = "users:password"
    USERS_MFA_RESET = "users:mfa_reset"
    INVITATIONS_READ = "invitations:read"
    INVITATIONS_WRITE = "invitations:write"
    ROLES_READ = "roles:read"
    ROLES_WRITE = "roles:write"
    GROUPS_READ = "groups:read"
    GROUPS_WRITE = "groups:write"
    AUDIT_READ = "audit:read"
    ACCOUNT_MANAGE = "account:manage"

    @property
    def description(self) -> str:
        """What holding the permission allows, in words for the roles page."""
        return DESCRIPTIONS[self]


DESCRIPTIONS: dict[Permission, str] = {
    Permission.USERS_READ: "See the account's users and their profiles",
    Permission.USERS_WRITE: "Create, edit, disable, enable and delete users",
    Permission.USERS_PASSWORD: "Set another user's password",
    Permission.USERS_MFA_RESET: "Reset another user's multi-factor authentication",
    Permission.INVITATIONS_READ: "See invitations",
    Permission.INVITATIONS_WRITE: "Invite people, resend and revoke invitations",
    Permission.ROLES_READ: "See roles and who holds them",
    Permission.ROLES_WRITE: "Create, edit and delete custom roles, and assign roles",
    Permission.GROUPS_READ: "See groups and their members",
    Permission.GROUPS_WRITE: "Create, edit and delete groups and change their members",
    Permission.AUDIT_READ: "Read the audit log",
    Permission.ACCOUNT_MANAGE: "Change the account's settings",
}

ALL_PERMISSIONS: frozenset[Permission] = frozenset(Permission)

BUILTIN_ROLES: dict[str, tuple[str, frozenset[Permission]]] = {
    "account-admin": ("Everything in the account", ALL_PERMISSIONS),
    "user-manager": (
        "Manages users and invitations",
        frozenset(
            {
                Permission.USERS_READ,
                Permission.USERS_WRITE,
                Permission.USERS_PASSWORD,
                Permission.USERS_MFA_RESET,
                Permission.INVITATIONS_READ,
                Permission.INVITATIONS_WRITE,
                Permission.GROUPS_READ,
                Permission.ROLES_READ,
            }
        ),
    ),
    "group-manager": (
        "Manages groups and their members",
        frozenset({Permission.GROUPS_READ, Permission.GROUPS_WRITE, Permission.USERS_READ}),
    ),
    "auditor": (
        "Reads everything and the audit log, changes nothing",
        frozenset(p for p in Permission if p.value.endswith(":read")),
    ),
    "member": ("Self-service only", frozenset()),
}

# Access markers a view carries; portal.access reads them.
PUBLIC = "public"
SIGNED_IN = "signed-in"
API_KEY = "api-key"
SCIM_TOKEN = "scim-token"


def require(*permissions: Permission) -> Callable[[F], F]:
    """Declare that a view needs all of these permissions in the current account."""

    def mark(view: F) -> F:
        view._access = frozenset(permissions)  # type: ignore[attr-defined]
        return view

    return mark


def require_api_key(*permissions: Permission) -> Callable[[F], F]:
    """Declare a JSON API view: an API key (never a session cookie) with these permissions."""

    def mark(view: F) -> F:
        view._access = (API_KEY, frozenset(permissions))  # type: ignore[attr-defined]
        return view

    return mark


def require_scim_token(view: F) -> F:
    """Declare a SCIM view: the account's provisioning token (never a session cookie or an API key)."""
    view._access = SCIM_TOKEN  # type: ignore[attr-defined]
    return view


def signed_in(view: F) -> F:
    """Declare that any signed-in person may open the view (self-service pages)."""
    view._access = SIGNED_IN  # type: ignore[attr-defined]
    return view


def public(view: F) -> F:
    """Declare that anyone may open the view, signed in or not."""
    view._access = PUBLIC  # type: ignore[attr-defined]
    return view


def parse_permissions(values: Iterable[str]) -> frozenset[Permission]:
    """Known permissions among stored strings; unknown ones (from an older release) are dropped."""
    known = {p.value for p in Permission}
    return frozenset(Permission(v) for v in values if v in known)


def can(permission: Permission | str) -> bool:
    """Whether the signed-in person holds the permission in the current request's account.

    g.permissions exists only once portal.access has signed the request in, so it alone answers
    (templates call this often; the current_user proxy costs more than the lookup).
    """
    held: frozenset[Permission] | None = g.get("permissions")
    return held is not None and permission in held
