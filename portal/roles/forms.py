"""The role form (new and edit), and the forms that grant a role and mark it default."""

from __future__ import annotations

import uuid
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from portal.forms import CheckboxesField, UntilForm, UUIDField, VersionField, strip
from portal.permissions import Permission
from portal.roles import services
from portal.uuids import to_uuid


class RoleForm(FlaskForm):
    """Create or edit a custom role: `name` (unique in the account, any case), `description`, `permissions`."""

    name = StringField("Name", [DataRequired(message="Give the role a name.")], filters=[strip])
    description = TextAreaField("Description", [Length(max=services.DESCRIPTION_MAX)], filters=[strip])
    permissions = CheckboxesField("Permissions", choices=[SelectChoice(p.value, p.description) for p in Permission])

    def __init__(self, *args: Any, account_id: uuid.UUID, role_id: uuid.UUID | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account_id = account_id
        self.role_id = role_id

    def validate_name(self, field: StringField) -> None:
        problem = services.name_problem(self.account_id, field.data, self.role_id) if field.data else None
        if problem:
            raise ValidationError(problem)

    def chosen_permissions(self) -> frozenset[Permission]:
        return frozenset(Permission(value) for value in self.permissions.data or [])


class RoleEditForm(RoleForm):
    """Edit a custom role: the role form, and the version it was drawn with (portal.versioning)."""

    version = VersionField()


class UserRoleForm(UntilForm):
    """Grant a role to a user, or change whether a held role is default: `role_id`, `default`."""

    role_id = UUIDField("Role", [DataRequired(message="Choose a role.")], message="Choose a role.")
    default = BooleanField("Default (active at sign-in)")

    def role_uuid(self) -> uuid.UUID:
        """The chosen role's id (the form has been validated)."""
        return to_uuid(self.role_id.data)


class DefaultFlagForm(FlaskForm):
    """Mark a held role default or not; without `default`, the flag is toggled."""

    default = StringField()

    def wanted(self) -> bool | None:
        """True or False as asked; None (toggle) when `default` is absent or unreadable."""
        value = (self.default.data or "").strip().lower()
        if value in {"1", "true", "on", "yes", "y"}:
            return True
        if value in {"0", "false", "off", "no", "n"}:
            return False
        return None
