"""The signed-in person's credentials: password, MFA, sign-in sessions and API keys.

Each change takes the person whose credentials change (`user`) and who acts (`actor`, keyword-only: a page
passes `actors.from_request()`); the audit event names the actor.

Every change writes an audit event and, where someone else might be using the account,
sends a notice to the person's address through the outbox (SECURITY M4, R4).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select, update

from portal import db, tokens, user_agents
from portal.actors import Actor
from portal.audit.services import record
from portal.auth import login_sessions, mfa
from portal.auth.passwords import hash_password, verify_password
from portal.db import utcnow
from portal.errors import Invalid, NotFound
from portal.mail.notices import security_notice
from portal.models import ApiKey, LoginSession, User
from portal.permissions import ALL_PERMISSIONS, Permission, parse_permissions
from portal.roles.policy import held_permissions

API_KEY_PREFIX = "ap_"


def change_password(user: User, current: str, new: str, keep_session: uuid.UUID | None, *, actor: Actor) -> None:
    """The person's own password: the current one first (P5); every other session ends (S3).
    Refused while the account requires single sign-on (the owner apart)."""
    from portal.errors import Forbidden
    from portal.sso.services import password_refusal

    if (refusal := password_refusal(user)) is not None:
        raise Forbidden(refusal)
    if not verify_password(user.password_hash, current):
        raise Invalid("Your current password is not right.")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    login_sessions.end_all(user.id, keep=keep_session)
    record("me.change_password", user, actor=actor, changes={"password": True})
    security_notice(user, "Your password was changed", "The password of your Account Portal sign-in was just changed.")


def confirm_mfa(
    user: User, sealed_secret: str, code: str, keep_session: uuid.UUID | None, *, actor: Actor
) -> list[str]:
    """Turn MFA on once the code proves the app holds the secret; returns the recovery codes (shown once)."""
    secret = mfa.unseal(sealed_secret)
    step = mfa.matching_step(secret, code) if secret else None
    if secret is None or step is None:
        raise Invalid("That code does not match. Check your phone's clock and try the current code.")
    codes = mfa.enable(user, secret, step)
    login_sessions.end_all(user.id, keep=keep_session)
    record("me.mfa_enable", user, actor=actor)
    security_notice(user, "Two-step sign-in is on", "Two-step sign-in (MFA) was turned on for your account.")
    return codes


def disable_mfa(user: User, current: str, code: str, *, actor: Actor) -> None:
    """Turn MFA off: needs the password and a current code (or a recovery code)."""
    if not verify_password(user.password_hash, current):
        raise Invalid("Your current password is not right.")
    if not (mfa.accept_code(user, code) or mfa.use_recovery_code(user, code)):
        raise Invalid("That code is not valid.")
    mfa.disable(user)
    record("me.mfa_disable", user, actor=actor)
    security_notice(user, "Two-step sign-in is off", "Two-step sign-in (MFA) was turned off for your account.")


def regenerate_recovery_codes(user: User, code: str, *, actor: Actor) -> list[str]:
    """New recovery codes, proven with a current code; the old ones stop working."""
    if not mfa.accept_code(user, code):
        raise Invalid("That code is not valid.")
    codes = mfa.replace_recovery_codes(user.id)
    record("me.recovery_codes_regenerate", user, actor=actor)
    security_notice(user, "New recovery codes", "New MFA recovery codes were made; the old ones no longer work.")
    return codes


def my_sessions(user_id: uuid.UUID) -> list[LoginSession]:
    """The person's live sessions, most recently used first."""
    return list(
        db.session.scalars(
            select(LoginSession).where(LoginSession.user_id == user_id).order_by(LoginSession.last_seen_at.desc())
        )
    )


def end_session(user: User, session_id: uuid.UUID, *, actor: Actor) -> None:
    """Sign one of the person's own sessions out."""
    found = db.session.scalar(
        select(LoginSession).where(LoginSession.id == session_id, LoginSession.user_id == user.id)
    )
    if found is None:
        raise NotFound("No such session.")
    # The log says which browser, in words: the session's id would mean nothing once it is gone.
    changes = {"browser": user_agents.describe(found.user_agent), "address": found.ip_address}
    login_sessions.end(session_id)
    record("me.session_end", user, actor=actor, changes=changes)


