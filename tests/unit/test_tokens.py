"""portal.tokens: the one place secret tokens are made, digested for storage and compared."""

from __future__ import annotations

import hashlib
import re

from portal import tokens


def test_a_new_token_is_url_safe_256_bits_and_new_each_time() -> None:
    made = {tokens.new_token() for _ in range(50)}
    assert len(made) == 50
    for token in made:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)


def test_a_prefix_is_kept_in_front() -> None:
    token = tokens.new_token("scim_")
    assert token.startswith("scim_")
    assert len(token) == len("scim_") + 43


def test_the_digest_is_what_rows_stored_before_it_existed() -> None:
    # Stored rows (sessions, links, keys, provisioning tokens) hold hashlib.sha256(token).hexdigest():
    # the same bytes must still find them.
    token = "ak_abc-DEF_123"
    assert tokens.digest(token) == hashlib.sha256(token.encode()).hexdigest()
    assert tokens.digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert re.fullmatch(r"[0-9a-f]{64}", tokens.digest("x"))


def test_a_new_token_comes_with_its_digest() -> None:
    token, stored = tokens.new_token_and_digest("ak_")
    assert token.startswith("ak_")
    assert stored == tokens.digest(token)
    assert token not in stored


def test_same_secret() -> None:
    assert tokens.same_secret("s3cret", "s3cret")
    assert not tokens.same_secret("s3cret", "s3creT")
    assert not tokens.same_secret("", "s3cret")
    assert tokens.same_secret("é", "é")  # not only ASCII


def test_keyed_digest_is_the_hmac_lockout_and_rate_limit_rows_hold() -> None:
    import hmac

    from flask import Flask

    app = Flask(__name__)
    app.config["SECRET_KEY"] = "k" * 32
    with app.app_context():
        for purpose in ("login", "ratelimit"):
            expected = hmac.new(b"k" * 32, purpose.encode() + b":ada@example.com", hashlib.sha256).hexdigest()
            assert tokens.keyed_digest(purpose, "ada@example.com") == expected
        assert tokens.keyed_digest("login", "x") != tokens.keyed_digest("ratelimit", "x")
        before = tokens.keyed_digest("login", "ada@example.com")
    app.config["SECRET_KEY"] = "another"
    with app.app_context():
        assert tokens.keyed_digest("login", "ada@example.com") != before
