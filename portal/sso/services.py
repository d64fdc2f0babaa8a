"""Single sign-on state changes and rules (issue 21). Never commits.

Other features ask here: `is_active(account)` (invitations and SCIM send no password email while it is
true), `jit_default(account)`, `password_refusal(user)` (password sign-in, reset and change while SSO is
required), `session_end(account_id)` (an SSO session's own end).
"""

from __future__ import annotations

import base64
import functools
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app, session
from sqlalchemy import Row, delete, select, update

from portal import actors, db, tokens
from portal.actors import Actor
from portal.audit.services import record
from portal.auth.passwords import hash_password, verify_password
from portal.db import utcnow
from portal.entries import split_entries
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.mail.outbox import enqueue, external_url
from portal.models import (
    Account,
    EmailChange,
    Group,
    GroupMember,
    LoginSession,
    ProvisioningToken,
    Role,
    RoleAssignment,
    SsoAuthRequest,
    SsoConnection,
    SsoGroupMapping,
    SsoIdentity,
    SsoRecoveryCode,
    User,
    UserStatus,
)
from portal.permissions import Permission
from portal.roles import services as role_services
from portal.sso.failures import SsoFailure
from portal.uuids import parse_uuid

REQUEST_LIFETIME = timedelta(minutes=10)
FRESH_SSO = timedelta(minutes=10)
RECOVERY_CODES = 10
MAX_SESSION_HOURS = 24  # sessions go back to the provider at least daily
SESSION_KEY = "sso_states"  # the states this browser started, so a callback is bound to its browser
ADMIN_LEVEL = frozenset({Permission.ACCOUNT_MANAGE, Permission.ROLES_WRITE})


# --- what other features ask -----------------------------------------------------------------------


def connection_of(account_id: uuid.UUID) -> SsoConnection | None:
    """The account's connection, if it has one (active or not)."""
    return db.session.scalar(select(SsoConnection).where(SsoConnection.account_id == account_id))


def is_active(account: Account | uuid.UUID) -> bool:
    """Whether the account signs people in through its identity provider now."""
    account_id = account if isinstance(account, uuid.UUID) else account.id
    return bool(db.session.scalar(select(SsoConnection.active).where(SsoConnection.account_id == account_id)))


def scim_connected(account_id: uuid.UUID) -> bool:
    """Whether the account's identity provider provisions it over SCIM (a usable provisioning token)."""
    now = utcnow()
    tokens = db.session.scalars(select(ProvisioningToken).where(ProvisioningToken.account_id == account_id)).all()
    return any(token.is_usable(now) for token in tokens)


def jit_default(account: Account | uuid.UUID) -> bool:
    """Just-in-time creation is on by default, and off when SCIM is connected (SCIM creates the people)."""
    account_id = account if isinstance(account, uuid.UUID) else account.id
    return not scim_connected(account_id)


def jit_enabled(connection: SsoConnection) -> bool:
    """What the admin chose, else the default."""
    return connection.jit_enabled if connection.jit_enabled is not None else jit_default(connection.account_id)


def requires_sso(account_id: uuid.UUID) -> bool:
    """Whether password sign-in, reset and change are refused to everyone but the owner."""
    row = db.session.execute(
        select(SsoConnection.active, SsoConnection.require_sso).where(SsoConnection.account_id == account_id)
    ).first()
    return bool(row and row[0] and row[1])


def password_refusal(user: User) -> str | None:
    """Why this person may not sign in with, reset or change a password now (None: they may)."""
    if user.is_owner or not requires_sso(user.account_id):
        return None
    return "This account signs in through its identity provider: passwords are not used."


def session_end(account_id: uuid.UUID) -> datetime:
    """When an SSO session begun now must go back to the provider."""
    hours = db.session.scalar(select(SsoConnection.session_hours).where(SsoConnection.account_id == account_id))
    return utcnow() + timedelta(hours=min(hours or 12, MAX_SESSION_HOURS))


# --- the client secret and the PKCE verifier, sealed --------------------------------------------------


def _fernet() -> Fernet:
    return _fernet_for(current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=4)
