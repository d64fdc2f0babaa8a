"""Structured request logging (issue 8, SECURITY H4): one JSON line per request, encoded so that a
path cannot forge a line, without query strings or the secrets in token URLs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from portal import request_log
from tests.helpers import Portal


class Lines(logging.Handler):
    """The formatted lines the portal's request and event loggers emit."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def requests(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.lines if '"event":"request"' in line]


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    handler = Lines()
    loggers = [logging.getLogger(request_log.REQUEST_LOGGER), logging.getLogger(request_log.EVENT_LOGGER)]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def test_one_line_per_request_with_who_what_and_how_long(portal: Portal, log_lines: Lines) -> None:
    account, owner = portal.account()
    client = portal.client(owner)
    log_lines.lines.clear()
    response = client.raw.get(f"/accounts/{account.id}/users?q=ada", headers={"X-Correlation-Id": "trace-42"})
    lines = log_lines.requests()
    assert len(lines) == 1
    line = lines[0]
    assert set(line) == {
        "ts",
        "event",
        "method",
        "path",
        "status",
        "duration_ms",
        "user_id",
        "account_id",
        "ip",
        "correlation_id",
    }
    assert (line["method"], line["path"], line["status"]) == ("GET", f"/accounts/{account.id}/users", 200)
    assert (line["user_id"], line["account_id"]) == (str(owner.id), str(account.id))
    assert line["correlation_id"] == "trace-42" == response.headers["X-Correlation-Id"]
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["ip"] == "127.0.0.1" and str(line["ts"]).endswith("Z")


def test_signing_out_is_logged_as_the_person_who_did(portal: Portal, log_lines: Lines) -> None:
    account, owner = portal.account()
    client = portal.client(owner)
    log_lines.lines.clear()
    client.post("/logout")
    line = [line for line in log_lines.requests() if line["path"] == "/logout"][0]
    assert (line["status"], line["user_id"], line["account_id"]) == (303, str(owner.id), str(account.id))


def test_anonymous_requests_and_errors_are_logged_too(portal: Portal, log_lines: Lines) -> None:
    client = portal.client()
    client.get("/login")
    client.get("/no/such/page")
    client.raw.post("/logout")  # no CSRF token: 400
    lines = log_lines.requests()
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/login", 200),
        ("GET", "/no/such/page", 404),
        ("POST", "/logout", 400),
    ]
    assert all(line["user_id"] == "" and line["account_id"] == "" for line in lines)


def test_a_newline_in_the_path_cannot_forge_a_line(portal: Portal, log_lines: Lines) -> None:
    forged = '/x\n{"event":"request","method":"GET","path":"/admin","status":200}\r\u2028'
    portal.client().get(forged.replace("\n", "%0A").replace("\r", "%0D").replace("\u2028", "%E2%80%A8"))
    assert len(log_lines.lines) == 1
    line = log_lines.lines[0]
    assert "\n" not in line and "\r" not in line and "\u2028" not in line and line.isascii()
    assert json.loads(line)["path"] == forged  # the whole path, as one field


def test_query_strings_and_token_paths_never_reach_the_log(portal: Portal, log_lines: Lines) -> None:
    client = portal.client()
    client.get("/login?next=/somewhere&token=query-secret-123")
    client.get("/invitations/accept/invite-secret-456")
    client.get("/password-reset/reset-secret-789")
    paths = [line["path"] for line in log_lines.requests()]
    assert paths == ["/login", "/invitations/accept/[redacted]", "/password-reset/[redacted]"]
    everything = "\n".join(log_lines.lines)
    for secret in ("query-secret-123", "invite-secret-456", "reset-secret-789"):
        assert secret not in everything


def test_long_paths_are_cut(portal: Portal, log_lines: Lines) -> None:
    portal.client().get("/" + "a" * 5000)
    assert len(str(log_lines.requests()[0]["path"])) <= request_log.MAX_PATH + 1


def test_lines_go_to_stderr_as_bare_json(portal: Portal, capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger(request_log.REQUEST_LOGGER)
    if not any(isinstance(h, request_log._Stderr) for h in logger.handlers):
        pytest.skip("an operator's logging configuration replaced the portal's handler")
    capsys.readouterr()
    portal.client().raw.get("/login", headers={"X-Correlation-Id": "stderr-check"})
    err = [line for line in capsys.readouterr().err.splitlines() if "stderr-check" in line]
    assert len(err) == 1 and json.loads(err[0])["path"] == "/login"


def test_security_events_are_lines_with_the_request_context(portal: Portal, log_lines: Lines) -> None:
    with portal.app.test_request_context("/login", headers={"X-Correlation-Id": "evt-1"}):
        portal.app.preprocess_request()
        request_log.log_event("lockout", failures=5)
    event = json.loads(log_lines.lines[-1])
    assert event["event"] == "lockout" and event["failures"] == 5 and event["correlation_id"] == "evt-1"


def test_werkzeug_access_lines_are_dropped_but_its_errors_kept() -> None:
    def record(level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord("werkzeug", level, __file__, 1, msg, ("GET /invitations/accept/tok HTTP/1.1",), None)

    access = record(logging.INFO, '127.0.0.1 - - [29/Nov/2026 08:00:00] "%s" 200 -\n')
    error = record(logging.ERROR, "Error on request:\n%s")
    werkzeug = logging.getLogger("werkzeug")
    assert request_log._drop_werkzeug_access_lines in werkzeug.filters
    assert werkzeug.filter(access) is False and werkzeug.filter(error) is not False
