"""Field helpers shared by the forms of several features."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import Field, StringField, ValidationError
from wtforms.validators import DataRequired, Length, Regexp

from portal.auth.passwords import password_problems

LOGIN_PATTERN = r"^[a-z][a-z0-9._-]*$"
LOGIN_MESSAGE = "Use letters, digits, dots, dashes and underscores, starting with a letter."


def strip(value: Any) -> Any:
    """A WTForms filter: surrounding spaces never count."""
    return value.strip() if isinstance(value, str) else value


def lower(value: Any) -> Any:
    """A WTForms filter for logins and emails, which are compared without regard to case."""
    return value.strip().lower() if isinstance(value, str) else value


def login_rules() -> list[Any]:
    """A login: 3 to 32 characters, letters, digits, ".", "_", "-", starting with a letter (stored lower-case)."""
    return [DataRequired(), Length(min=3, max=32), Regexp(LOGIN_PATTERN, message=LOGIN_MESSAGE)]


def valid_email(_form: Any, field: Field) -> None:
    """An email address of at most 90 characters (seed 003), checked for form only, not DNS."""
    if not field.data:
        return
    if len(field.data) > 90:
        raise ValidationError("Use at most 90 characters.")
    try:
        validate_email(field.data, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationError(str(error)) from None


MAX_VERSION = 2**31 - 1  # the largest value of the databases' INTEGER version columns
VERSION_MESSAGE = "The form is missing its version; reload the page."


def lock_version(_form: Any, field: Field) -> None:
    """The optimistic-lock version a form carries: a whole number the version column can hold.

    Anything else is the sign of a damaged form, refused with the field's error; a number past the
    column's range would otherwise reach the database's comparison and overflow there."""
    text = str(field.data if field.data is not None else "")
    if not (text.isascii() and text.isdigit() and int(text) <= MAX_VERSION):
        raise ValidationError(VERSION_MESSAGE)


class GoodPassword:
    """The password policy; other fields of the form (login, email, account name) are context."""

    def __init__(self, *context_fields: str) -> None:
        self.context_fields = context_fields

    def __call__(self, form: Any, field: Field) -> None:
        words = [str(form[name].data or "") for name in self.context_fields if name in form]
        words += getattr(form, "password_context", [])
        problems = password_problems(field.data or "", words)
        if problems:
            raise ValidationError(problems[0])


PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "company_name",
    "address",
    "postal_code",
    "city",
    "state",
    "country",
    "phone",
)


class ProfileFieldsForm(FlaskForm):
    """The profile fields of seed 001 besides login and email, shared by the admin's and the person's forms."""

    first_name = StringField("First name", [Length(max=100)], filters=[strip])
    last_name = StringField("Last name", [Length(max=100)], filters=[strip])
    company_name = StringField("Company", [Length(max=100)], filters=[strip])
    address = StringField("Address", [Length(max=255)], filters=[strip])
    postal_code = StringField("Postal code", [Length(max=20)], filters=[strip])
    city = StringField("City", [Length(max=100)], filters=[strip])
    state = StringField("State", [Length(max=100)], filters=[strip])
    country = StringField("Country", [Length(max=100)], filters=[strip])
    phone = StringField("Phone", [Length(max=40)], filters=[strip])

    def profile_fields(self) -> dict[str, str]:
        """The submitted profile fields (never anything else: SECURITY A7)."""
        return {name: self[name].data or "" for name in PROFILE_FIELDS}