def _fernet_for(secret_key: str) -> Fernet:
    """The sealing key, derived from SECRET_KEY once per process (not at every seal and unseal)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"account-portal sso secrets").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def unseal(sealed: str) -> str:
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SsoFailure(
            "The connection's secret cannot be read (was SECRET_KEY changed?); paste it again.", "secret_unreadable"
        ) from None


# --- settings ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderSettings:
    display_name: str
    discovery_url: str
    client_id: str
    client_secret: str  # empty: keep the stored one
    session_hours: int
    require_portal_totp: bool
    jit: str  # "default", "on" or "off"
    authoritative_domains: str
    groups_claim: str


def save_settings(account: Account, values: ProviderSettings, *, actor: Actor) -> SsoConnection:
    """Create or change the connection. A change of the provider (URL, client id, secret) needs a new test,
    and deactivates nothing by itself; the secret is sealed and never recorded."""
    connection = connection_of(account.id)
    if connection is None:
        connection = SsoConnection(account_id=account.id)
        db.session.add(connection)
    before = _settings_view(connection)
    provider_changed = (
        connection.discovery_url != values.discovery_url
        or connection.client_id != values.client_id
        or bool(values.client_secret)
    )
    if connection.active and provider_changed and connection.tested_version != (connection.settings_version or 1):
        raise Conflict("Test the connection before changing the provider of an active connection.")
    connection.display_name = values.display_name
    connection.discovery_url = values.discovery_url
    connection.client_id = values.client_id
    if values.client_secret:
        connection.client_secret_sealed = seal(values.client_secret)
    connection.session_hours = values.session_hours
    connection.require_portal_totp = values.require_portal_totp
    connection.jit_enabled = {"on": True, "off": False}.get(values.jit)
    connection.authoritative_domains = " ".join(
        sorted({d.lstrip("@") for d in split_entries(values.authoritative_domains.lower())} - {""})
    )
    connection.groups_claim = values.groups_claim or "groups"
    if provider_changed:
        connection.settings_version = (connection.settings_version or 1) + 1
        if connection.active:  # the old test no longer vouches for the new provider settings
            connection.active = False
            connection.require_sso = False
    after = _settings_view(connection)
    changes: dict[str, object] = {
        key: [before.get(key), value] for key, value in after.items() if before.get(key) != value
    }
    if values.client_secret:
        changes["client_secret"] = True
    record("sso.config_changed", account, actor=actor, changes=changes)
    return connection


def _settings_view(connection: SsoConnection) -> dict[str, Any]:
    return {
        "display_name": connection.display_name,
        "discovery_url": connection.discovery_url,
        "client_id": connection.client_id,
        "session_hours": connection.session_hours,
        "require_portal_totp": connection.require_portal_totp,
        "jit_enabled": connection.jit_enabled,
        "authoritative_domains": connection.authoritative_domains,
        "groups_claim": connection.groups_claim,
        "active": connection.active,
    }


def activate(connection: SsoConnection, account: Account, *, actor: Actor) -> None:
    """Activate a connection whose test passed with its current settings."""
    if not connection.tested:
        raise Conflict('Run "Test connection" with these settings first: it must pass before activation.')
    connection.active = True
    connection.activated_at = utcnow()
    record("sso.activated", account, actor=actor, changes={"issuer": connection.issuer})


def deactivate(connection: SsoConnection, account: Account, *, actor: Actor) -> None:
    """Stop signing people in through the provider (and stop requiring it)."""
    if connection.require_sso:
        disable_requirement(connection, account, actor=actor)
    connection.active = False
    record("sso.deactivated", account, actor=actor)


def set_allow_admin_groups(connection: SsoConnection, account: Account, allow: bool, *, actor: Actor) -> None:
    """Only the owner lets the group mapping give admin-level roles."""
    if not actor.user.is_owner:
        raise Forbidden("Only the owner decides whether mapped groups may give admin-level roles.")
    connection.allow_admin_groups = allow
    record("sso.config_changed", account, actor=actor, changes={"allow_admin_groups": allow})


def is_admin_level(role: Role) -> bool:
    """A role that can change the account or its roles."""
    return bool(ADMIN_LEVEL & {Permission(p) for p in role.permissions if p in Permission._value2member_map_})


def add_mapping(
    connection: SsoConnection, account: Account, claim_value: str, group: Group, role: Role | None, *, actor: Actor
) -> SsoGroupMapping:
    """Map a value of the groups claim to a group (and a role), within what the actor may grant."""
    from portal.roles.policy import ensure_may_grant

    if role is not None:
        ensure_may_grant(actor.permissions, role)
        if is_admin_level(role) and not connection.allow_admin_groups:
            raise Forbidden(f"The role {role.name} is admin-level; the owner has not allowed that for mapped groups.")
    exists = db.session.scalar(
        select(SsoGroupMapping.id).where(
            SsoGroupMapping.connection_id == connection.id,
            SsoGroupMapping.claim_value == claim_value,
            SsoGroupMapping.group_id == group.id,
        )
    )
    if exists is not None:
        raise Invalid("That value is mapped to that group already.", field="claim_value")
    mapping = SsoGroupMapping(
        connection_id=connection.id, claim_value=claim_value, group_id=group.id, role_id=role.id if role else None
    )
    db.session.add(mapping)
    record(
        "sso.config_changed",
        account,
        actor=actor,
        changes={
            "mapping_added": {"claim_value": claim_value, "group": group.name, "role": role.name if role else None}
        },
    )
    return mapping


def remove_mapping(mapping: SsoGroupMapping, account: Account, *, actor: Actor) -> None:
    db.session.delete(mapping)
    record("sso.config_changed", account, actor=actor, changes={"mapping_removed": mapping.claim_value})


# --- requiring SSO -----------------------------------------------------------------------------------


def group_mappings(connection: SsoConnection) -> Sequence[Row[SsoGroupMapping, Group, Role]]:
    """The connection's group mappings with their group and role (None: membership only), by claim value."""
    return db.session.execute(
        select(SsoGroupMapping, Group, Role)
        .join(Group, Group.id == SsoGroupMapping.group_id)
        .outerjoin(Role, Role.id == SsoGroupMapping.role_id)
        .where(SsoGroupMapping.connection_id == connection.id)
        .order_by(SsoGroupMapping.claim_value)
    ).all()


