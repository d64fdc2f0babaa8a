"""The worker process (issue 19): SIGTERM mid-batch finishes the batch in hand and exits, so nothing
claimed is lost and nothing is sent twice; a database outage does not end it."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from portal import db
from portal.db import utcnow
from portal.mail import outbox
from portal.models import OutboxEmail
from tests.conftest import SmtpServer, make_test_app
from tests.helpers import Portal
from tests.live import free_port, portal_env, running, wait_until, worker


class SlowSmtpServer(SmtpServer):
    """A real SMTP server that takes a while over each message, so that a batch takes seconds."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.15)
        return await super().handle_DATA(server, session, envelope)


def test_sigterm_mid_batch_finishes_the_batch_and_loses_or_repeats_nothing(
    app: Flask, portal: Portal, database_url: str, tmp_path: Path
) -> None:
    account, _owner = portal.account()
    addresses = [f"person-{i:02d}@example.com" for i in range(30)]
    with app.test_request_context():
        for address in addresses:
            outbox.enqueue(
                "invitation",
                address,
                "Invitation",
                account_id=account.id,
                accept_url="http://x/",
                account_name="Acme",
                inviter_name="Owner",
                expires_at=utcnow(),
            )
        db.session.commit()
    smtp = SlowSmtpServer()
    smtp.start()
    env = portal_env(
        database_url,
        RATELIMIT_STORAGE_URI="memory://",
        SMTP_HOST=smtp.host,
        SMTP_PORT=str(smtp.port),
        MAIL_FROM="Portal <portal@example.com>",
    )
    process = worker("worker", env, tmp_path / "worker.log", "--batch", "10", "--interval", "0.2")
    try:
        with running(process):
            process.start()
            wait_until(lambda: smtp.messages, 60, "the first email of the batch", every=0.01)
            process.signal(signal.SIGTERM)  # mid-batch: 1 of 10 sent
            assert process.wait(timeout=20) == 0, process.output()
        assert "Stopping after the batch in hand." in process.output()
        assert "sent 10, retrying 0, failed 0" in process.output()
        assert len(smtp.messages) == 10  # the batch in hand, and not one more
        with app.app_context():
            states = dict(
                db.session.execute(select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status)).all()
            )
            unclaimed = db.session.scalar(
                select(func.count()).where(OutboxEmail.status == "queued", OutboxEmail.attempts == 0)
            )
        assert states == {"sent": 10, "queued": 20} and unclaimed == 20  # nothing left leased, nothing lost

        again = worker("worker-again", env, tmp_path / "again.log", "--batch", "50", "--once")
        with running(again):
            again.start()
            assert again.wait(timeout=60) == 0, again.output()
        assert Counter(str(message["To"]) for message in smtp.messages) == Counter(addresses)  # each exactly once
    finally:
        smtp.stop()


def test_the_worker_outlives_an_unreachable_database(app: Flask) -> None:
    down = make_test_app(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere")
    result = down.test_cli_runner().invoke(args=["portal", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "retention: database error (OperationalError)" in result.output
    assert "Worker stopped." in result.output


def test_send_mail_is_the_worker_under_its_former_name(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["portal", "send-mail", "--once"])
    assert result.exit_code == 0 and "Worker stopped." in result.output
