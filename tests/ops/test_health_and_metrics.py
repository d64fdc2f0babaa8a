"""/healthz, /readyz and /metrics (issue 19): JSON probes without sign-in, rate limits or request
log lines; readiness of the database, the schema and the rate-limit store; Prometheus metrics only
for a bearer of METRICS_TOKEN."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from portal import db, migrate
from portal.ops.metrics import sample
from tests.conftest import make_test_app
from tests.helpers import Portal
from tests.live import free_port

TOKEN = "metrics-token-for-the-tests-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def metrics_app(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    return app


def _unreachable_postgresql() -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"


def test_healthz_answers_without_the_database(app: Flask) -> None:
    down = make_test_app(_unreachable_postgresql())
    response = down.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert "Set-Cookie" not in response.headers
    page = down.test_client().get("/a/acme/login")  # a page that reads the database: the error page, no internals
    assert page.status_code == 500 and "OperationalError" not in page.get_data(as_text=True)


def test_readyz_checks_the_database_and_the_schema(app: Flask) -> None:
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["schema"]["status"] == "current"
    assert "rate_limit_store" not in body["checks"]  # counted in memory here: nothing to reach
    assert "Set-Cookie" not in response.headers


def test_readyz_is_503_when_the_database_is_unreachable(app: Flask) -> None:
    response = make_test_app(_unreachable_postgresql()).test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert body["checks"]["schema"]["ok"] is False


def test_readyz_is_503_when_the_schema_is_behind_and_migrate_check_says_so(app: Flask, tmp_path: Path) -> None:
    behind = make_test_app(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(behind, "6693cebbab54")  # a release ago
    response = behind.test_client().get("/readyz")
    assert response.status_code == 503
    schema = response.get_json()["checks"]["schema"]
    assert schema["ok"] is False and schema["status"] == "behind" and schema["database"] == "6693cebbab54"
    check = behind.test_cli_runner().invoke(args=["portal", "migrate", "--check"])
    assert check.exit_code == 1 and "behind" in check.output
    assert behind.test_cli_runner().invoke(args=["portal", "migrate"]).exit_code == 0
    check = behind.test_cli_runner().invoke(args=["portal", "migrate", "--check"])
    assert check.exit_code == 0 and "up to date" in check.output
    assert behind.test_client().get("/readyz").status_code == 200


def test_a_schema_ahead_of_the_code_is_ready_during_an_expand_step(app: Flask, tmp_path: Path) -> None:
    ahead = make_test_app(f"sqlite:///{tmp_path / 'newer.db'}")
    migrate.upgrade(ahead)
    with ahead.extensions["portal.engine"].begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed0001'"))  # a newer release's
    response = ahead.test_client().get("/readyz")
    assert response.status_code == 200 and response.get_json()["checks"]["schema"]["status"] == "ahead"
    check = ahead.test_cli_runner().invoke(args=["portal", "migrate", "--check"])
    assert check.exit_code == 0 and "ahead" in check.output


def test_readyz_reports_an_unreachable_rate_limit_store(app: Flask) -> None:
    from portal.extensions import limiter

    redis_app = make_test_app(app.config["DATABASE_URL"], RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0")
    try:
        response = redis_app.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["checks"]["rate_limit_store"] == {
            "ok": False,
            "store": "redis",
            "error": "unreachable",
        }
    finally:
        limiter.init_app(app)  # the limiter is shared by every app of the process: give it back


def test_probes_are_public_not_rate_limited_and_not_logged(
    app: Flask, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "RATELIMIT_PER_ADDRESS", "2 per minute")
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="portal.requests"):
        for _ in range(5):
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200
            assert client.get("/metrics").status_code == 404
        client.get("/login")
    paths = [record.getMessage() for record in caplog.records if record.name == "portal.requests"]
    assert len(paths) == 1 and '"path":"/login"' in paths[0]


def test_metrics_need_the_token_and_are_off_without_one(
    app: Flask, metrics_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = metrics_app.test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 404
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "")
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def _scrape(app: Flask) -> str:
    response = app.test_client().get("/metrics", headers=BEARER)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_requests_sign_in_failures_lockouts_429s_and_api_statuses_are_counted(
    metrics_app: Flask, portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, _owner = portal.account()
    before = _scrape(metrics_app)

    def delta(name: str, **labels: str) -> float:
        return (sample(_scrape(metrics_app), name, **labels) or 0) - (sample(before, name, **labels) or 0)

    client = portal.client()
    client.get("/login")
    for _ in range(5):  # MAX_FAILURES wrong passwords: five failures, one lockout
        assert client.post("/login", {"account": "acme", "login": "owner", "password": "wrong"}).status_code == 401
    monkeypatch.setitem(metrics_app.config, "RATELIMIT_PER_LOGIN", "1 per minute")
    for _ in range(2):
        client.post("/password-reset", {"account": "acme", "login": "someone"})
    assert metrics_app.test_client().get(f"/api/v1/accounts/{account.id}/users").status_code == 401

    assert delta("portal_request_duration_seconds_count", endpoint="auth.login", method="GET", status="200") == 1
    assert delta("portal_sign_in_failures_total", step="password") == 5
    assert delta("portal_lockouts_total") == 1
    assert delta("portal_events_total", event="lockout") == 1
    assert delta("portal_rate_limited_total", endpoint="auth.password_reset") == 1
    assert delta("portal_api_requests_total", api="v1", status="401") == 1


def test_the_outbox_backlog_and_its_oldest_email_are_read_at_scrape_time(metrics_app: Flask, portal: Portal) -> None:
    from datetime import timedelta

    from portal.db import utcnow
    from portal.models import OutboxEmail

    account, _owner = portal.account()
    now = utcnow()
    with metrics_app.app_context():
        for age, status in ((0, "queued"), (90, "queued"), (900, "failed"), (9000, "sent")):
            db.session.add(
                OutboxEmail(
                    account_id=account.id,
                    kind="invitation",
                    to_address="x@example.com",
                    subject="s",
                    body_text="b",
                    status=status,
                    created_at=now - timedelta(seconds=age),
                )
            )
        db.session.commit()
    text = _scrape(metrics_app)
    assert sample(text, "portal_outbox_emails", status="queued") == 2
    assert sample(text, "portal_outbox_emails", status="failed") == 1
    assert 90 <= (sample(text, "portal_outbox_oldest_queued_age_seconds") or 0) < 120
    assert sample(text, "portal_dependency_up", dependency="database") == 1