def mapping_in_account(account_id: uuid.UUID, mapping_id: uuid.UUID) -> SsoGroupMapping:
    """A group mapping of the account's connection; NotFound when missing or another account's."""
    connection = connection_of(account_id)
    mapping = db.session.get(SsoGroupMapping, mapping_id)
    if mapping is None or connection is None or mapping.connection_id != connection.id:
        raise NotFound("No such mapping.")
    return mapping


def pending_link(account: Account, raw_id: object) -> tuple[SsoAuthRequest, User, SsoConnection]:
    """The sign-in this browser left waiting to be linked (its request id kept in the session), the active
    user it names in the account, and the account's connection; SsoFailure when there is none or it is too old."""
    request_id = parse_uuid(raw_id)
    auth_request = db.session.get(SsoAuthRequest, request_id) if request_id is not None else None
    connection = connection_of(account.id)
    if (
        auth_request is None
        or connection is None
        or auth_request.connection_id != connection.id
        or auth_request.link_user_id is None
        or auth_request.link_claims is None
        or utcnow() - auth_request.created_at > REQUEST_LIFETIME
    ):
        raise SsoFailure(
            "There is no sign-in waiting to be linked here, or it is too old. Start again.", "no_pending_link"
        )
    user = db.session.get(User, auth_request.link_user_id)
    if user is None or user.account_id != account.id or not user.is_active_user:
        raise SsoFailure("This user can no longer sign in.", "refused")
    return auth_request, user, connection


def take_link_step(auth_request: SsoAuthRequest, user: User) -> bool:
    """Use up the waiting link step for this user, once: False when another request took it first."""
    return bool(
        db.rows_changed(
            update(SsoAuthRequest)
            .where(SsoAuthRequest.id == auth_request.id, SsoAuthRequest.link_user_id == user.id)
            .values(link_user_id=None)
            .execution_options(synchronize_session=False)
        )
    )


def has_fresh_sso_sign_in(login_session: LoginSession | None, connection: SsoConnection, user: User) -> bool:
    """Whether this session signed in (or re-authenticated) through the connection within FRESH_SSO."""
    if login_session is None or login_session.auth_method != "sso":
        return False
    linked = db.session.scalar(
        select(SsoIdentity.id).where(SsoIdentity.user_id == user.id, SsoIdentity.connection_id == connection.id)
    )
    return linked is not None and utcnow() - login_session.authenticated_at <= FRESH_SSO


def enable_requirement(
    connection: SsoConnection, account: Account, login_session: LoginSession | None, *, actor: Actor
) -> list[str]:
    """Require SSO; returns the account's ten new one-time recovery codes (shown once)."""
    if not connection.active:
        raise Conflict("Activate the connection first.")
    if not has_fresh_sso_sign_in(login_session, connection, actor.user):
        raise Forbidden("Sign in through the identity provider (within the last 10 minutes) to require it.")
    connection.require_sso = True
    codes = replace_recovery_codes(account.id)
    record("sso.enforced", account, actor=actor, changes={"require_sso": True})
    return codes


