"""Forms of the groups screens: the group itself, adding members, replacing them, confirmations.

Each form binds only its own fields (SECURITY A7): account, ids and dates never come from input.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, Length
from wtforms.widgets import TextArea

from portal.entries import split_entries
from portal.forms import UntilForm, VersionField, strip
from portal.groups import queries, services
from portal.models import Group, User

MAX_ENTRIES = 5_000  # per request; 5,000 addresses of 90 characters stay under Werkzeug's form limit


class MembersField(Field):
    """`members`: user ids, emails or logins; given as several values (checkboxes of the picker)
    and/or as text separated by commas, semicolons or new lines. Entries are kept in order, once."""

    widget = TextArea()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data: list[str] = []

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = split_entries(*valuelist)

    def _value(self) -> str:
        return "\n".join(self.data or [])


class GroupForm(FlaskForm):
    """Create or edit a group: a name unique in the account without regard to case, a description."""

    name = StringField("Name", [DataRequired()], filters=[strip])
    description = TextAreaField("Description", [Length(max=services.DESCRIPTION_MAX)], filters=[strip])

    def __init__(self, *args: Any, account_id: uuid.UUID, group: Group | None = None, **kwargs: Any) -> None:
        super().__init__(*args, obj=group, **kwargs)
        self.account_id = account_id
        self.group = group

    def validate_name(self, field: Field) -> None:
        problem = (
            services.name_problem(self.account_id, field.data, self.group.id if self.group else None)
            if field.data
            else None
        )
        if problem:
            raise ValidationError(problem)

    def changes(self) -> dict[str, str]:
        return {"name": self.name.data or "", "description": self.description.data or ""}


class GroupEditForm(GroupForm):
    """Edit a group: the group form, and the version it was drawn with (portal.versioning)."""

    version = VersionField()


class AddMembersForm(UntilForm):
    """Add people to a group by id, email or login; all of them must be users of the account."""

    members = MembersField(
        "Emails, logins or user ids", description="Several at once: separate them with commas or new lines."
    )
    return_to = HiddenField()

    def __init__(self, *args: Any, account_id: uuid.UUID, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account_id = account_id
        self.users: list[User] = []

    def validate_members(self, field: MembersField) -> None:
        if not field.data:
            raise ValidationError("Choose at least one person.")
        if len(field.data) > MAX_ENTRIES:
            raise ValidationError(f"Add at most {MAX_ENTRIES:,} people at once.")
        found = queries.resolve_people(self.account_id, field.data)
        if found.unknown:
            raise ValidationError(_unknown_message(found.unknown))
        self.users = found.users


class ReplaceStep(StrEnum):
    """Where a posted replace-members form goes: the preview of the change (the first post, and any action
    this does not name), back to editing the list, or applying the previewed change."""

    PREVIEW = "preview"
    EDIT = "edit"
    APPLY = "apply"


class ReplaceMembersForm(FlaskForm):
    """The whole new set of members (possibly empty); previewed first, then applied."""

    members = MembersField("Members", description="One email, login or user id per line (or separated by commas).")
    # Set by the preview: the set of members the previewed change was computed against.
    expected = HiddenField()
    action = HiddenField()

    def __init__(self, *args: Any, account_id: uuid.UUID, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account_id = account_id
        self.users: list[User] = []

    @property
    def step(self) -> ReplaceStep:
        """The step the button pressed asks for."""
        try:
            return ReplaceStep(self.action.data)
        except ValueError:
            return ReplaceStep.PREVIEW

    def validate_members(self, field: MembersField) -> None:
        if len(field.data) > MAX_ENTRIES:
            raise ValidationError(f"Give at most {MAX_ENTRIES:,} people at once.")
        found = queries.resolve_people(self.account_id, field.data)
        if found.unknown:
            raise ValidationError(_unknown_message(found.unknown))
        self.users = found.users


class ConfirmForm(FlaskForm):
    """A confirmed action (delete a group, remove a member): `confirm=yes`, and where to go back to."""

    confirm = HiddenField()
    return_to = HiddenField()

    @property
    def confirmed(self) -> bool:
        return bool(self.confirm.data == "yes")


def _unknown_message(unknown: list[str]) -> str:
    shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5:,} more" if len(unknown) > 5 else "")
    return f"Not a user of this account: {shown}."
