"""Forms of the SSO settings page and of the link step."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from portal.forms import strip


def _http_url(_form: object, field: StringField) -> None:
    parts = urlsplit(field.data or "")
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValidationError("Paste the issuer (https://…) or its discovery document's URL.")


class SsoSettingsForm(FlaskForm):
    display_name = StringField("Provider name (on the button)", [DataRequired(), Length(max=60)], filters=[strip])
    discovery_url = StringField(
        "Issuer or discovery URL", [DataRequired(), Length(max=500), _http_url], filters=[strip]
    )
    client_id = StringField("Client id", [DataRequired(), Length(max=255)], filters=[strip])
    # Write-only: never rendered back (render_kw has no value); empty keeps the stored one.
    client_secret = PasswordField("Client secret", [Optional(), Length(max=1000)])
    session_hours = IntegerField("SSO session length (hours)", [DataRequired(), NumberRange(1, 24)], default=12)
    require_portal_totp = BooleanField("Also ask the portal's two-step code after an SSO sign-in")
    jit = SelectField(
        "Create people at their first sign-in (JIT)",
        choices=[("default", "Default"), ("on", "On"), ("off", "Off")],
        default="default",
    )
    authoritative_domains = StringField(
        "Domains this provider is authoritative for", [Optional(), Length(max=500)], filters=[strip]
    )
    groups_claim = StringField("Groups claim", [Optional(), Length(max=100)], filters=[strip], default="groups")


class MappingForm(FlaskForm):
    claim_value = StringField("Value in the groups claim", [DataRequired(), Length(max=255)], filters=[strip])
    group_id = SelectField("Portal group", [DataRequired()], choices=[], validate_choice=True)
    role_id = SelectField("And the role (optional)", choices=[], validate_choice=True)


class AllowAdminGroupsForm(FlaskForm):
    allow = BooleanField("Mapped groups may give admin-level roles (account or roles management)")


class StartForm(FlaskForm):
    next = HiddenField()


class LinkForm(FlaskForm):
    """Branch 3: an existing user proves, once, that they are the one the provider's email names."""

    password = PasswordField("Your portal password")
    code = StringField("Code from your authenticator app (or a recovery code)", filters=[strip])
