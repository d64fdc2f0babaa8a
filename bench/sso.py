"""Single sign-on timings (issue 21), in-process: a full SSO sign-in against oidc-provider-mock on loopback
(press the button, sign in at the provider, the callback: token exchange and ID token checks, the session),
and the account's sign-in page with SSO on (discovery and JWKS from the cache: no network call).

Each of the n people signs in twice: first (JIT creates them, links the identity) and again (found by
their `sub`). The provider's share (its sign-in form and its token endpoint, each a loopback round trip) is
timed apart, so that what is the portal's own shows.

    .venv/bin/python -m bench sso --n 50
    .venv/bin/python -m bench sso --n 50 --mock-as-shipped   # the mock re-imports its RSA key per token
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests


def _provider(as_shipped: bool) -> AbstractContextManager[tuple[str, Any]]:
    if as_shipped:
        from contextlib import contextmanager

        from oidc_provider_mock import run_server_in_thread

        @contextmanager
        def shipped():  # type: ignore[no-untyped-def]
            with run_server_in_thread(port=0) as server:
                yield f"http://localhost:{server.server_port}", server

        return shipped()
    from tests.sso.mock_provider import running_provider

    return running_provider()


def run(n: int = 50, mock_as_shipped: bool = False) -> dict[str, float]:
    from portal import create_app, db, migrate
    from portal.accounts.services import OwnerDetails, create_account
    from portal.models import SsoConnection
    from portal.sso import oidc
    from portal.sso import services as sso

    data = Path(tempfile.mkdtemp(prefix="bench-sso-"))
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{data / 'portal.db'}",
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-123",
            "RATELIMIT_ENABLED": False,
        }
    )
    migrate.upgrade(app)
    at_token_endpoint: list[float] = []
    exchange: Callable[..., dict[str, Any]] = oidc.exchange_code

    def timed_exchange(*args: Any, **kwargs: Any) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return exchange(*args, **kwargs)
        finally:
            at_token_endpoint.append(time.perf_counter() - started)

    oidc.exchange_code = timed_exchange  # type: ignore[assignment]
    try:
        with _provider(mock_as_shipped) as (issuer, _server):
            with app.test_request_context():
                account, _owner = create_account("Bench", OwnerDetails("owner", "owner@example.com", "x" * 16))
                db.session.add(
                    SsoConnection(
                        account_id=account.id,
                        display_name="Mock",
                        discovery_url=issuer,
                        client_id="bench",
                        client_secret_sealed=sso.seal("secret"),
                        tested_version=1,
                        active=True,
                        jit_enabled=True,
                    )
                )
                db.session.commit()
                name = account.sign_in_name
            for i in range(n + 1):
                requests.put(
                    f"{issuer}/users/u{i}", json={"email": f"u{i}@example.com", "email_verified": True}, timeout=5
                )
            first: list[float] = []
            returning: list[float] = []
            provider_share: list[float] = []
            pages: list[float] = []
            for round_ in ("first", "returning"):
                for i in range(n + 1):
                    client = app.test_client()
                    started = time.perf_counter()
                    page = client.get(f"/a/{name}/login")
                    pages.append(time.perf_counter() - started)
                    assert page.status_code == 200
                    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
                    started = time.perf_counter()
                    start = client.post(f"/a/{name}/sso", data={"csrf_token": token})
                    at_idp_started = time.perf_counter()
                    at_idp = requests.post(
                        start.headers["Location"], data={"sub": f"u{i}"}, allow_redirects=False, timeout=5
                    )
                    at_idp_took = time.perf_counter() - at_idp_started
                    back = urlsplit(at_idp.headers["Location"])
                    done = client.get(f"{back.path}?{back.query}")
                    elapsed = time.perf_counter() - started
                    assert done.status_code == 303, done.get_data(as_text=True)[:500]
                    if i == 0:  # the first one fills the caches (discovery, JWKS) and warms the code paths
                        continue
                    (first if round_ == "first" else returning).append(elapsed)
                    provider_share.append(at_idp_took + at_token_endpoint[-1])
            fetches = dict(oidc.fetches)
    finally:
        oidc.exchange_code = exchange  # type: ignore[assignment]
    every = first + returning
    result: dict[str, float] = {
        "sso_sign_in_ms_p50": statistics.median(every) * 1000,
        "first_sign_in_ms_p50": statistics.median(first) * 1000,
        "returning_sign_in_ms_p50": statistics.median(returning) * 1000,
        "provider_ms_p50": statistics.median(provider_share) * 1000,
        "portal_ms_p50": statistics.median([a - b for a, b in zip(every, provider_share, strict=True)]) * 1000,
        "sign_in_page_ms_p50": statistics.median(pages[1:]) * 1000,
        "discovery_fetches": fetches["discovery"],
        "jwks_fetches": fetches["jwks"],
        "n": n,
    }
    for key, value in result.items():
        print(f"{key:26} {value:.1f}" if isinstance(value, float) else f"{key:26} {value}")
    return result
