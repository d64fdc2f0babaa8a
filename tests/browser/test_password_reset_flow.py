"""A forgotten password, chosen again in Chromium over HTTPS (SECURITY R3): the emailed link's token leaves
the address bar at once and is never sent again, in a URL or a Referer, and the form posts with Flask-WTF's
strict same-origin Referer check on (Referrer-Policy same-origin, not no-referrer)."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Request, expect
from werkzeug.serving import make_server

from tests.helpers import Portal
from tests.routes.test_password_reset import reset_links

pytestmark = pytest.mark.browser

NEW_PASSWORD = "lighthouse keepers knit sweaters"


@pytest.fixture(scope="module")
def https_server(app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app over TLS (a self-signed certificate for 127.0.0.1) on a free loopback port."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=(str(cert), str(key)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-js"])
def test_reset_over_https_never_sends_the_token_again(
    browser: Browser, https_server: str, portal: Portal, screenshot_dir: Path, javascript: bool
) -> None:
    _account, owner = portal.account()
    portal.client().post("/password-reset", {"account": "acme", "login": "owner@example.com"})
    [link] = reset_links(portal)
    token = link.rsplit("/", 1)[1]
    context = browser.new_context(ignore_https_errors=True, java_script_enabled=javascript)
    page = context.new_page()
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))

    page.goto(https_server + link.removeprefix("http://portal.example.com"))
    expect(page).to_have_url(f"{https_server}/password-reset/choose")
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("Repeat the password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_text("Your password was changed. Sign in with it now.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.screenshot(path=screenshot_dir / f"password-reset-done-{'js' if javascript else 'nojs'}.png")
    context.close()

    first, *rest = sent
    assert token in first.url
    leaks = [
        (r.method, r.url, r.headers.get("referer", ""))
        for r in rest
        if token in r.url or token in r.headers.get("referer", "")
    ]
    assert not leaks
    assert any(r.method == "POST" and r.url.endswith("/password-reset/choose") for r in rest)
    portal.client(owner, password=NEW_PASSWORD)  # the new password signs in