def end_other_sessions(user: User, keep: uuid.UUID, *, actor: Actor) -> None:
    """Sign every other session of the person out."""
    login_sessions.end_all(user.id, keep=keep)
    record("me.sessions_end_others", user, actor=actor)


def grantable_scopes(user: User) -> frozenset[Permission]:
    """The permissions a person may put on a key of theirs: what they hold through any of their roles (the
    owner: everything). A key never holds more than its maker did when it was made."""
    return ALL_PERMISSIONS if user.is_owner else held_permissions([user.id])[user.id]


def create_api_key(
    user: User, name: str, expires_at: datetime | None, scopes: frozenset[Permission] | None = None, *, actor: Actor
) -> str:
    """A new key (256 bits, shown once) with these scopes (default: all the maker holds; never more); only its
    SHA-256 is stored (SECURITY K1)."""
    held = grantable_scopes(user)
    chosen = held if scopes is None else scopes
    beyond = chosen - held
    if beyond:
        raise Invalid(f"A key cannot hold permissions you do not hold ({', '.join(sorted(p.value for p in beyond))}).")
    key, key_hash = tokens.new_token_and_digest(API_KEY_PREFIX)
    values = sorted(p.value for p in chosen)
    db.session.add(
        ApiKey(user_id=user.id, name=name, prefix=key[:10], key_hash=key_hash, expires_at=expires_at, scopes=values)
    )
    record(
        "me.api_key_create",
        user,
        actor=actor,
        changes={"name": name, "expires_at": str(expires_at or ""), "scopes": values},
    )
    return key


def scopes_of(key: ApiKey) -> frozenset[Permission]:
    """The key's scopes as the catalogue knows them."""
    return parse_permissions(key.scopes or [])


def my_api_keys(user_id: uuid.UUID) -> list[ApiKey]:
    """The person's keys, newest first, revoked ones included."""
    return list(db.session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc())))


def own_api_key(user: User, key_id: uuid.UUID) -> ApiKey:
    """One of the person's own keys; NotFound for anyone else's."""
    key = db.session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id))
    if key is None:
        raise NotFound("No such API key.")
    return key


def revoke_api_key(user: User, key_id: uuid.UUID, *, actor: Actor) -> ApiKey:
    """Revoke one of the person's own keys."""
    key = own_api_key(user, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        record("me.api_key_revoke", user, actor=actor, changes={"name": key.name})
    return key


def revoke_all_api_keys(user_id: uuid.UUID) -> list[str]:
    """Revoke every live key of a user (they are disabled: no key comes back when they are enabled); their names."""
    return revoke_all_api_keys_of([user_id]).get(user_id, [])


def revoke_all_api_keys_of(user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """revoke_all_api_keys for a batch of users (one query): each user's revoked keys' names, oldest first."""
    keys = db.session.scalars(
        select(ApiKey).where(ApiKey.user_id.in_(user_ids), ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at)
    ).all()
    now = utcnow()
    names: dict[uuid.UUID, list[str]] = {}
    for key in keys:
        key.revoked_at = now
        names.setdefault(key.user_id, []).append(key.name)
    return names


_KEY_AND_OWNER = (  # built once: every API request reads it
    select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.key_hash == bindparam("key_hash"))
)


def authenticate_api_key(key: str) -> tuple[ApiKey, User] | None:
    """A usable key and its active owner (writing the key's last use when due: tokens.last_use_due), or None."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    row = db.session.execute(_KEY_AND_OWNER, {"key_hash": tokens.digest(key)}).first()
    if row is None:
        return None
    api_key, user = row
    now = utcnow()
    if not api_key.is_usable(now) or not user.is_active_user:
        return None
    if tokens.last_use_due(api_key.last_used_at, now):
        db.session.execute(
            update(ApiKey)
            .where(ApiKey.id == api_key.id, tokens.last_use_stale(ApiKey.last_used_at, now))
            .values(last_used_at=now)
        )
    return api_key, user
