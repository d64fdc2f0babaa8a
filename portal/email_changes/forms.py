"""The confirm page's form: the person's password (and code), unless they are signed in as themselves."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField

from portal.forms import strip


class ConfirmEmailChangeForm(FlaskForm):
    password = PasswordField("Your password")
    code = StringField("Code from your authenticator app", filters=[strip])
