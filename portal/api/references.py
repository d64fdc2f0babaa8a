"""Roles and groups named in request bodies, by name or id: every one must exist in the account (else 422).

Another account's id names nothing here, like an unknown one (SECURITY A3).
"""

from __future__ import annotations

import uuid

from portal.api.errors import ApiError
from portal.groups.queries import groups_by_reference
from portal.models import Group, Role
from portal.roles.queries import roles_by_reference


def roles_named(account_id: uuid.UUID, references: list[str], field: str = "roles") -> list[Role]:
    """The roles named; 422 naming the field when one is not a role of the account."""
    found, unknown = roles_by_reference(account_id, references)
    if unknown:
        raise ApiError.one(422, f"No such role in this account: {', '.join(unknown[:5])}.", field=field)
    return found


def groups_named(account_id: uuid.UUID, references: list[str], field: str = "groups") -> list[Group]:
    """The groups named; 422 naming the field when one is not a group of the account."""
    found, unknown = groups_by_reference(account_id, references)
    if unknown:
        raise ApiError.one(422, f"No such group in this account: {', '.join(unknown[:5])}.", field=field)
    return found
