"""P1–P4: argon2id at the OWASP floor, re-hashing, length without composition rules, common passwords."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from portal.auth.passwords import hash_password, needs_rehash, password_problems, verify_password

FLOORS = [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)]  # (KiB, t) with p=1


def test_hash_is_argon2id_at_or_above_the_owasp_floor() -> None:
    stored = hash_password("a long enough passphrase")
    assert stored.startswith("$argon2id$")
    params = extract_parameters(stored)
    assert params.type is Type.ID
    assert any(params.memory_cost >= m and params.time_cost >= t for m, t in FLOORS)
    assert verify_password(stored, "a long enough passphrase")
    assert not verify_password(stored, "A long enough passphrase")  # no case folding


def test_weak_hash_needs_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("x" * 12)
    assert needs_rehash(weak)
    assert not needs_rehash(hash_password("x" * 12))


def test_missing_hash_never_verifies() -> None:
    assert not verify_password(None, "anything at all")


@pytest.mark.parametrize("password", ["short", "elevenchars"])
def test_too_short(password: str) -> None:
    assert password_problems(password) == ["Use at least 12 characters."]


def test_long_unicode_passphrase_with_spaces_is_accepted() -> None:
    passphrase = "Grüne Äpfel fallen 🍏 leise ins nasse Gras im späten Oktober, sagt der alte Gärtner"
    assert len(passphrase) >= 64
    assert password_problems(passphrase) == []


def test_too_long() -> None:
    assert password_problems("x" * 129 + "yz") == ["Use at most 128 characters."]


@pytest.mark.parametrize("password", ["password1234", "qwertyuiop123", "iloveyou!!!!!", "aaaaaaaaaaaaaa"])
def test_common_passwords_are_refused(password: str) -> None:
    assert "too common" in password_problems(password)[0]


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("Initech2026!!", ["Initech"]),
        ("peter.gibbons99", ["peter.gibbons"]),
        ("gibbonsmail#1", ["gibbonsmail@example.com"]),
    ],
)
def test_context_words_are_refused(password: str, context: list[str]) -> None:
    assert "login, email" in password_problems(password, context)[0]


def test_context_word_inside_a_long_passphrase_is_fine() -> None:
    assert password_problems("initech makes very fine staplers", ["Initech"]) == []
