"""Field helpers shared by the forms of several features; the rules themselves are in portal.field_rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, Field, SelectMultipleField, StringField, ValidationError
from wtforms.validators import DataRequired, Length, Optional, StopValidation
from wtforms.widgets import CheckboxInput, HiddenInput, ListWidget

from portal.db import utcnow
from portal.field_rules import LOGIN_MESSAGE, LOGIN_PATTERN, PROFILE_LIMITS, email_problem, login_problem
from portal.field_rules import password_problem as _password_problem
from portal.uuids import parse_uuid

__all__ = [
    "LOGIN_MESSAGE",
    "LOGIN_PATTERN",
    "PROFILE_FIELDS",
    "CheckboxesField",
    "GoodPassword",
    "ProfileFieldsForm",
    "UUIDField",
    "VersionField",
    "check",
    "login_rules",
    "lower",
    "strip",
    "valid_email",
]


def strip(value: Any) -> Any:
    """A WTForms filter: surrounding spaces never count."""
    return value.strip() if isinstance(value, str) else value


def lower(value: Any) -> Any:
    """A WTForms filter for logins and emails, which are compared without regard to case."""
    return value.strip().lower() if isinstance(value, str) else value


def check(problem: Callable[[str], str | None]) -> Callable[[Any, Field], None]:
    """A WTForms validator from a shared rule of portal.field_rules (an empty field is left to DataRequired)."""

    def validator(_form: Any, field: Field) -> None:
        message = problem(field.data) if field.data else None
        if message:
            raise ValidationError(message)

    return validator


def login_rules() -> list[Any]:
    """A login: required, and portal.field_rules.login_problem."""
    return [DataRequired(), check(login_problem)]


valid_email = check(email_problem)


MAX_VERSION = 2**31 - 1  # the largest value of the databases' INTEGER version columns
VERSION_MESSAGE = "The form is missing its version; reload the page."


class VersionField(Field):
    """The optimistic lock every edit form carries (portal.versioning): the version it was drawn with, hidden.

    Its data is that whole number, or None when the form came back without one the version column can hold
    (a damaged form, refused with VERSION_MESSAGE: a number past the column's range would otherwise reach
    the database's comparison and overflow there)."""

    widget = HiddenInput()

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]) if valuelist else ""
        fits = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_VERSION)) and int(text) <= MAX_VERSION
        self.data = int(text) if fits else None

    def pre_validate(self, _form: Any) -> None:  # WTForms calls it positionally
        if not isinstance(self.data, int):
            raise StopValidation(VERSION_MESSAGE)

    def _value(self) -> str:
        return str(self.data) if isinstance(self.data, int) else ""


class UUIDField(StringField):
    """One id (a hidden input or a select's value): `data` is a UUID, or None when left empty.

    Text that is no id (portal.uuids.parse_uuid) stops the field's validation with `message`; an empty
    field is left to the field's validators (DataRequired, Optional)."""

    def __init__(
        self, label: str | None = None, validators: Any = None, *, message: str = "Not a valid id.", **kwargs: Any
    ) -> None:
        super().__init__(label, validators, **kwargs)
        self.message = message

    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist:  # not sent at all: the default (or the object's id) stays
            text = str(valuelist[0]).strip()
            self.data = parse_uuid(text) if text else None

    def pre_validate(self, _form: Any) -> None:  # WTForms calls it positionally
        if self.data is None and self.raw_data and str(self.raw_data[0]).strip():
            raise StopValidation(self.message)

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return "" if self.data is None else str(self.data)


class CheckboxesField(SelectMultipleField):
    """Several values chosen with checkboxes (`coerce` turns each into its type: `portal.uuids.to_uuid` for ids).

    With `validate_choice=False` any value `coerce` reads is accepted: the service then looks the ids up in
    the account, so another account's id is a 404, not a form error."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class GoodPassword:
    """The password policy; other fields of the form (login, email, account name) are context."""

    def __init__(self, *context_fields: str) -> None:
        self.context_fields = context_fields

    def __call__(self, form: Any, field: Field) -> None:
        words = [str(form[name].data or "") for name in self.context_fields if name in form]
        words += getattr(form, "password_context", [])
        problem = _password_problem(field.data or "", words)
        if problem:
            raise ValidationError(problem)


PROFILE_FIELDS = tuple(PROFILE_LIMITS)


class ProfileFieldsForm(FlaskForm):
    """The profile fields of seed 001 besides login and email, shared by the admin's and the person's forms."""

    first_name = StringField("First name", [Length(max=PROFILE_LIMITS["first_name"])], filters=[strip])
    last_name = StringField("Last name", [Length(max=PROFILE_LIMITS["last_name"])], filters=[strip])
    company_name = StringField("Company", [Length(max=PROFILE_LIMITS["company_name"])], filters=[strip])
    address = StringField("Address", [Length(max=PROFILE_LIMITS["address"])], filters=[strip])
    postal_code = StringField("Postal code", [Length(max=PROFILE_LIMITS["postal_code"])], filters=[strip])
    city = StringField("City", [Length(max=PROFILE_LIMITS["city"])], filters=[strip])
    state = StringField("State", [Length(max=PROFILE_LIMITS["state"])], filters=[strip])
    country = StringField("Country", [Length(max=PROFILE_LIMITS["country"])], filters=[strip])
    phone = StringField("Phone", [Length(max=PROFILE_LIMITS["phone"])], filters=[strip])

    def profile_fields(self) -> dict[str, str]:
        """The submitted profile fields (never anything else: SECURITY A7)."""
        return {name: self[name].data or "" for name in PROFILE_FIELDS}


class UntilForm(FlaskForm):
    """A form that may make a grant time-bound: `expires_on`, a day from today on (the grant lasts through it)."""

    expires_on = DateField("Until (optional)", validators=[Optional()])

    def validate_expires_on(self, _field: DateField) -> None:  # WTForms calls validator(form, field)
        until = self.expiry()
        if until is not None and until <= utcnow():
            raise ValidationError("Choose a day from today on.")

    def expiry(self) -> datetime | None:
        """The end of the chosen day (UTC), or None: no expiry."""
        day = self.expires_on.data
        return datetime.combine(day + timedelta(days=1), time(), UTC) if day else None
