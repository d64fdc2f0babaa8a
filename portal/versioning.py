"""The optimistic lock, once, for every edited aggregate: User, Invitation, Role and Group.

Each has an integer `version` column, SQLAlchemy's `version_id_col`: every UPDATE the session sends is
`... WHERE id = :id AND version = :read` and moves the version on, so a write that lost a race changes no
row and the session raises StaleDataError. An edit form carries the version it was drawn with in a hidden
VersionField; the JSON API takes it from If-Match (and answers it as the ETag), SCIM as a weak ETag.

A service that edits one of them:

    ensure_version(group, expected_version, submitted=changes)   # the form was drawn from an older version
    with saving(group, submitted=changes):                       # lost the race between read and write
        group.name = ...

Both raise StaleEdit (a 409): the object as it is now, and how it differs from what the editor submitted.
A route shows it in three lines, the same everywhere:

    except StaleEdit as stale:
        form.version.data = stale.fresh.version  # saving again now overwrites, knowingly
        return render("groups/form.html", "group_form", status=409, form=form, group=stale.fresh, stale=stale)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from portal import db
from portal.db import utcnow
from portal.errors import Conflict


class Versioned(Protocol):
    """A model with an optimistic-lock version (its mapper's version_id_col)."""

    version: int


# What each versioned model is called in the conflict message.
_NOUNS = {"User": "user", "Invitation": "invitation", "Role": "role", "Group": "group"}


def _noun(obj: object) -> str:
    return _NOUNS.get(type(obj).__name__, "item")


class StaleEdit(Conflict):
    """Someone else saved the object since the editor read it (409; the JSON API answers 412 when the request
    named the version it read in If-Match).

    `fresh`: the object as it is now (its new version included); `differences`: for each field the editor
    submitted that is stored differently now, (theirs, yours): the value saved now and the one submitted."""

    def __init__(self, fresh: Versioned, differences: Mapping[str, tuple[Any, Any]] | None = None) -> None:
        noun = _noun(fresh)
        super().__init__(
            f"Someone else changed this {noun} while you were editing it. "
            "Review their changes below: saving again replaces them with yours."
        )
        self.fresh = fresh
        self.noun = noun
        self.differences: dict[str, tuple[Any, Any]] = dict(differences or {})


def differences(
    obj: object, submitted: Mapping[str, Any] | None, current: Mapping[str, Any] | None = None
) -> dict[str, tuple[Any, Any]]:
    """The submitted fields whose stored value (`current`, else the object's attribute) differs:
    name -> (stored, submitted)."""
    now = current if current is not None else {name: getattr(obj, name, None) for name in submitted or {}}
    return {name: (now[name], value) for name, value in (submitted or {}).items() if name in now and now[name] != value}


def ensure_version(
    obj: Versioned,
    expected: int | None,
    *,
    submitted: Mapping[str, Any] | None = None,
    current: Mapping[str, Any] | None = None,
) -> None:
    """StaleEdit when the editor read another version than the object's; `expected` None: the change applies
    to the current version (an API write without If-Match, SCIM, an import), which `saving` still guards.

    `submitted`: the values the editor sent, to say what differs; `current`: the stored values of fields that
    are not attributes of the object (an invitation's roles), when the message should name them."""
    if expected is not None and expected != obj.version:
        raise StaleEdit(obj, differences(obj, submitted, current))


@contextmanager
def saving(obj: Versioned, *, submitted: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Make the changes to `obj` inside: they are written in a savepoint, conditional on the version read.

    When someone else wrote the row since (between our read and this write), nothing of the block is kept,
    the transaction stays usable, and StaleEdit carries the object as it is now."""
    try:
        with db.session.begin_nested():
            yield
    except StaleDataError:
        db.session.refresh(obj)
        raise StaleEdit(obj, differences(obj, submitted)) from None


def write_all(changes: Sequence[tuple[Versioned, Mapping[str, Any]]]) -> None:
    """Write new values to many loaded rows of versioned objects at once (a batch of a bulk action or an
    import): one `UPDATE ... WHERE id = ? AND version = ?` sent for many rows per model and set of columns,
    each row's version moved on (and its updated_at set) as a flush would; StaleDataError, as from a flush,
    when one of them lost a race. The objects are left holding the written values, as if read back.

    The session's flush writes a versioned object with an UPDATE of its own; this is the same write, batched."""
    batches: dict[tuple[type, tuple[str, ...]], list[tuple[Versioned, Mapping[str, Any]]]] = {}
    for obj, values in changes:
        if values:
            batches.setdefault((type(obj), tuple(sorted(values))), []).append((obj, values))
    now = utcnow()
    for (model, columns), rows in batches.items():
        table: Table = model.__table__  # type: ignore[attr-defined]
        stamped = "updated_at" in table.c
        statement = (
            update(table)
            .where(table.c.id == bindparam("_id"), table.c.version == bindparam("_read"))
            .values(
                {name: bindparam(f"_new_{name}") for name in columns}
                | {"version": bindparam("_version")}
                | ({"updated_at": bindparam("_stamp")} if stamped else {})
            )
        )
        params = [
            {
                "_id": getattr(obj, "id"),  # noqa: B009  (every versioned model has an id; Versioned does not say so)
                "_read": obj.version,
                "_version": obj.version + 1,
                "_stamp": now,
                **{f"_new_{name}": values[name] for name in columns},
            }
            for obj, values in rows
        ]
        written = db.session.execute(statement, params).rowcount  # type: ignore[attr-defined]
        if written != len(rows):
            raise StaleDataError(f"{model.__name__}: {len(rows) - written} of {len(rows)} rows changed meanwhile.")
        for obj, values in rows:
            for name in columns:
                set_committed_value(obj, name, values[name])
            set_committed_value(obj, "version", obj.version + 1)
            if stamped:
                set_committed_value(obj, "updated_at", now)


def touch(obj: Versioned) -> None:
    """Move the version on for a change that lives outside the object's own row (an invitation's roles and
    groups, a group's members over SCIM): itself a guarded write, so two such changes cannot both win."""
    obj.version = obj.version + 1


__all__ = ["StaleEdit", "Versioned", "differences", "ensure_version", "saving", "touch", "write_all"]