def regenerate_recovery_codes(
    connection: SsoConnection, account: Account, login_session: LoginSession | None, *, actor: Actor
) -> list[str]:
    """A new set of ten recovery codes while SSO stays required (the old set stops working); it takes the
    same fresh sign-in through the connection as requiring SSO did."""
    if not (connection.active and connection.require_sso):
        raise Conflict("Recovery codes exist only while single sign-on is required.")
    if not has_fresh_sso_sign_in(login_session, connection, actor.user):
        raise Forbidden(
            "Sign in through the identity provider (within the last 10 minutes) to make new recovery codes."
        )
    codes = replace_recovery_codes(account.id)
    record("sso.recovery_codes_regenerated", account, actor=actor, changes={"codes": len(codes)})
    return codes


def disable_requirement(connection: SsoConnection, account: Account, *, actor: Actor) -> int:
    """Stop requiring SSO: every SSO-only person (no password) is emailed a link to choose one."""
    from portal.auth import password_reset

    connection.require_sso = False
    db.session.execute(delete(SsoRecoveryCode).where(SsoRecoveryCode.account_id == account.id))
    sso_only = db.session.scalars(
        select(User).where(
            User.account_id == account.id,
            User.is_sso.is_(True),
            User.password_hash.is_(None),
            User.status == UserStatus.ACTIVE.value,
        )
    ).all()
    for user in sso_only:
        password_reset.send_link(user, account, subject="Choose a password for Account Portal", reason="set_password")
    record("sso.enforced", account, actor=actor, changes={"require_sso": False, "set_password_links": len(sso_only)})
    return len(sso_only)


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower().rstrip("=")[:16]
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def replace_recovery_codes(account_id: uuid.UUID) -> list[str]:
    """Ten new single-use codes for the break-glass sign-in (80 bits each, argon2-hashed); old ones die."""
    db.session.execute(delete(SsoRecoveryCode).where(SsoRecoveryCode.account_id == account_id))
    codes = [_new_code() for _ in range(RECOVERY_CODES)]
    db.session.add_all(SsoRecoveryCode(account_id=account_id, code_hash=hash_password(code)) for code in codes)
    return codes


def use_recovery_code(account_id: uuid.UUID, code: str, user: User) -> bool:
    """Whether the code is one of the account's unused ones; marks it used (once, even when raced)."""
    code = code.strip().lower().replace(" ", "")
    if len(code) == 16:
        code = "-".join(code[i : i + 4] for i in range(0, 16, 4))
    unused = db.session.scalars(
        select(SsoRecoveryCode).where(SsoRecoveryCode.account_id == account_id, SsoRecoveryCode.used_at.is_(None))
    ).all()
    for candidate in unused:
        if verify_password(candidate.code_hash, code):
            return (
                db.rows_changed(
                    update(SsoRecoveryCode)
                    .where(SsoRecoveryCode.id == candidate.id, SsoRecoveryCode.used_at.is_(None))
                    .values(used_at=utcnow(), used_by_id=user.id)
                    .execution_options(synchronize_session=False)
                )
                > 0
            )
    return False


