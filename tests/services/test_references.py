"""portal.references: a role or group named by id in a form is the account's own, or a 404."""

from __future__ import annotations

import uuid

import pytest

from portal import references
from portal.errors import NotFound
from portal.models import Group, Role
from tests.helpers import Portal, make_group, role_named


def test_one_in_account_finds_only_the_accounts_own(portal: Portal) -> None:
    mine, _ = portal.account("Mine", login="mine")
    theirs, _ = portal.account("Theirs", login="theirs")
    group = make_group(portal, mine, "Engineering")
    foreign = make_group(portal, theirs, "Engineering")
    role = role_named(portal, mine, "member")
    assert role is not None
    with portal.app.app_context():
        assert references.one_in_account(Group, mine.id, str(group.id)).id == group.id
        assert references.one_in_account(Role, mine.id, str(role.id)).id == role.id
        for raw in (str(foreign.id), str(uuid.uuid4()), "not-an-id", "", None):
            with pytest.raises(NotFound):
                references.one_in_account(Group, mine.id, raw)


def test_names_in_lists_the_accounts_own_by_name(portal: Portal) -> None:
    mine, _ = portal.account("Mine", login="mine")
    theirs, _ = portal.account("Theirs", login="theirs")
    make_group(portal, mine, "Zeta")
    make_group(portal, mine, "Alpha")
    make_group(portal, theirs, "Other")
    with portal.app.app_context():
        assert [row.name for row in references.names_in(Group, mine.id)] == ["Alpha", "Zeta"]
