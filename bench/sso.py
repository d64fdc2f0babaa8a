"""Single sign-on timings (issue 21), in-process: a full SSO sign-in against oidc-provider-mock on loopback
(press the button, sign in at the provider, the callback: token exchange and ID token checks, the session),
and the account's sign-in page with SSO on (discovery and JWKS from the cache: no network call).

    .venv/bin/python -m bench sso --n 50
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests


def run(n: int = 50) -> dict[str, float]:
    from oidc_provider_mock import run_server_in_thread

    from portal import create_app, db, migrate
    from portal.accounts.services import OwnerDetails, create_account
    from portal.models import SsoConnection
    from portal.sso import oidc
    from portal.sso import services as sso

    data = Path(tempfile.mkdtemp(prefix="bench-sso-"))
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{data / 'portal.db'}",
                      "SECRET_KEY": "bench-secret-key-that-is-long-enough-123", "RATELIMIT_ENABLED": False})
    migrate.upgrade(app)
    with run_server_in_thread(port=0) as server:
        issuer = f"http://localhost:{server.server_port}"
        with app.test_request_context():
            account, _owner = create_account("Bench", OwnerDetails("owner", "owner@example.com", "x" * 16))
            db.session.add(SsoConnection(account_id=account.id, display_name="Mock", discovery_url=issuer,
                                         client_id="bench", client_secret_sealed=sso.seal("secret"),
                                         tested_version=1, active=True, jit_enabled=True))
            db.session.commit()
            name = account.sign_in_name
        for i in range(n):
            requests.put(f"{issuer}/users/u{i}", json={"email": f"u{i}@example.com", "email_verified": True},
                         timeout=5)
        sign_ins, pages = [], []
        for i in range(n + 1):
            client = app.test_client()
            started = time.perf_counter()
            page = client.get(f"/a/{name}/login")
            pages.append(time.perf_counter() - started)
            assert page.status_code == 200
            token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
            started = time.perf_counter()
            start = client.post(f"/a/{name}/sso", data={"csrf_token": token})
            at_idp = requests.post(start.headers["Location"], data={"sub": f"u{i % n}"}, allow_redirects=False,
                                   timeout=5)
            back = urlsplit(at_idp.headers["Location"])
            done = client.get(f"{back.path}?{back.query}")
            elapsed = time.perf_counter() - started
            assert done.status_code == 303, done.status_code
            if i:  # the first one fills the caches (discovery, JWKS)
                sign_ins.append(elapsed)
        fetches = dict(oidc.fetches)
    result = {"sso_sign_in_ms_p50": statistics.median(sign_ins) * 1000,
              "sign_in_page_ms_p50": statistics.median(pages[1:]) * 1000,
              "discovery_fetches": fetches["discovery"], "jwks_fetches": fetches["jwks"], "n": n}
    for key, value in result.items():
        print(f"{key:24} {value:.1f}" if isinstance(value, float) else f"{key:24} {value}")
    return result
