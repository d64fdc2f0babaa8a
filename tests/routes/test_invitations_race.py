"""Many people invite one address at the same moment (issue 13 §4): one invitation, every other answer the
ordinary "already invited" refusal, none a 500. Real HTTP against the threaded live server."""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlencode, urlsplit

from flask import Flask
from sqlalchemy import func, select

from portal.models import Invitation, OutboxEmail, User
from tests.helpers import Portal

PARALLEL = 50
ADDRESS = "contested@example.com"


def _session_cookie(app: Flask, portal: Portal, user: object) -> tuple[str, str]:
    """A signed-in session (signed in through the test client) as a Cookie header, and its CSRF token."""
    client = portal.client(user)  # type: ignore[arg-type]
    token = client.csrf()  # puts the token's secret into the session cookie first
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.raw.get_cookie(name)
    assert cookie is not None
    return f"{name}={cookie.value}", token


def _post(base_url: str, path: str, cookie: str, form: dict[str, str]) -> tuple[int, str]:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(
            "POST",
            path,
            body=urlencode(form),
            headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_parallel_invitations_to_one_address_make_one_invitation(app: Flask, portal: Portal, live_server: str) -> None:
    account, owner = portal.account()
    cookie, token = _session_cookie(app, portal, owner)
    path = f"/accounts/{account.id}/invitations"
    start = threading.Barrier(PARALLEL)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def invite() -> None:
        start.wait()
        answer = _post(live_server, path, cookie, {"emails": ADDRESS, "csrf_token": token})
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=invite) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    statuses = sorted(status for status, _ in answers)
    assert len(answers) == PARALLEL
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses.count(303) == 1, statuses  # one invitation went out, then to the list
    refusals = [body for status, body in answers if status != 303]
    assert all(status == 422 for status, _ in answers if status != 303), statuses
    assert all("Already invited." in body and ADDRESS in body for body in refusals)
    assert portal.scalar(select(func.count()).select_from(Invitation)) == 1
    assert portal.scalar(select(func.count()).select_from(User).where(User.email == ADDRESS)) == 1
    assert portal.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.to_address == ADDRESS)) == 1
