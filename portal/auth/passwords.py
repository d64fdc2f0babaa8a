"""Password hashing (argon2id) and the password policy every new password must meet."""

from __future__ import annotations

import gzip
import re
import secrets
from collections.abc import Iterable
from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 128

# OWASP's second argon2id row (m=19 MiB, t=2, p=1): at the floor, and fast enough to sign in.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
# Verified when no user matches, so that an unknown login costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash of the password, salted."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; a missing hash still costs one verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def spend_one_verification(password: str) -> None:
    """Verify against a dummy hash: the cost of a real check, for a login that matched no one."""
    verify_password(None, password)


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with weaker parameters than today's."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@cache
def common_passwords() -> frozenset[str]:
    """The 20,000 most common passwords (from zxcvbn's list, shipped in portal/data)."""
    data = resources.files("portal").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


_TRAILING_NOISE = re.compile(r"[\d\W_]+$")


def password_problems(password: str, context_words: Iterable[str] = ()) -> list[str]:
    """What is wrong with a new password, in words; an empty list means it is acceptable.

    No composition rules and no truncation (ASVS 6.2): only length, common passwords,
    and words a guesser would try first (the login, the email, the account's name).
    """
    if len(password) < MIN_LENGTH:
        return [f"Use at least {MIN_LENGTH} characters."]
    if len(password) > MAX_LENGTH:
        return [f"Use at most {MAX_LENGTH} characters."]
    lowered = password.lower()
    stem = _TRAILING_NOISE.sub("", lowered)
    common = common_passwords()
    if lowered in common or stem in common or len(set(lowered)) <= 2:
        return ["This password is too common; choose something harder to guess."]
    words = {"portal", "password", "account"}
    for word in context_words:
        word = word.strip().lower()
        if not word:
            continue
        words.add(word)
        if "@" in word:
            words.add(word.split("@", 1)[0])
    for word in words:
        if len(word) >= 4 and word in lowered and len(lowered) - len(word) < 8:
            return ["Do not build the password from your login, email or the account's name."]
    return []
