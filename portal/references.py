"""Roles and groups named by a program, a file or a form: by id or by name (any case), within one account."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import Row, func, literal, or_, select

from portal import db
from portal.errors import NotFound
from portal.models import Group, Role
from portal.uuids import parse_uuid

Named = TypeVar("Named", Role, Group)


def by_reference(model: type[Named], account_id: uuid.UUID, references: Sequence[str]) -> tuple[list[Named], list[str]]:
    """The account's rows named by id or name (any case), once each in the order given, and the references
    that name none (another account's id names none: SECURITY A3). One statement."""
    ids = {ref: parse_uuid(ref) for ref in references}
    names = {ref.lower() for ref, as_id in ids.items() if as_id is None}
    wanted_ids = {as_id for as_id in ids.values() if as_id is not None}
    found: list[Named] = (
        list(
            db.session.scalars(
                select(model).where(
                    model.account_id == account_id,
                    or_(
                        model.id.in_(wanted_ids) if wanted_ids else literal(False),
                        func.lower(model.name).in_(names) if names else literal(False),
                    ),
                )
            )
        )
        if references
        else []
    )
    by_id = {row.id: row for row in found}
    by_name = {row.name.lower(): row for row in found}
    rows: dict[uuid.UUID, Named] = {}
    unknown = []
    for ref, as_id in ids.items():
        row = by_id.get(as_id) if as_id is not None else by_name.get(ref.lower())
        if row is None:
            unknown.append(ref)
        else:
            rows.setdefault(row.id, row)
    return list(rows.values()), unknown


def one_in_account(model: type[Named], account_id: uuid.UUID, raw_id: str | None) -> Named:
    """The account's role (or group) with this id; NotFound when it is not an id, missing or another account's."""
    wanted = parse_uuid(raw_id or "")
    found = (
        None
        if wanted is None
        else db.session.scalars(select(model).where(model.id == wanted, model.account_id == account_id)).first()
    )
    if found is None:
        raise NotFound(f"No such {model.__name__.lower()} in this account.")
    return found


def names_in(model: type[Named], account_id: uuid.UUID) -> list[Row[tuple[uuid.UUID, str]]]:
    """The account's roles (or groups) as (id, name) rows by name, for pickers."""
    return list(
        db.session.execute(select(model.id, model.name).where(model.account_id == account_id).order_by(model.name))
    )
