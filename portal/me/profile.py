"""The signed-in person's own profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.actors import Actor
from portal.audit.services import record
from portal.email_changes import services as email_changes
from portal.models import EmailChange, User


@dataclass(frozen=True)
class MyProfileUpdate:
    """The fields changed now, and the email change opened (pending until the new address confirms it)."""

    changes: dict[str, Any]
    email_change: EmailChange | None = None


def update_my_profile(user: User, profile: dict[str, str], email: str, *, actor: Actor) -> MyProfileUpdate:
    """Save what changed; a new email only opens a pending change, confirmed from the new address (E1).

    The route has asked for a recent sign-in before a new email gets here (SECURITY S6).
    """
    changes: dict[str, Any] = {k: [getattr(user, k), v] for k, v in profile.items() if getattr(user, k) != v}
    for key, (_old, new) in changes.items():
        setattr(user, key, new)
    if changes:
        record("me.update_profile", user, actor=actor, changes=changes)
    email_change = email_changes.request_change(user, email, actor=actor) if email != user.email else None
    return MyProfileUpdate(changes, email_change)
