"""Forms: invite, edit an invitation, and accept one."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from portal.entries import split_entries
from portal.forms import CheckboxesField, GoodPassword, VersionField, login_rules, lower, strip
from portal.invitations import queries
from portal.models import Group, Role
from portal.uuids import to_uuid

MAX_ADDRESSES = 100


class _RolesAndGroups(FlaskForm):
    # Any well-formed id is accepted here: the service looks it up in the account (another account's: 404).
    roles = CheckboxesField("Roles", coerce=to_uuid, validate_choice=False)
    groups = CheckboxesField("Groups", coerce=to_uuid, validate_choice=False)

    def offer(self, roles: list[Role], groups: list[Group]) -> None:
        """The roles (only those the inviter may grant, each with its description) and groups to show
        as checkboxes."""
        self.roles.choices = [(role.id, role.name) for role in roles]
        self.groups.choices = [(group.id, group.name) for group in groups]
        self.role_descriptions = {role.id: role.description for role in roles}

    def chosen_names(self) -> tuple[list[str], list[str]]:
        """The names of the roles and groups ticked, for the review."""
        roles = dict(self.roles.choices or [])
        groups = dict(self.groups.choices or [])
        return (
            [str(roles[r]) for r in self.roles.data or [] if r in roles],
            [str(groups[g]) for g in self.groups.data or [] if g in groups],
        )


class InviteForm(_RolesAndGroups):
    emails = TextAreaField(
        "Email addresses",
        [DataRequired(message="Enter at least one email address.")],
        description="One or many, separated by commas or new lines (at most 100 at once).",
    )
    # What the inviter reviewed (addresses, roles, groups): more than one invitation goes out only as reviewed.
    reviewed = HiddenField()

    @property
    def addresses(self) -> list[str]:
        """The addresses in the box, lower-cased, each once, in the order given."""
        return split_entries((self.emails.data or "").lower())

    def fingerprint(self) -> str:
        """The addresses, roles and groups as submitted, in one short digest."""
        parts = [
            ",".join(self.addresses),
            ",".join(sorted(map(str, self.roles.data or []))),
            ",".join(sorted(map(str, self.groups.data or []))),
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]

    @property
    def needs_review(self) -> bool:
        """Several invitations, not yet reviewed as they stand: the review comes first."""
        return len(self.addresses) > 1 and self.reviewed.data != self.fingerprint()

    def validate_emails(self, _field: TextAreaField) -> None:  # WTForms calls validator(form, field)
        count = len(self.addresses)
        if count == 0:
            raise ValidationError("Enter at least one email address.")
        if count > MAX_ADDRESSES:
            raise ValidationError(f"Invite at most {MAX_ADDRESSES} addresses at once (you entered {count}).")


class InvitationEditForm(_RolesAndGroups):
    version = VersionField()


class AcceptForm(FlaskForm):
    """The invited person chooses a login, their names and a password; the email is the invited one."""

    login = StringField("Login", login_rules(), filters=[lower])
    first_name = StringField("First name", [DataRequired(), Length(max=100)], filters=[strip])
    last_name = StringField("Last name", [DataRequired(), Length(max=100)], filters=[strip])
    password = PasswordField("Password", [DataRequired(), GoodPassword("login", "first_name", "last_name")])
    password_confirmation = PasswordField(
        "Repeat the password", [DataRequired(), EqualTo("password", message="The two passwords differ.")]
    )

    def __init__(
        self, *args: Any, account_id: uuid.UUID, user_id: uuid.UUID, context: list[str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.account_id = account_id
        self.user_id = user_id
        self.password_context = context  # the invited email and the account's name

    def validate_login(self, field: StringField) -> None:
        if field.data and queries.login_taken(self.account_id, field.data, except_user_id=self.user_id):
            raise ValidationError("This login is taken in this account; choose another.")
