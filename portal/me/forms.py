"""Forms of the signed-in person's own pages."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, PasswordField, StringField, ValidationError
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from portal.db import utcnow
from portal.forms import GoodPassword, ProfileFieldsForm, lower, strip, valid_email
from portal.models import User


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
    name = StringField("Name", [DataRequired(), Length(max=100)], filters=[strip])
    expires_on = DateField("Expires on (optional)", [Optional()])

    def validate_expires_on(self, field: Any) -> None:
        if field.data and field.data <= utcnow().date():
            raise ValidationError("Choose a date after today.")


class ReauthForm(FlaskForm):
    password = PasswordField("Password", [DataRequired()])
    code = StringField("Code from your authenticator app", filters=[strip])
