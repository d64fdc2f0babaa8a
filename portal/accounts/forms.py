"""Forms of the owner's account pages."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from portal.accounts import sign_in_names
from portal.forms import lower, strip
from portal.models import Account


class AccountSettingsForm(FlaskForm):
    name = StringField("Account name", [DataRequired(), Length(max=100)], filters=[strip])
    sign_in_name = StringField("Sign-in name", [DataRequired(), *sign_in_names.rules()], filters=[lower])
    require_mfa = BooleanField("Require two-step sign-in (MFA) for every user")

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, obj=account, **kwargs)
        self.sign_in_name.validators = [*self.sign_in_name.validators, sign_in_names.unique(account.id)]


class TransferForm(FlaskForm):
    new_owner_id = SelectField("New owner", [DataRequired()], choices=[], validate_choice=False)
    current_password = PasswordField("Your current password", [DataRequired()])
