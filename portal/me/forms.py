"""Forms of the signed-in person's own pages."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, PasswordField, StringField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from portal.db import utcnow
from portal.forms import CheckboxesField, GoodPassword, ProfileFieldsForm, lower, strip, valid_email
from portal.models import User
from portal.permissions import Permission


class ProfileForm(ProfileFieldsForm):
    """Names, company, address and phone; a new email needs a recent sign-in and is confirmed from the new
    address before it takes effect."""

    email = EmailField("Email", [DataRequired(), valid_email], filters=[lower])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password", [DataRequired()])
    password = PasswordField("New password", [DataRequired(), GoodPassword()])
    password_confirmation = PasswordField(
        "Repeat the new password", [DataRequired(), EqualTo("password", message="The two passwords differ.")]
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.password_context = [user.login, user.email]


class MfaConfirmForm(FlaskForm):
    code = StringField("Code from your authenticator app", [DataRequired(), Length(min=6, max=8)], filters=[strip])


class MfaDisableForm(FlaskForm):
    current_password = PasswordField("Current password", [DataRequired()])
    code = StringField("A code from your app, or a recovery code", [DataRequired()], filters=[strip])


class RecoveryCodesForm(FlaskForm):
    code = StringField("Code from your authenticator app", [DataRequired()], filters=[strip])


class ApiKeyForm(FlaskForm):
    """A new key: its name, an optional expiry and its scopes (checkboxes of the permissions the maker holds).

    The page always sends `scopes` (a hidden empty value before the checkboxes), so that unticking every box
    is told apart from a client that never offered them: only the latter gets the default (all held).
    """

    name = StringField("Name", [DataRequired(), Length(max=100)], filters=[strip])
    expires_on = DateField("Expires on (optional)", [Optional()])
    scopes = CheckboxesField(
        "Permissions", choices=[SelectChoice(p.value, p.value) for p in Permission], validate_choice=False
    )

    def validate_expires_on(self, field: Any) -> None:
        if field.data and field.data <= utcnow().date():
            raise ValidationError("Choose a date after today.")

    def validate_scopes(self, field: CheckboxesField) -> None:
        known = {p.value for p in Permission}
        chosen = [value for value in field.data or [] if value]
        if any(value not in known for value in chosen):
            raise ValidationError("Choose permissions from the list.")
        if field.raw_data and not chosen:
            raise ValidationError("Choose at least one permission.")

    def chosen_scopes(self) -> frozenset[Permission] | None:
        """The ticked permissions; None when the form did not offer them (the default: all held)."""
        if not self.scopes.raw_data:
            return None
        return frozenset(Permission(value) for value in self.scopes.data or [] if value)


class ReauthForm(FlaskForm):
    password = PasswordField("Password", [DataRequired()])
    code = StringField("Code from your authenticator app", filters=[strip])
