"""Audit events in words: "Replaced Support's members" for group.members.replace, and their changes
with names instead of ids and times without microseconds. The codes stay what filters and CSV use."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal import db
from portal.models import AuditEvent, User
from portal.uuids import is_uuid_text

# {target} is the event's target label; other names are keys of its changes.
PHRASES: dict[str, str] = {
    "account.create": "Created the account",
    "account.update": "Changed the account's settings",
    "account.transfer_propose": "Offered the ownership to {target}",
    "account.transfer_cancel": "Withdrew the ownership offer",
    "account.transfer_accept": "Took over the ownership",
    "account.transfer_decline": "Declined the ownership",
    "auth.sign_in": "Signed in",
    "auth.sign_in_failed": "Failed to sign in as {target}",
    "auth.sign_out": "Signed out",
    "auth.mfa_failed": "Gave a wrong two-step code",
    "auth.recovery_code_used": "Signed in with a recovery code",
    "auth.password_reset_requested": "Asked for a password reset link",
    "auth.password_reset": "Chose a new password from a reset link",
    "email.retry": "Queued an email again",
    "group.create": "Created the group {target}",
    "group.update": "Changed the group {target}",
    "group.delete": "Deleted the group {target}",
    "group.members.add": "Added members to {target}",
    "group.members.replace": "Replaced {target}'s members",
    "group.members.remove": "Removed {removed} from {target}",
    "group.members.expire": "{removed}'s time-bound membership of {target} ended",
    "invitation.create": "Invited {target}",
    "invitation.resend": "Sent the invitation to {target} again",
    "invitation.revoke": "Revoked the invitation to {target}",
    "invitation.update": "Changed the invitation to {target}",
    "invitation.accept": "Accepted the invitation",
    "me.change_password": "Changed their password",
    "me.mfa_enable": "Turned two-step sign-in on",
    "me.mfa_disable": "Turned two-step sign-in off",
    "me.recovery_codes_regenerate": "Made new recovery codes",
    "me.session_end": "Signed out one of their sessions",
    "me.sessions_end_others": "Signed out their other sessions",
    "me.api_key_create": "Created the API key {name}",
    "me.api_key_revoke": "Revoked the API key {name}",
    "me.update_profile": "Changed their profile",
    "me.reauth_failed": "Failed to confirm it was them",
    "role.create": "Created the role {target}",
    "role.update": "Changed the role {target}",
    "role.delete": "Deleted the role {target}",
    "role.grant": "Gave {target} the role {role}",
    "role.default": "Changed whether {role} is a default role of {target}",
    "role.revoke": "Took the role {role} from {target}",
    "role.expiry": "Changed when {target}'s role {role} ends",
    "role.expire": "{target}'s time-bound role {role} ended",
    "job.start": "Started the job “{target}”",
    "job.cancel": "Cancelled the job “{target}”",
    "provisioning_token.create": "Made a SCIM provisioning token",
    "provisioning_token.rotate": "Rotated the SCIM provisioning token (the old one works for 24 hours)",
    "provisioning_token.revoke": "Revoked a SCIM provisioning token",
    "role.replace": "Replaced {target}'s roles",
    "sso.config_changed": "Changed the single sign-on settings",
    "sso.tested": "Tested the single sign-on connection",
    "sso.activated": "Turned single sign-on on",
    "sso.deactivated": "Turned single sign-on off",
    "sso.enforced": "Changed whether single sign-on is required",
    "sso.recovery_codes_regenerated": "Made new single sign-on recovery codes",
    "sso.sign_in_failed": "Failed to sign in through the identity provider ({reason})",
    "sso.identity_linked": "Linked {target} to the identity provider ({how})",
    "sso.identity_unlinked": "Unlinked {target} from the identity provider",
    "sso.jit_created": "Created {target} at their first single sign-on",
    "sso.groups_applied": "Applied the identity provider's groups to {target}",
    "sso.break_glass": "Signed in by break-glass while single sign-on is required ({how})",
    "session.role_activate": "Activated the role {role} for the session",
    "session.role_deactivate": "Deactivated the role {role} for the session",
    "user.create": "Created {target}",
    "user.update": "Changed {target}'s profile",
    "user.set_password": "Set {target}'s password",
    "user.reset_mfa": "Reset {target}'s two-step sign-in",
    "user.disable": "Disabled {target}",
    "user.enable": "Enabled {target}",
    "user.delete": "Deleted {target}",
    "user.grant_role": "Granted {target} the role {role}",
    "user.add_to_group": "Added {target} to {group}",
    "user.lockout_clear": "Cleared {target}'s sign-in lockout",
    "user.sign_out_everywhere": "Signed {target} out everywhere",
    "user.email_change_requested": "Asked to change {target}'s email",
    "user.email_change": "Changed {target}'s email",
    "user.email_change_cancelled": "Cancelled the change of {target}'s email",
    "user.email_change_failed": "Failed to confirm the change of {target}'s email",
}

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?$")


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "…"


def phrase(event: AuditEvent) -> str:
    """What happened, in words; the code itself for an action without a phrase."""
    template = PHRASES.get(event.action)
    if template is None:
        return event.action
    values = _Blank({k: _text(v, {}) for k, v in (event.changes or {}).items()})
    values["target"] = event.target_label or "someone"
    return template.format_map(values)


def names_for(account_id: uuid.UUID, events: Iterable[AuditEvent]) -> dict[str, str]:
    """The users that events' changes name by id, as "Ada Lovelace (ada)": one statement for a page."""
    ids: set[uuid.UUID] = set()
    for event in events:
        ids.update(uuid.UUID(value) for value in (event.changes or {}).values() if is_uuid_text(value))
    if not ids:
        return {}
    rows = db.session.execute(
        select(User.id, User.login, User.first_name, User.last_name, User.email, User.status).where(
            User.account_id == account_id, User.id.in_(ids)
        )
    )
    names = {}
    for user_id, login, first, last, email, status in rows:
        name = f"{first} {last}".strip()
        names[str(user_id)] = f"{name} ({email if status == 'pending' else login})" if name else email
    return names


def describe_changes(event: AuditEvent, names: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """An event's changes as (field, text) pairs: "old → new" for an edit's [old, new] pairs; ids of
    users as their names (from names_for), times to the minute in UTC."""
    names = names or {}
    edit = event.action.endswith(".update")
    described = []
    for field, value in (event.changes or {}).items():
        if field.endswith("_id") and is_uuid_text(value):  # a user's id: their name, or that they are gone
            described.append((field[:-3], names.get(value, "no longer in the account")))
            continue
        label = field
        if isinstance(value, list) and len(value) == 2 and (edit or field == "status"):
            old, new = ("—" if v in (None, "") else _text(v, names) for v in value)
            described.append((label, f"{old} → {new}"))
        else:
            described.append((label, _text(value, names)))
    return described


def _text(value: Any, names: Mapping[str, str]) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_text(v, names) for v in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{k} {_text(v, names)}" for k, v in value.items()) or "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        if value in names:
            return names[value]
        if _ISO_TIME.match(value):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")
            except ValueError:
                return value
    return str(value)
