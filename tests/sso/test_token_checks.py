"""The ID token's checks, with tokens signed here (joserfc): issuer, audience, nonce, alg, times, kid."""

from __future__ import annotations

import functools
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from portal.sso import oidc
from portal.sso.oidc import SsoFailure

ISSUER, CLIENT, NONCE, JWKS = "https://idp.example.com", "client-1", "nonce-1", "https://idp.example.com/jwks"


@functools.cache
def _generated_keys() -> tuple[RSAKey, ECKey]:
    """The provider's two signing keys, made once for the module (RSA key generation takes a while)."""
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    return rsa, ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The provider's published keys (editable by the test) and how many times they were fetched."""
    oidc.clear_cache()
    rsa, ec = _generated_keys()
    state: dict[str, Any] = {"published": [rsa, ec], "fetched": 0, "rsa": rsa, "ec": ec}

    def fake_get(url: str) -> dict[str, Any]:
        assert url == JWKS
        state["fetched"] += 1
        return KeySet(state["published"]).as_dict(private=False)

    monkeypatch.setattr(oidc, "_get_json", fake_get)
    monkeypatch.setattr(oidc, "JWKS_MIN_REFRESH", 0.0)
    yield state
    oidc.clear_cache()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": CLIENT, "sub": "alice", "nonce": NONCE, "iat": now, "exp": now + 300, **overrides}


def _token(key: Any, alg: str = "RS256", **overrides: Any) -> str:
    return jwt.encode({"alg": alg, "kid": key.kid}, _claims(**overrides), key)


def _check(token: str) -> dict[str, Any]:
    return oidc.validate_id_token(token, issuer=ISSUER, client_id=CLIENT, nonce=NONCE, jwks_uri=JWKS)


def test_a_good_token_passes_rs256_and_es256(keys: dict[str, Any]) -> None:
    assert _check(_token(keys["rsa"]))["sub"] == "alice"
    assert _check(_token(keys["ec"], "ES256"))["sub"] == "alice"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"iss": "https://evil.example.com"}, "bad_iss"),
        ({"iss": ISSUER + "/"}, "bad_iss"),  # exact, not a prefix
        ({"aud": "another-client"}, "bad_aud"),
        ({"nonce": "replayed"}, "bad_nonce"),
        ({"exp": int(time.time()) - 121}, "bad_exp"),
    ],
)
def test_wrong_claims_are_refused(keys: dict[str, Any], overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(SsoFailure) as failure:
        _check(_token(keys["rsa"], **overrides))
    assert failure.value.code == code


def test_expiry_within_the_leeway_passes(keys: dict[str, Any]) -> None:
    assert _check(_token(keys["rsa"], exp=int(time.time()) - 100))


def test_alg_none_and_hs256_are_refused(keys: dict[str, Any]) -> None:
    import base64
    import json

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none', 'kid': 'rsa-1'})}.{b64(_claims())}."
    with pytest.raises(SsoFailure) as failure:
        _check(unsigned)
    assert failure.value.code in ("bad_alg", "bad_token")
    hmac = OctKey.generate_key(256, parameters={"kid": "rsa-1"})
    with pytest.raises(SsoFailure) as failure:
        _check(jwt.encode({"alg": "HS256", "kid": "rsa-1"}, _claims(), hmac))
    assert failure.value.code == "bad_alg"


def test_a_forged_signature_is_refused(keys: dict[str, Any]) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})  # same kid, another key
    with pytest.raises(SsoFailure) as failure:
        _check(_token(impostor))
    assert failure.value.code == "bad_signature"


def test_an_unknown_kid_refreshes_the_jwks_once(keys: dict[str, Any]) -> None:
    assert _check(_token(keys["rsa"]))
    assert keys["fetched"] == 1
    assert _check(_token(keys["rsa"]))
    assert keys["fetched"] == 1  # cached: no network call per sign-in
    rotated = RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})
    keys["published"] = [rotated]
    assert _check(_token(rotated))["sub"] == "alice"
    assert keys["fetched"] == 2
    stranger = RSAKey.generate_key(2048, parameters={"kid": "never-published"})
    with pytest.raises(SsoFailure) as failure:
        _check(_token(stranger))
    assert failure.value.code == "unknown_key"


def test_a_fresh_sign_in_needs_an_auth_time_after_the_request_began(keys: dict[str, Any]) -> None:
    """A re-authentication (prompt=login, max_age=0): the provider must say when the person signed in, and
    that must be after we asked (within the leeway)."""
    began = time.time()

    def check(token: str) -> dict[str, Any]:
        return oidc.validate_id_token(
            token, issuer=ISSUER, client_id=CLIENT, nonce=NONCE, jwks_uri=JWKS, authenticated_after=began
        )

    assert check(_token(keys["rsa"], auth_time=int(began) + 1))
    assert check(_token(keys["rsa"], auth_time=int(began) - 60))  # clocks differ: the leeway
    for stale in ({"auth_time": int(began) - 3600}, {}, {"auth_time": "yesterday"}):
        with pytest.raises(SsoFailure) as failure:
            check(_token(keys["rsa"], **stale))
        assert failure.value.code == "not_fresh"
