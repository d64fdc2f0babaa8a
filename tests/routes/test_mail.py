"""The outbox and its delivery over real SMTP (aiosmtpd on loopback): retries, backoff, outages,
exactly-once with several workers, the send-mail command and the owner's outbox page (issue 5)."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from portal import db
from portal.db import utcnow
from portal.mail import delivery, outbox
from portal.models import OutboxEmail
from tests.conftest import SmtpServer
from tests.helpers import INVITE_LINK, Portal, Tenant, actor_of
from tests.routes.test_invitations import invite


@pytest.fixture
def mail_app(app: Flask, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The app pointed at the test's SMTP server."""
    monkeypatch.setitem(app.config, "SMTP_HOST", smtp_server.host)
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.port)
    monkeypatch.setitem(app.config, "MAIL_FROM", "Account Portal <portal@example.com>")
    return app


def queue(app: Flask, a: Tenant, n: int = 1, to: str = "someone@example.com") -> list[uuid.UUID]:
    """Invitation-like emails in the outbox, as enqueue() writes them."""
    with app.test_request_context():
        emails = [
            outbox.enqueue(
                "invitation",
                to if n == 1 else f"{i}-{to}",
                f"Invitation {i}",
                account_id=a.id,
                accept_url=f"http://portal.example.com/invitations/accept/token{i}",
                account_name="Tenant A",
                inviter_name="Admin",
                expires_at=utcnow(),
            )
            for i in range(n)
        ]
        db.session.commit()
        return [email.id for email in emails]


def deliver(app: Flask, **kwargs: Any) -> delivery.PassReport:
    with app.app_context():
        return delivery.deliver_due(**kwargs)


def email(app: Flask, email_id: uuid.UUID) -> OutboxEmail:
    with app.app_context():
        return db.session.get(OutboxEmail, email_id)


def test_enqueue_renders_text_and_html_and_links_from_the_base_url(app: Flask, a: Tenant) -> None:
    with app.test_request_context(headers={"Host": "evil.test"}):
        assert (
            outbox.external_url("invitation_accept.accept", token="abc")
            == "http://portal.example.com/invitations/accept/abc"
        )
    [email_id] = queue(app, a)
    row = email(app, email_id)
    assert row.status == "queued" and row.attempts == 0 and row.account_id == a.id
    assert "http://portal.example.com/invitations/accept/token0" in row.body_text
    assert '<a href="http://portal.example.com/invitations/accept/token0">' in row.body_html
    assert "<" not in row.body_text


def test_an_email_arrives_with_a_text_and_an_html_part(mail_app: Flask, a: Tenant, smtp_server: SmtpServer) -> None:
    [email_id] = queue(mail_app, a)
    report = deliver(mail_app)
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "someone@example.com"
    assert message["From"] == "Account Portal <portal@example.com>"
    assert message["Subject"] == "Invitation 0"
    assert message["Message-ID"] == f"<{email_id}@example.com>"
    assert message.get_content_type() == "multipart/alternative"
    text_part = message.get_body(("plain",)).get_content()
    html_part = message.get_body(("html",)).get_content()
    assert INVITE_LINK.search(text_part) and INVITE_LINK.search(html_part)
    row = email(mail_app, email_id)
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1 and row.last_error == ""
    assert deliver(mail_app).handled == 0  # nothing is sent twice


def test_without_smtp_configured_emails_wait_in_the_outbox(app: Flask, a: Tenant) -> None:
    assert app.config["SMTP_HOST"] == ""
    [email_id] = queue(app, a)
    assert deliver(app).handled == 0
    assert email(app, email_id).status == "queued" and email(app, email_id).attempts == 0


def test_an_outage_keeps_the_email_queued_and_it_is_delivered_once_smtp_is_back(
    mail_app: Flask, a: Tenant, smtp_server: SmtpServer
) -> None:
    [email_id] = queue(mail_app, a)
    smtp_server.stop()
    now = utcnow()
    report = deliver(mail_app, now=now)
    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    row = email(mail_app, email_id)
    assert row.status == "queued" and row.attempts == 1
    assert "Could not connect" in row.last_error
    assert row.next_attempt_at == now + delivery.backoff(1)
    # Still down, and far more attempts than a server error would get: it keeps waiting.
    for _ in range(2, delivery.MAX_ATTEMPTS + 3):
        now = email(mail_app, email_id).next_attempt_at
        assert deliver(mail_app, now=now).retrying == 1
        assert email(mail_app, email_id).status == "queued"
    assert deliver(mail_app, now=now).handled == 0  # not due again yet: backoff
    smtp_server.start()
    assert deliver(mail_app, now=email(mail_app, email_id).next_attempt_at).sent == 1
    assert deliver(mail_app, now=utcnow() + timedelta(days=1)).handled == 0
    assert len(smtp_server.wait_for(1)) == 1
    row = email(mail_app, email_id)
    assert row.status == "sent" and row.last_error == ""


