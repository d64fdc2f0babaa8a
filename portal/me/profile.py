"""The signed-in person's own profile."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal import db
from portal.audit.services import record
from portal.auth.passwords import verify_password
from portal.errors import Invalid
from portal.mail.notices import security_notice
from portal.models import User


def update_my_profile(user: User, profile: dict[str, str], email: str, current_password: str) -> dict[str, Any]:
    """Save what changed; a new email needs the current password and the old address is told (E1)."""
    changes: dict[str, Any] = {k: [getattr(user, k), v] for k, v in profile.items() if getattr(user, k) != v}
    if email != user.email:
        if not verify_password(user.password_hash, current_password):
            raise Invalid("Your current password is not right; the email was not changed.")
        taken = db.session.scalar(
            select(User.id).where(User.account_id == user.account_id, User.email == email, User.id != user.id)
        )
        if taken is not None:
            raise Invalid("That email is already used by someone in your account.")
        security_notice(user, "Your email address was changed",
                        f"The email of your Account Portal sign-in was changed to {email}.")
        changes["email"] = [user.email, email]
    for key, (_old, new) in changes.items():
        setattr(user, key, new)
    if changes:
        record("me.update_profile", user, actor=user, changes=changes)
    return changes
