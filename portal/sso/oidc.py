"""The OpenID Connect client side: discovery and JWKS (cached), the authorization URL (code flow, PKCE
S256, one-time state and nonce), the token exchange, and the ID token's checks.

Authlib's OAuth 2 client builds the authorization URL (with the S256 challenge) and makes the token
request (with the verifier); joserfc verifies the ID token: RS256 or ES256 only, a key of the provider's
JWKS (fetched again, at most every JWKS_MIN_REFRESH seconds, when a token names an unknown `kid`), the
exact issuer, our client id as audience, the nonce, and 120 s of leeway on the times.

Discovery documents and key sets are kept in this process for METADATA_TTL: a sign-in makes one network
call, the token exchange, over a connection pool shared by the process (kept-alive connections, one TLS
context), never a new client per request. Every failure is an SsoFailure with a reason that is safe to show.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, cast

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization
from requests.adapters import HTTPAdapter

from portal.sso.failures import SsoFailure

ALGORITHMS = ("RS256", "ES256")
LEEWAY = 120
HTTP_TIMEOUT = 5.0
METADATA_TTL = 3600.0
JWKS_MIN_REFRESH = 10.0
SCOPE = "openid email profile"
WELL_KNOWN = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class ProviderMetadata:
    """What the discovery document says, of what we use."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_methods: tuple[str, ...] = ("client_secret_basic",)


_lock = threading.Lock()
_metadata: dict[str, tuple[float, ProviderMetadata]] = {}
_jwks: dict[str, tuple[float, KeySet]] = {}
# How many documents were fetched over the network (the bench and the tests read it).
fetches = {"discovery": 0, "jwks": 0}


# One pool of connections to the providers for the whole process (urllib3's pools are thread-safe): a
# sign-in reuses a kept-alive connection, and its TLS session, instead of opening a new one each time.
_adapter = HTTPAdapter(pool_connections=16, pool_maxsize=16)
_http = requests.Session()
for _scheme in ("https://", "http://"):
    _http.mount(_scheme, _adapter)


def _shared_pool(client: OAuth2Session) -> OAuth2Session:
    for scheme in ("https://", "http://"):
        client.mount(scheme, _adapter)
    return client


def clear_cache() -> None:
    """Forget every cached document (tests; a changed connection's old entries just age out)."""
    with _lock:
        _metadata.clear()
        _jwks.clear()


def discovery_document_url(url: str) -> str:
    """The discovery document's URL, from the issuer or the document's own URL as pasted."""
    url = url.strip()
    return url if url.endswith(WELL_KNOWN) else url.rstrip("/") + WELL_KNOWN


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = _http.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
    except requests.RequestException as error:
        raise SsoFailure(
            f"The identity provider could not be reached ({type(error).__name__}).", "provider_unreachable"
        ) from None
    if response.status_code != 200:
        raise SsoFailure(f"The identity provider answered {response.status_code} for {url}.", "provider_error")
    try:
        data = response.json()
    except ValueError:
        raise SsoFailure(f"The identity provider's answer at {url} is not JSON.", "provider_error") from None
    if not isinstance(data, dict):
        raise SsoFailure(f"The identity provider's answer at {url} is not a JSON object.", "provider_error")
    return data


def metadata(discovery_url: str, expected_issuer: str | None = None, *, fresh: bool = False) -> ProviderMetadata:
    """The provider's metadata, from the cache unless it is older than METADATA_TTL (or `fresh`).

    The document's `issuer` must be the one the connection was tested with (`expected_issuer`), and,
    when the admin pasted an issuer rather than the document's URL, that issuer exactly.
    """
    url = discovery_document_url(discovery_url)
    now = time.monotonic()
    with _lock:
        cached = _metadata.get(url)
    if cached is not None and not fresh and now - cached[0] < METADATA_TTL:
        found = cached[1]
    else:
        document = _get_json(url)
        fetches["discovery"] += 1
        try:
            found = ProviderMetadata(
                issuer=str(document["issuer"]),
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                jwks_uri=str(document["jwks_uri"]),
                token_auth_methods=tuple(
                    document.get("token_endpoint_auth_methods_supported") or ("client_secret_basic",)
                ),
            )
        except KeyError as missing:
            raise SsoFailure(f"The discovery document has no {missing.args[0]}.", "provider_error") from None
        pasted = discovery_url.strip().rstrip("/")
        if not pasted.endswith(WELL_KNOWN) and found.issuer.rstrip("/") != pasted:
            raise SsoFailure(
                f"The discovery document names the issuer {found.issuer}, not {pasted}.", "issuer_mismatch"
            )
        with _lock:
            _metadata[url] = (now, found)
    if expected_issuer and found.issuer != expected_issuer:
        raise SsoFailure(
            "The provider's issuer changed since the connection was tested; test it again.", "issuer_mismatch"
        )
    return found