def test_a_permanent_refusal_fails_at_once_with_the_servers_reason(
    mail_app: Flask, a: Tenant, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse["someone@example.com"] = "550 5.1.1 No such mailbox here"
    [email_id] = queue(mail_app, a)
    assert deliver(mail_app).failed == 1
    row = email(mail_app, email_id)
    assert row.status == "failed" and row.last_error == "550 5.1.1 No such mailbox here"
    assert smtp_server.messages == []
    # An admin retries once the address is fixed on the server's side.
    del smtp_server.refuse["someone@example.com"]
    with mail_app.test_request_context():
        delivery.retry(email_id, a.id, actor=actor_of(a.admin.id))
        db.session.commit()
    assert email(mail_app, email_id).status == "queued"
    assert deliver(mail_app).sent == 1
    assert len(smtp_server.wait_for(1)) == 1


def test_a_temporary_refusal_is_retried_with_backoff_then_marked_failed(
    mail_app: Flask, a: Tenant, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse["someone@example.com"] = "451 4.3.0 Mailbox busy, try later"
    [email_id] = queue(mail_app, a)
    now = utcnow()
    for attempt in range(1, delivery.MAX_ATTEMPTS):
        assert deliver(mail_app, now=now).retrying == 1
        row = email(mail_app, email_id)
        assert row.attempts == attempt and row.next_attempt_at == now + delivery.backoff(attempt)
        now = row.next_attempt_at
    assert deliver(mail_app, now=now).failed == 1
    row = email(mail_app, email_id)
    assert row.status == "failed" and row.attempts == delivery.MAX_ATTEMPTS
    assert row.last_error == "451 4.3.0 Mailbox busy, try later"


def test_backoff_doubles_and_is_capped() -> None:
    assert [delivery.backoff(n) for n in (1, 2, 3, 5)] == [timedelta(minutes=m) for m in (1, 2, 4, 16)]
    assert delivery.backoff(30) == delivery.BACKOFF_MAX


def test_retry_refuses_emails_that_did_not_fail_and_other_accounts_emails(
    app: Flask, a: Tenant, portal: Portal
) -> None:
    from portal.errors import Conflict, NotFound

    [email_id] = queue(app, a)
    other = portal.tenant("B")
    with app.test_request_context():
        with pytest.raises(Conflict):
            delivery.retry(email_id, a.id, actor=actor_of(a.admin.id))
        with pytest.raises(NotFound):
            delivery.retry(email_id, other.id, actor=actor_of(other.admin.id))


def test_a_claimed_email_is_hidden_from_other_workers_for_the_lease(app: Flask, a: Tenant) -> None:
    queue(app, a)
    now = utcnow()
    with app.app_context():
        assert len(delivery.claim_due(now, 10)) == 1
        assert delivery.claim_due(now, 10) == []
        assert len(delivery.claim_due(now + delivery.LEASE + timedelta(seconds=1), 10)) == 1  # a dead worker's


def test_several_workers_never_send_one_email_twice(mail_app: Flask, a: Tenant, smtp_server: SmtpServer) -> None:
    ids = queue(mail_app, a, n=30)
    barrier = threading.Barrier(3, timeout=10)
    reports: list[delivery.PassReport] = []

    def worker() -> None:
        with mail_app.app_context():
            barrier.wait()
            while True:
                report = delivery.deliver_due(limit=4)
                db.session.remove()
                reports.append(report)
                if report.handled == 0:
                    break

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    messages = smtp_server.wait_for(30)
    assert sum(report.sent for report in reports) == 30
    assert len(messages) == 30
    assert sorted(m["Message-ID"] for m in messages) == sorted(f"<{i}@example.com>" for i in ids)
    with mail_app.app_context():
        assert db.session.scalar(select(func.count()).where(OutboxEmail.status == "sent")) == 30


def test_a_row_locked_by_another_worker_is_skipped_on_postgresql(
    mail_app: Flask, a: Tenant, smtp_server: SmtpServer
) -> None:
    """SKIP LOCKED: a worker neither waits for nor takes the row another worker holds."""
    engine = mail_app.extensions["portal.engine"]
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite workers are kept apart by the conditional claim")
    held, free = queue(mail_app, a, n=2)
    with engine.connect() as other_worker:
        transaction = other_worker.begin()
        other_worker.execute(text("SELECT id FROM outbox_emails WHERE id = :id FOR UPDATE"), {"id": held})
        report = deliver(mail_app)
        assert report.sent == 1
        transaction.rollback()
    assert email(mail_app, held).status == "queued" and email(mail_app, free).status == "sent"
    assert deliver(mail_app).sent == 1


def test_the_send_mail_command(mail_app: Flask, a: Tenant, smtp_server: SmtpServer) -> None:
    queue(mail_app, a, n=3)
    result = mail_app.test_cli_runner().invoke(args=["portal", "send-mail", "--once"])
    assert result.exit_code == 0, result.output
    assert "sent 3, retrying 0, failed 0" in result.output
    assert len(smtp_server.wait_for(3)) == 3


def test_the_send_mail_command_loops_until_stopped(
    mail_app: Flask, a: Tenant, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal import worker

    passes: list[int] = []
    real = worker.deliver_due

    def counting(**kwargs: Any) -> delivery.PassReport:
        passes.append(1)
        if len(passes) == 2:
            queue(mail_app, a, to="later@example.com")  # arrives while the worker waits
        if len(passes) == 4:
            raise KeyboardInterrupt
        return real(**kwargs)

    monkeypatch.setattr(worker, "deliver_due", counting)
    result = mail_app.test_cli_runner().invoke(args=["portal", "send-mail", "--interval", "0.01"])
    assert result.exit_code == 0, result.output
    assert "Worker stopped." in result.output
    assert [m["To"] for m in smtp_server.wait_for(1)] == ["later@example.com"]


def test_the_send_mail_command_without_smtp(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["portal", "send-mail", "--once"])
    assert result.exit_code == 0 and "SMTP_HOST is not set" in result.output


# --- the owner's outbox page ----------------------------------------------------------------------------------


def test_the_owner_reads_the_outbox_with_bodies_when_no_smtp_is_configured(
    portal: Portal, a: Tenant, app: Flask
) -> None:
    admin = portal.client(a.admin)
    assert admin.post(f"/accounts/{a.id}/invitations", {"emails": "dev@example.com"}).status_code == 303
    owner = portal.client(a.owner)
    response = owner.get(f"/accounts/{a.id}/outbox")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "dev@example.com" in html and "queued" in html and "Admin-A invited you to Tenant A" in html
    link = INVITE_LINK.search(html)
    assert link and link.group(1) == "http://portal.example.com"
    # The link in the page works: a developer can follow it.
    assert portal.client().get(f"/invitations/accept/{link.group(2)}").status_code == 200
    fragment = owner.get(f"/accounts/{a.id}/outbox", hx=True).get_data(as_text=True)
    assert "<html" not in fragment and fragment.lstrip().startswith('<section id="outbox">')
    # Only the owner is offered the outbox.
    outbox_link = f'href="/accounts/{a.id}/outbox"'
    assert outbox_link in owner.get(f"/accounts/{a.id}/invitations").get_data(as_text=True)
    assert outbox_link not in admin.get(f"/accounts/{a.id}/invitations").get_data(as_text=True)


def test_with_smtp_configured_the_outbox_hides_bodies(portal: Portal, a: Tenant, mail_app: Flask) -> None:
    portal.client(a.admin).post(f"/accounts/{a.id}/invitations", {"emails": "prod@example.com"})
    html = portal.client(a.owner).get(f"/accounts/{a.id}/outbox").get_data(as_text=True)
    assert "prod@example.com" in html
    assert INVITE_LINK.search(html) is None


def test_the_outbox_is_the_owners_alone(portal: Portal, a: Tenant) -> None:
    other = portal.tenant("B")
    queue(portal.app, other, to="theirs@example.com")
    for name in ("admin", "user_manager", "auditor", "member"):
        assert portal.client(getattr(a, name)).get(f"/accounts/{a.id}/outbox").status_code == 403, name
    owner = portal.client(a.owner)
    assert owner.get(f"/accounts/{other.id}/outbox").status_code == 404
    assert "theirs@example.com" not in owner.get(f"/accounts/{a.id}/outbox").get_data(as_text=True)


def test_the_outbox_pages(portal: Portal, a: Tenant) -> None:
    queue(portal.app, a, n=5)
    owner = portal.client(a.owner)
    html = owner.get(f"/accounts/{a.id}/outbox?take=2").get_data(as_text=True)
    assert html.count('class="outbox-email"') == 2 and "Page 1 of 3" in html
    html = owner.get(f"/accounts/{a.id}/outbox?take=2&from=4").get_data(as_text=True)
    assert html.count('class="outbox-email"') == 1 and "Page 3 of 3" in html


def test_an_invitation_email_goes_out_and_its_state_shows_on_the_invitations_page(
    portal: Portal, a: Tenant, mail_app: Flask, smtp_server: SmtpServer
) -> None:
    admin = portal.client(a.admin)
    invite(admin, a, "ok@example.com, bounce@example.com")  # reviewed, then sent
    smtp_server.refuse["bounce@example.com"] = "550 5.1.1 User unknown"
    report = deliver(mail_app)
    assert (report.sent, report.failed) == (1, 1)
    html = admin.get(f"/accounts/{a.id}/invitations").get_data(as_text=True)
    ok_row = html[html.index("<td>ok@example.com</td>") :]
    assert '<span class="status active">sent</span>' in ok_row[: ok_row.index("</tr>")]
    bounce_row = html[html.index("<td>bounce@example.com</td>") :]
    bounce_row = bounce_row[: bounce_row.index("</tr>")]
    assert "Failed: 550 5.1.1 User unknown" in bounce_row and "Retry delivery" in bounce_row
