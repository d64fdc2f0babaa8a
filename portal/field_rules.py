"""Rules of single fields, shared by the pages' forms (WTForms) and the JSON API (pydantic): one copy each.

Each rule is a function that returns what is wrong with a value (a sentence), or None; the forms wrap
it as a validator (portal.forms.check), the API calls it while reading a body (portal.api.schemas).
Lengths are constants both read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from portal.auth.passwords import password_problems

# Identity providers send an email address or a UPN as the login (SCIM userName, issue 16): up to 254
# characters of letters, digits, ".", "_", "-", "@" and "+". Every login of the older rule (3-32, starting
# with a letter, no "@" or "+") is valid under this one.
LOGIN_MIN, LOGIN_MAX = 3, 254
LOGIN_PATTERN = r"^[a-z0-9][a-z0-9._@+-]*$"
LOGIN_MESSAGE = "Use letters, digits, dots, dashes, underscores, @ and +, starting with a letter or digit."
EMAIL_MAX = 90  # seed 003
PASSWORDS_DIFFER = "The two passwords differ."

# The profile fields of seed 001 besides login and email, and their longest values.
PROFILE_LIMITS: dict[str, int] = {
    "first_name": 100,
    "last_name": 100,
    "company_name": 100,
    "address": 255,
    # 40: what Active Directory (and so Entra ID, which SCIM-provisions from it) keeps for postalCode
    # (the Postal-Code attribute's Range-Upper), so a provisioned address is never refused for its length.
    "postal_code": 40,
    "city": 100,
    "state": 100,
    "country": 100,
    "phone": 40,
}

_LOGIN = re.compile(LOGIN_PATTERN)


def login_problem(login: str) -> str | None:
    """A login: 3 to 254 characters, letters, digits, ".", "_", "-", "@", "+", starting with a letter or digit
    (stored lower-case), so that an email address or UPN is one."""
    if not LOGIN_MIN <= len(login) <= LOGIN_MAX:
        return f"Field must be between {LOGIN_MIN} and {LOGIN_MAX} characters long."
    if not _LOGIN.match(login):
        return LOGIN_MESSAGE
    return None


@lru_cache(maxsize=4096)  # an import's batch asks twice for each address (its form, then the invitation)
def email_problem(email: str) -> str | None:
    """An email address of at most 90 characters (seed 003), checked for form only, not DNS."""
    if len(email) > EMAIL_MAX:
        return f"Use at most {EMAIL_MAX} characters."
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        return str(error)
    return None


def password_problem(password: str, context: Iterable[str] = ()) -> str | None:
    """The first problem of a new password under the policy (length, common, context words), or None."""
    problems = password_problems(password, list(context))
    return problems[0] if problems else None


def confirmation_problem(password: str, confirmation: str) -> str | None:
    """A password typed twice must be the same twice."""
    return None if password == confirmation else PASSWORDS_DIFFER
