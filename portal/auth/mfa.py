"""TOTP second factor (pyotp) with single-use codes, and single-use recovery codes.

30-second steps, 6 digits, one step of drift either side (SECURITY M2). A code is accepted
once: the last accepted step is stored and an UPDATE only moves it forward (M1). The secret
is stored encrypted with a key derived from SECRET_KEY and is never shown after enrolment.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import delete, or_, select, update

from portal import db, tokens
from portal.auth.passwords import hash_password, verify_password
from portal.db import utcnow
from portal.models import RecoveryCode, User

PERIOD = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
ISSUER = "Account Portal"


def new_secret() -> str:
    """A fresh base32 secret of 160 bits (32 characters)."""
    return pyotp.random_base32(32)


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"account-portal totp secret").derive(
        current_app.config["SECRET_KEY"].encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str) -> str:
    """The secret encrypted for storage (or for the session during enrolment)."""
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str | None:
    """The secret back, or None when it was sealed with another key or tampered with."""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


def provisioning_uri(secret: str, user: User, account_name: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=f"{user.login} ({account_name})", issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no external image, no inline style)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff"))


def matching_step(secret: str, code: str, now: datetime | None = None) -> int | None:
    """The time step whose code this is, within one step of now; None when it matches none."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((now or utcnow()).timestamp()) // PERIOD
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if tokens.same_secret(totp.at(step * PERIOD), code):
            found = step  # no early exit: the same work whichever step matches
    return found


def accept_code(user: User, code: str, now: datetime | None = None) -> bool:
    """Whether the code is the user's and has not been used: consumes its time step atomically."""
    secret = unseal(user.mfa_secret) if user.mfa_secret else None
    step = matching_step(secret, code, now) if secret else None
    if step is None:
        return False
    moved = db.rows_changed(
        update(User)
        .where(User.id == user.id, or_(User.mfa_last_counter.is_(None), User.mfa_last_counter < step))
        .values(mfa_last_counter=step)
        .execution_options(synchronize_session=False)
    )
    return bool(moved)


def enable(user: User, secret: str, step: int) -> list[str]:
    """Turn MFA on with a confirmed secret; returns the new recovery codes (shown once)."""
    user.mfa_secret = seal(secret)
    user.mfa_enabled = True
    user.mfa_last_counter = step
    return replace_recovery_codes(user.id)


def disable(user: User) -> None:
    """Turn MFA off and forget the secret and the recovery codes."""
    user.mfa_secret = None
    user.mfa_enabled = False
    user.mfa_last_counter = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(7)).decode().lower().rstrip("=")[:10]
    return f"{raw[:5]}-{raw[5:]}"


def replace_recovery_codes(user_id: uuid.UUID) -> list[str]:
    """Ten new single-use codes (50 bits each, so stored with argon2: M3); the old ones stop working."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_code() for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(user_id=user_id, code_hash=hash_password(code)) for code in codes)
    return codes


def use_recovery_code(user: User, code: str) -> bool:
    """Whether the code is one of the user's unused recovery codes; marks it used."""
    code = code.strip().lower().replace(" ", "")
    if len(code) == 10:
        code = f"{code[:5]}-{code[5:]}"
    unused = db.session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all()
    for candidate in unused:
        if verify_password(candidate.code_hash, code):
            used = db.rows_changed(
                update(RecoveryCode)
                .where(RecoveryCode.id == candidate.id, RecoveryCode.used_at.is_(None))
                .values(used_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            return bool(used)
    return False


def remaining_recovery_codes(user_id: uuid.UUID) -> int:
    """How many recovery codes the user has left."""
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        ).all()
    )
