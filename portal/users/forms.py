"""Forms of the users pages: create, edit, set password, reset MFA, bulk actions."""

from __future__ import annotations

import uuid
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, EqualTo, Length

from portal.field_rules import PASSWORDS_DIFFER
from portal.forms import (
    CheckboxesField,
    GoodPassword,
    ProfileFieldsForm,
    UntilForm,
    VersionField,
    login_rules,
    lower,
    strip,
    valid_email,
)
from portal.models import User
from portal.users import queries
from portal.users.services import password_context
from portal.uuids import parse_uuids


def _unique_in_account(column: str) -> Any:
    def check(form: UserProfileForm, field: Any) -> None:
        problem = queries.taken_problem(form.account_id, column, field.data, form.user_id) if field.data else None
        if problem:
            raise ValidationError(problem)

    return check


class UserProfileForm(ProfileFieldsForm):
    """The profile of seed 001; uniqueness is checked within the account given to the constructor."""

    login = StringField("Login", [*login_rules(), _unique_in_account("login")], filters=[lower])
    email = EmailField("Email", [DataRequired(), valid_email, _unique_in_account("email")], filters=[lower])

    def __init__(self, *args: Any, account_id: uuid.UUID, user_id: uuid.UUID | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account_id = account_id
        self.user_id = user_id

    def profile(self) -> dict[str, str]:
        """The submitted profile fields, login and email included (never anything else: A7)."""
        return {"login": self.login.data or "", "email": self.email.data or "", **self.profile_fields()}


class UserCreateForm(UserProfileForm):
    password = PasswordField("Password", [DataRequired(), GoodPassword("login", "email")])
    password_confirmation = PasswordField(
        "Repeat the password", [DataRequired(), EqualTo("password", message=PASSWORDS_DIFFER)]
    )
    temporary = BooleanField("Temporary: they choose a new one at their next sign-in", default=True)
    roles = CheckboxesField("Roles", coerce=str)


class UserEditForm(UserProfileForm):
    version = VersionField()


class SetPasswordForm(FlaskForm):
    password = PasswordField("New password", [DataRequired(), GoodPassword()])
    password_confirmation = PasswordField(
        "Repeat the password", [DataRequired(), EqualTo("password", message=PASSWORDS_DIFFER)]
    )
    temporary = BooleanField("Temporary: they choose a new one at their next sign-in", default=True)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.password_context = password_context(user)


class ResetMfaForm(FlaskForm):
    reason = TextAreaField("Reason", [DataRequired(), Length(max=500)], filters=[strip])


class ImportForm(FlaskForm):
    """A CSV to import (a dry run first), or the dry run whose file to apply."""

    file = FileField("CSV file")
    send_invitations = BooleanField("Send invitations to the people created")
    dry_run_job = HiddenField()

    data_bytes: bytes = b""

    def validate_file(self, field: FileField) -> None:
        if self.dry_run_job.data:
            return
        upload = field.data
        if upload is None or not getattr(upload, "filename", ""):
            raise ValidationError("Choose a CSV file to import.")
        from portal.users.imports import MAX_BYTES

        data = upload.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ValidationError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it.")
        self.data_bytes = data


BULK_ACTIONS = ["disable", "enable", "delete", "grant_role", "add_to_group"]
DESTRUCTIVE_BULK_ACTIONS = {"disable", "delete"}  # asked about first, with and without JavaScript


class BulkForm(UntilForm):
    action = SelectField(
        "Action",
        choices=BULK_ACTIONS,
        validators=[DataRequired(message="Choose what to do with the selected users.")],
        validate_choice=False,
    )
    user_ids = SelectMultipleField("Users", choices=[], validate_choice=False)
    all_matching = BooleanField("All matching users")
    role_id = StringField("Role")
    group_id = StringField("Group")
    confirm = HiddenField()

    def validate_action(self, field: SelectField) -> None:
        if field.data not in BULK_ACTIONS:
            raise ValidationError("Choose one of the actions.")

    def validate_role_id(self, field: StringField) -> None:
        if self.action.data == "grant_role" and not field.data:
            raise ValidationError("Choose the role to grant.")

    def validate_group_id(self, field: StringField) -> None:
        if self.action.data == "add_to_group" and not field.data:
            raise ValidationError("Choose the group to add them to.")

    @property
    def needs_confirmation(self) -> bool:
        """A destructive action not yet confirmed: the confirmation page (or dialog) comes first."""
        return self.action.data in DESTRUCTIVE_BULK_ACTIONS and self.confirm.data != "yes"

    def ids(self) -> list[uuid.UUID]:
        """The selected ids that are well-formed (a malformed one is simply not a user here)."""
        return parse_uuids(self.user_ids.data or [])
