"""Forms of the owner's account pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from portal.forms import strip


class AccountSettingsForm(FlaskForm):
    name = StringField("Account name", [DataRequired(), Length(max=100)], filters=[strip])
    require_mfa = BooleanField("Require two-step sign-in (MFA) for every user")


class TransferForm(FlaskForm):
    new_owner_id = SelectField("New owner", [DataRequired()], choices=[], validate_choice=False)
    current_password = PasswordField("Your current password", [DataRequired()])
