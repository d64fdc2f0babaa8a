"""Sign-up and sign-in forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from portal.accounts import sign_in_names
from portal.forms import GoodPassword, login_rules, lower, strip, valid_email

ACCOUNT_LABEL = "Account sign-in name"


class SignupForm(FlaskForm):
    account_name = StringField("Account name", [DataRequired(), Length(max=100)], filters=[strip])
    # Optional: made from the account name when left empty (portal.accounts.sign_in_names.suggest).
    sign_in_name = StringField(
        "Sign-in name", [Optional(), *sign_in_names.rules(), sign_in_names.unique()], filters=[lower]
    )
    login = StringField("Login", login_rules(), filters=[lower])
    email = EmailField("Email", [DataRequired(), valid_email], filters=[lower])
    first_name = StringField("First name", [DataRequired(), Length(max=100)], filters=[strip])
    last_name = StringField("Last name", [DataRequired(), Length(max=100)], filters=[strip])
    password = PasswordField("Password", [DataRequired(), GoodPassword("login", "email", "account_name")])
    password_confirmation = PasswordField(
        "Repeat the password", [DataRequired(), EqualTo("password", message="The two passwords differ.")]
    )


class LoginForm(FlaskForm):
    # No "required" rules: an empty field is checked like any wrong password (same answer, same time).
    account = StringField(ACCOUNT_LABEL, filters=[strip])
    login = StringField("Login or email", filters=[strip])
    password = PasswordField("Password")
    # The break-glass sign-in (?local=1) while the account requires SSO: one of the account's recovery codes.
    sso_recovery_code = StringField("Single sign-on recovery code", filters=[strip])
    next = HiddenField()


class MfaStepForm(FlaskForm):
    """The second sign-in step: a code from the app, or one of the recovery codes."""

    code = StringField("Code from your authenticator app", filters=[strip])
    recovery_code = StringField("Or a recovery code", filters=[strip])


class PasswordResetRequestForm(FlaskForm):
    account = StringField(ACCOUNT_LABEL, [DataRequired()], filters=[lower])
    login = StringField("Login or email", [DataRequired(), Length(max=254)], filters=[lower])


class FindAccountsForm(FlaskForm):
    """Forgot which account: the sign-in links of every account that holds an address."""

    email = EmailField("Email", [DataRequired(), valid_email], filters=[lower])


class PasswordResetForm(FlaskForm):
    password = PasswordField("New password", [DataRequired(), GoodPassword()])
    password_confirmation = PasswordField(
        "Repeat the password", [DataRequired(), EqualTo("password", message="The two passwords differ.")]
    )