def remaining_recovery_codes(account_id: uuid.UUID) -> int:
    return len(
        db.session.scalars(
            select(SsoRecoveryCode.id).where(
                SsoRecoveryCode.account_id == account_id, SsoRecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def admins_of(account_id: uuid.UUID) -> list[User]:
    """The owner and every active holder of account:manage."""
    from portal.roles.policy import held_permissions

    users = db.session.scalars(
        select(User).where(User.account_id == account_id, User.status == UserStatus.ACTIVE.value)
    ).all()
    held = held_permissions([u.id for u in users])
    return [u for u in users if u.is_owner or Permission.ACCOUNT_MANAGE in held.get(u.id, frozenset())]


def record_break_glass(user: User, how: str, *, actor: Actor) -> None:
    """A password sign-in while SSO is required: audited, and every admin is told."""
    account = db.session.get(Account, user.account_id)
    record("sso.break_glass", user, actor=actor, changes={"how": how})
    for admin in admins_of(user.account_id):
        enqueue(
            "security_notice",
            admin.email,
            f"Break-glass sign-in to {account.name if account else ''}",
            account_id=user.account_id,
            user=admin,
            message=f"{user.full_name} ({user.login}) signed in with a password ({how}) although the account "
            "requires single sign-on. If this was not expected, check the audit log now.",
        )


def allow_form_redirect(connection: SsoConnection) -> None:
    """Let this page's forms redirect to the provider's sign-in (CSP form-action covers redirects after a
    form's POST): the authorization endpoint's origin, from the cached metadata (no call when cached)."""
    from urllib.parse import urlsplit

    from flask import g

    from portal.sso import oidc  # Authlib, requests, joserfc: loaded by the first SSO sign-in, not by every worker

    try:
        url = oidc.metadata(connection.discovery_url, connection.issuer or None).authorization_endpoint
    except SsoFailure:
        url = connection.discovery_url
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        g.form_action_sources = [f"{parts.scheme}://{parts.netloc}"]


# --- the flow ------------------------------------------------------------------------------------------


def redirect_uri(account: Account) -> str:
    """The one redirect URI the admin registers at the provider."""
    return external_url("sso.callback", sign_in_name=account.sign_in_name)


def begin(
    connection: SsoConnection, account: Account, purpose: str, user: User | None = None, next_path: str = ""
) -> str:
    """A new one-time request (state, nonce, PKCE verifier), bound to this browser; the provider's URL."""
    from portal.sso import oidc  # Authlib, requests, joserfc: loaded by the first SSO sign-in, not by every worker

    meta = oidc.metadata(connection.discovery_url, connection.issuer or None)
    state, nonce, verifier = tokens.new_token(), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    db.session.add(
        SsoAuthRequest(
            connection_id=connection.id,
            state_hash=tokens.digest(state),
            nonce=nonce,
            code_verifier_sealed=seal(verifier),
            purpose=purpose,
            user_id=user.id if user else None,
            next_path=next_path[:500],
        )
    )
    states = [s for s in session.get(SESSION_KEY, []) if isinstance(s, str)][-4:]
    session[SESSION_KEY] = [*states, tokens.digest(state)]
    return oidc.authorization_url(
        meta, connection.client_id, redirect_uri(account), state, nonce, verifier, fresh=purpose == "reauth"
    )


@dataclass
class Callback:
    """A callback that passed every check: its request, the ID token's claims, and the connection."""

    request: SsoAuthRequest
    claims: dict[str, Any]
    connection: SsoConnection


def finish(account: Account, args: dict[str, str]) -> Callback:
    """Check the callback: the state is this browser's, this account's, unused and recent; the provider
    said yes; the code gives an ID token that passes every check. Consumes the state either way."""
    from portal.sso import oidc  # Authlib, requests, joserfc: loaded by the first SSO sign-in, not by every worker

    connection = connection_of(account.id)
    if connection is None or not connection.client_id:
        raise SsoFailure("This account has no single sign-on connection.", "no_connection")
    state = args.get("state", "")
    if not state and args.get("error"):  # some providers drop the state from a refusal
        _refused(args["error"])
    if not state:
        raise SsoFailure("The answer from the identity provider has no state.", "bad_state")
    digest = tokens.digest(state)
    auth_request = db.session.scalar(select(SsoAuthRequest).where(SsoAuthRequest.state_hash == digest))
    if auth_request is None or auth_request.connection_id != connection.id:
        raise SsoFailure("This sign-in was not started here (unknown state).", "bad_state")
    used = db.rows_changed(
        update(SsoAuthRequest)
        .where(
            SsoAuthRequest.id == auth_request.id,
            SsoAuthRequest.used_at.is_(None),
            SsoAuthRequest.created_at > utcnow() - REQUEST_LIFETIME,
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not used:
        raise SsoFailure("This sign-in answer was used already or is too old. Start again.", "replayed")
    if digest not in session.get(SESSION_KEY, []):
        raise SsoFailure("This sign-in was started in another browser.", "bad_state")
    session[SESSION_KEY] = [s for s in session.get(SESSION_KEY, []) if s != digest]
    if auth_request.purpose != "test" and not connection.active:
        raise SsoFailure("Single sign-on is not active for this account.", "inactive")
    if args.get("error"):
        _refused(args["error"])
    code = args.get("code", "")
    if not code:
        raise SsoFailure("The answer from the identity provider has no code.", "no_code")
    meta = oidc.metadata(connection.discovery_url, connection.issuer or None)
    granted = oidc.exchange_code(
        meta,
        connection.client_id,
        unseal(connection.client_secret_sealed),
        redirect_uri(account),
        code,
        unseal(auth_request.code_verifier_sealed),
    )
    id_token = granted.get("id_token")
    if not isinstance(id_token, str):
        raise SsoFailure("The identity provider sent no ID token.", "no_id_token")
    claims = oidc.validate_id_token(
        id_token,
        issuer=meta.issuer,
        client_id=connection.client_id,
        nonce=auth_request.nonce,
        jwks_uri=meta.jwks_uri,
        authenticated_after=auth_request.created_at.timestamp() if auth_request.purpose == "reauth" else None,
    )
    if not connection.issuer:
        connection.issuer = meta.issuer
    return Callback(auth_request, claims, connection)


def _refused(error: str) -> None:
    reason = "You declined, or the identity provider refused the sign-in"
    if error != "access_denied":
        reason = f"The identity provider refused the sign-in ({error[:60]})"
    raise SsoFailure(f"{reason}.", "denied")


def record_test(connection: SsoConnection, account: Account, claims: dict[str, Any], *, actor: Actor) -> None:
    """ "Test connection" passed for these settings: keep the claims received, to show them."""
    connection.tested_version = connection.settings_version
    connection.tested_at = utcnow()
    connection.tested_by_id = actor.user.id
    connection.test_claims = {k: v for k, v in claims.items() if k not in {"nonce", "at_hash", "c_hash"}}
    record("sso.tested", account, actor=actor, changes={"sub": claims.get("sub"), "issuer": claims.get("iss")})


# --- who the person is --------------------------------------------------------------------------------


def email_of(claims: dict[str, Any]) -> str:
    email = claims.get("email")
    return email.strip().lower() if isinstance(email, str) else ""


def email_proven(connection: SsoConnection, claims: dict[str, Any]) -> bool:
    """email_verified (or Entra's xms_edov) is true, or the admin vouched for the address's domain."""
    email = email_of(claims)
    if not email or "@" not in email:
        return False
    if any(claims.get(name) in (True, "true", "True") for name in ("email_verified", "xms_edov")):
        return True
    domains = connection.authoritative_domains.split()
    return email.rpartition("@")[2] in domains


@dataclass
class Resolution:
    """Who an ID token is: `kind` is linked, invited, needs_reauth, jit or refused (with `reason`)."""

    kind: str
    user: User | None = None
    identity: SsoIdentity | None = None
    reason: str = ""


def resolve(connection: SsoConnection, claims: dict[str, Any]) -> Resolution:
    """(connection, sub) first, never the email; then a proven email's invitee or SCIM user; then an active
    user of that email after a password re-authentication; then JIT; else refused. Never another account."""
    identity = db.session.scalar(
        select(SsoIdentity).where(SsoIdentity.connection_id == connection.id, SsoIdentity.subject == str(claims["sub"]))
    )
    if identity is not None:
        user = db.session.get(User, identity.user_id)
        if user is None or user.account_id != connection.account_id:  # pragma: no cover - cascade
            return Resolution("refused", reason="The linked user no longer exists.")
        if not user.is_active_user:
            return Resolution("refused", user, identity, reason="This user is disabled in the portal.")
        return Resolution("linked", user, identity)
    email = email_of(claims)
    proven = email_proven(connection, claims)
    holder = (
        db.session.scalar(select(User).where(User.account_id == connection.account_id, User.email == email))
        if email
        else None
    )
    if holder is not None and db.session.scalar(select(SsoIdentity.id).where(SsoIdentity.user_id == holder.id)):
        return Resolution("refused", reason="The user with this email is linked to another identity of the provider.")
    if holder is not None and (holder.status == UserStatus.PENDING or getattr(holder, "external_id", None)):
        if not proven:
            return Resolution("refused", reason="The provider did not prove this email address (email_verified).")
        if holder.status == UserStatus.DISABLED:
            return Resolution("refused", reason="This user is disabled in the portal.")
        return Resolution("invited", holder)
    if holder is not None:
        if not holder.is_active_user:
            return Resolution("refused", reason="This user is disabled in the portal.")
        return Resolution("needs_reauth", holder)
    if not jit_enabled(connection):
        return Resolution(
            "refused",
            reason="Nobody in this account has this identity or email, and new people "
            "are not created at sign-in. Ask an administrator to invite you.",
        )
    if not proven:
        return Resolution("refused", reason="The provider did not prove this email address (email_verified).")
    return Resolution("jit")


def link(connection: SsoConnection, user: User, claims: dict[str, Any], how: str, *, actor: Actor) -> SsoIdentity:
    """Link the identity to the user (both free: unique constraints say so), who becomes an SSO user."""
    identity = SsoIdentity(
        connection_id=connection.id, user_id=user.id, subject=str(claims["sub"]), email=email_of(claims)
    )
    db.session.add(identity)
    user.is_sso = True
    db.session.flush()
    record("sso.identity_linked", user, actor=actor, changes={"sub": identity.subject, "how": how})
    return identity


def unlink(user: User, *, actor: Actor) -> None:
    """Forget the user's identity: they sign in with a password again (if they have one)."""
    identity = db.session.scalar(select(SsoIdentity).where(SsoIdentity.user_id == user.id))
    if identity is None:
        raise Conflict(f"{user.full_name} has no linked identity.")
    db.session.delete(identity)
    user.is_sso = False
    record("sso.identity_unlinked", user, actor=actor, changes={"sub": identity.subject})


def accept_invited(user: User, claims: dict[str, Any], *, actor: Actor) -> None:
    """A pending invitee (or SCIM user) signing in through the provider: active, their invitation used."""
    from portal.models import Invitation, InvitationRole, InvitationStatus
    from portal.roles.policy import refusal_to_grant

    if user.status != UserStatus.PENDING:
        return
    now = utcnow()
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.user_id == user.id, Invitation.status == InvitationStatus.PENDING.value)
    )
    user.status = UserStatus.ACTIVE.value
    user.first_name = user.first_name or str(claims.get("given_name") or "")[:100]
    user.last_name = user.last_name or str(claims.get("family_name") or "")[:100]
    if invitation is None:
        return
    invitation.status = InvitationStatus.ACCEPTED.value
    invitation.accepted_at = now
    inviter = db.session.get(User, invitation.invited_by_id) if invitation.invited_by_id else None
    from portal.invitations.services import _inviter_permissions

    may_grant = _inviter_permissions(inviter) or frozenset()
    roles = db.session.scalars(
        select(Role)
        .join(InvitationRole, InvitationRole.role_id == Role.id)
        .where(InvitationRole.invitation_id == invitation.id, Role.account_id == user.account_id)
    ).all()
    granted = [role for role in roles if refusal_to_grant(may_grant, role) is None]
    for role in granted:  # as portal.invitations.services.accept: the inviter's grants, as they may now
        role_services.grant(user, role, actor=actor)
    record(
        "invitation.accept",
        invitation,
        actor=actor,
        account_id=user.account_id,
        changes={"via": "sso", "roles_granted": [r.name for r in granted]},
    )


def create_jit(connection: SsoConnection, claims: dict[str, Any]) -> User:
    """A new active user from a proven email, with the least-privileged default role (member)."""
    from portal.invitations.services import _placeholder_login

    email = email_of(claims)
    login = _placeholder_login(connection.account_id, email)
    user = User(
        id=uuid.uuid4(),
        account_id=connection.account_id,
        login=login,
        email=email,
        first_name=str(claims.get("given_name") or "")[:100],
        last_name=str(claims.get("family_name") or "")[:100],
        password_hash=None,
        status=UserStatus.ACTIVE.value,
    )
    db.session.add(user)
    db.session.flush()
    member = db.session.scalar(select(Role).where(Role.account_id == connection.account_id, Role.name == "member"))
    actor = actors.person(user)  # made just now: nobody else could be named as acting for them
    if member is not None:  # the least role, whatever the provider says: no rank to check
        role_services.grant(user, member, actor=actor)
    record("sso.jit_created", user, actor=actor, changes={"email": email, "roles": ["member"] if member else []})
    return user


def after_sign_in(
    connection: SsoConnection, identity: SsoIdentity, user: User, claims: dict[str, Any], *, actor: Actor
) -> None:
    """What each sign-in brings: a changed address (a pending email change), the group mapping."""
    identity.last_sign_in_at = utcnow()
    email = email_of(claims)
    if email and email != identity.email:
        identity.email = email
    if email and email != user.email and email_proven(connection, claims):
        _propose_email(user, email, actor=actor)
    apply_groups(connection, identity, user, claims, actor=actor)


def _propose_email(user: User, email: str, *, actor: Actor) -> None:
    """The provider's new address becomes a pending change, confirmed as any other (once per address)."""
    from portal.email_changes import services as email_changes

    open_change = db.session.scalar(
        select(EmailChange).where(
            EmailChange.user_id == user.id,
            EmailChange.confirmed_at.is_(None),
            EmailChange.cancelled_at.is_(None),
            EmailChange.expires_at > utcnow(),
        )
    )
    if open_change is not None and open_change.new_email == email:
        return
    try:
        with db.session.begin_nested():
            email_changes.request_change(user, email, also_changed={"via": "sso"}, actor=actor)
    except (Invalid, Conflict):
        pass  # taken in the account, or the same: nothing to propose


def apply_groups(
    connection: SsoConnection, identity: SsoIdentity, user: User, claims: dict[str, Any], *, actor: Actor
) -> None:
    """Mapped groups (and their roles) follow the groups claim at each sign-in; never for the owner."""
    if user.is_owner:
        return
    mappings = db.session.scalars(select(SsoGroupMapping).where(SsoGroupMapping.connection_id == connection.id)).all()
    if not mappings:
        return
    raw = claims.get(connection.groups_claim) or []
    held = {str(v) for v in (raw if isinstance(raw, list) else [raw])}
    roles = {
        r.id: r
        for r in db.session.scalars(select(Role).where(Role.id.in_([m.role_id for m in mappings if m.role_id]))).all()
    }
    want_groups = {m.group_id for m in mappings if m.claim_value in held}
    mapped_groups = {m.group_id for m in mappings}
    want_roles = {
        m.role_id
        for m in mappings
        if m.claim_value in held
        and m.role_id is not None
        and (connection.allow_admin_groups or not is_admin_level(roles[m.role_id]))
    }
    current = set(db.session.scalars(select(GroupMember.group_id).where(GroupMember.user_id == user.id)))
    db.session.add_all(GroupMember(group_id=g, user_id=user.id) for g in want_groups - current)
    removed = (mapped_groups - want_groups) & current
    if removed:
        db.session.execute(delete(GroupMember).where(GroupMember.user_id == user.id, GroupMember.group_id.in_(removed)))
    granted_before = {uuid.UUID(r) for r in identity.granted_role_ids or []}
    holding = set(db.session.scalars(select(RoleAssignment.role_id).where(RoleAssignment.user_id == user.id)))
    new_roles = want_roles - holding
    for role_id in sorted(new_roles):  # mapped by an admin within what they may grant (admin-level: the owner's say)
        role_services.grant(user, roles[role_id], actor=actor)
    lost = granted_before - want_roles
    if lost:
        db.session.execute(
            delete(RoleAssignment).where(RoleAssignment.user_id == user.id, RoleAssignment.role_id.in_(lost))
        )
    identity.granted_role_ids = sorted(str(r) for r in (granted_before & want_roles) | new_roles)
    if want_groups - current or removed or new_roles or lost:
        record(
            "sso.groups_applied",
            user,
            actor=actor,
            changes={
                "groups_added": len(want_groups - current),
                "groups_removed": len(removed),
                "roles_added": len(new_roles),
                "roles_removed": len(lost),
            },
        )


def reauth_connection(user: User) -> SsoConnection | None:
    """The connection through which this person may confirm it is them (/me/reauth): their account's, when
    it is active and their identity is linked to it; else None (they confirm with their password)."""
    return db.session.scalar(
        select(SsoConnection)
        .join(SsoIdentity, SsoIdentity.connection_id == SsoConnection.id)
        .where(
            SsoIdentity.user_id == user.id, SsoConnection.account_id == user.account_id, SsoConnection.active.is_(True)
        )
    )


def mark_reauthenticated(login_session: LoginSession) -> None:
    """A fresh SSO sign-in within this session."""
    login_session.authenticated_at = utcnow()
    login_session.auth_method = "sso"


def identity_of(user_id: uuid.UUID) -> SsoIdentity | None:
    return db.session.scalar(select(SsoIdentity).where(SsoIdentity.user_id == user_id))


def linked_identities(connection: SsoConnection) -> list[tuple[SsoIdentity, User]]:
    return [
        (i, u)
        for i, u in db.session.execute(
            select(SsoIdentity, User)
            .join(User, User.id == SsoIdentity.user_id)
            .where(SsoIdentity.connection_id == connection.id)
            .order_by(User.email)
        ).all()
    ]
