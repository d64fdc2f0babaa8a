"""oidc-provider-mock on loopback, as the tests and `python -m bench sso` run it.

oidc-provider-mock 0.3.4 hands Authlib its signing key as a JWK dict at every token request
(`OpenIDCode.get_jwt_config`), and Authlib imports that dict again each time: cryptography 42+ then
checks the 2048-bit RSA private key in full (the primes), which here costs 90–200 ms per token on the
provider's side, far more than the portal's whole sign-in. A real provider loads its key once. So does
the mock here: the same key, imported once, signs every ID token (same alg, same kid, same JWKS).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import BaseWSGIServer

_patched = threading.Lock()
_keys: dict[str, Any] = {}


def _sign_with_key_imported_once() -> None:
    from joserfc.jwk import import_key
    from oidc_provider_mock import _app

    with _patched:
        if getattr(_app.OpenIDCode.get_jwt_config, "_imported_once", False):
            return
        original = _app.OpenIDCode.get_jwt_config

        def get_jwt_config(self: Any, grant: Any, client: object = None) -> dict[str, Any]:
            config = dict(original(self, grant, client))
            key = config["key"]
            if isinstance(key, dict):
                fingerprint = f"{key.get('kid')}:{key.get('n')}"
                if fingerprint not in _keys:
                    _keys[fingerprint] = import_key(key)
                config["key"] = _keys[fingerprint]
            return config

        get_jwt_config._imported_once = True  # type: ignore[attr-defined]
        _app.OpenIDCode.get_jwt_config = get_jwt_config  # type: ignore[method-assign]


@contextmanager
def running_provider() -> Iterator[tuple[str, BaseWSGIServer]]:
    """The mock provider on a free loopback port: its issuer URL and the server."""
    from oidc_provider_mock import run_server_in_thread

    _sign_with_key_imported_once()
    with run_server_in_thread(port=0) as server:
        yield f"http://localhost:{server.server_port}", server