def _key_set(jwks_uri: str, kid: str | None) -> KeySet:
    """The provider's keys, fetched again when `kid` is not among the cached ones (at most every
    JWKS_MIN_REFRESH seconds, so that tokens with made-up kids cannot make us hammer the provider)."""
    now = time.monotonic()
    with _lock:
        cached = _jwks.get(jwks_uri)
    if cached is not None and now - cached[0] < METADATA_TTL and (kid is None or _has_kid(cached[1], kid)):
        return cached[1]
    if cached is not None and now - cached[0] < JWKS_MIN_REFRESH:
        return cached[1]
    document = _get_json(jwks_uri)
    fetches["jwks"] += 1
    try:
        keys = KeySet.import_key_set(cast(KeySetSerialization, document))  # checked by joserfc as it reads
    except (JoseError, ValueError, TypeError, KeyError):
        raise SsoFailure("The provider's key set (JWKS) could not be read.", "provider_error") from None
    with _lock:
        _jwks[jwks_uri] = (now, keys)
    return keys


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


def authorization_url(
    meta: ProviderMetadata,
    client_id: str,
    redirect_uri: str,
    state: str,
    nonce: str,
    code_verifier: str,
    *,
    fresh: bool = False,
) -> str:
    """The code-flow request with PKCE S256 (the challenge made from the verifier), state and nonce; `fresh`
    asks the provider to sign the person in again whatever session it has (prompt=login, max_age=0)."""
    client = OAuth2Session(client_id, redirect_uri=redirect_uri, scope=SCOPE, code_challenge_method="S256")
    extra: dict[str, str] = {"prompt": "login", "max_age": "0"} if fresh else {}
    url, _state = client.create_authorization_url(
        meta.authorization_endpoint, state=state, nonce=nonce, code_verifier=code_verifier, **extra
    )
    return str(url)


def exchange_code(
    meta: ProviderMetadata, client_id: str, client_secret: str, redirect_uri: str, code: str, code_verifier: str
) -> dict[str, Any]:
    """The token endpoint's answer for the code, sent with the PKCE verifier and the client's secret."""
    method = "client_secret_basic" if "client_secret_basic" in meta.token_auth_methods else "client_secret_post"
    client = _shared_pool(
        OAuth2Session(
            client_id,
            client_secret,
            redirect_uri=redirect_uri,
            scope=SCOPE,
            token_endpoint_auth_method=method,
            code_challenge_method="S256",
        )
    )
    try:
        token = client.fetch_token(
            meta.token_endpoint,
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            timeout=HTTP_TIMEOUT,
        )
    except requests.RequestException as error:
        raise SsoFailure(
            f"The identity provider could not be reached ({type(error).__name__}).", "provider_unreachable"
        ) from None
    except Exception as error:  # authlib's OAuthError and friends: the provider refused the code
        description = getattr(error, "description", "") or getattr(error, "error", "") or type(error).__name__
        raise SsoFailure(
            f"The identity provider refused the sign-in code ({str(description)[:200]}).", "token_refused"
        ) from None
    return dict(token)


def validate_id_token(
    id_token: str,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    jwks_uri: str,
    now: float | None = None,
    authenticated_after: float | None = None,
) -> dict[str, Any]:
    """The ID token's claims, once its signature, alg, issuer, audience, nonce and times are right.

    `authenticated_after` (a fresh sign-in was asked, max_age=0): the token's `auth_time`, which OpenID
    Connect then requires, must not be older than that moment (less the leeway)."""
    try:
        header = jws.extract_compact(id_token.encode()).headers()
    except (JoseError, ValueError, TypeError):
        raise SsoFailure("The ID token is not a signed JWT.", "bad_token") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise SsoFailure(f"The ID token is signed with {alg!r}; only RS256 and ES256 are accepted.", "bad_alg")
    kid = header.get("kid")
    keys = _key_set(jwks_uri, kid if isinstance(kid, str) else None)
    if isinstance(kid, str) and not _has_kid(keys, kid):
        raise SsoFailure("The ID token is signed with a key the provider does not publish.", "unknown_key")
    try:
        token = jwt.decode(id_token, keys, algorithms=[alg])
    except JoseError:
        raise SsoFailure("The ID token's signature is not valid.", "bad_signature") from None
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        now=int(now) if now is not None else None,
        leeway=LEEWAY,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as error:
        name = getattr(error, "claim", "") or ""
        raise SsoFailure(
            f"The ID token's {name or 'claims'} is not right ({error.error}).", f"bad_{name or 'claims'}"
        ) from None
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise SsoFailure("The ID token is meant for several clients and not authorised for this one.", "bad_azp")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise SsoFailure("The ID token names nobody (no sub).", "bad_sub")
    if authenticated_after is not None:
        auth_time = claims.get("auth_time")
        if (
            not isinstance(auth_time, int | float)
            or isinstance(auth_time, bool)
            or auth_time < authenticated_after - LEEWAY
        ):
            raise SsoFailure(
                "The identity provider did not ask you to sign in again (its auth_time is older "
                "than this request). Try again.",
                "not_fresh",
            )
    return claims
