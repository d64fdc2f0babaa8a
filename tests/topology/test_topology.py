"""Two app servers and two workers behave as one (issue 19).

One PostgreSQL, one Redis, two gunicorn instances (two workers each) on two ports, two
`flask portal worker` processes and a real SMTP server (aiosmtpd). A scripted client alternates
between the instances, as a browser behind a balancer would, and checks that everything one
instance knows the other knows too: sessions, rate limits, lockouts, the outbox, the optimistic
lock and the audit log."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal import db, migrate
from portal.models import Account, AuditEvent, OutboxEmail, User
from portal.ops.metrics import sample
from tests.conftest import SmtpServer, make_test_app
from tests.helpers import PASSWORD, Portal
from tests.live import Browser, Gunicorn, Process, flask_command, form_values, portal_env, running, worker
from tests.topology.conftest import REDIS_URL, needs_postgresql_and_redis

OWNER_PASSWORD = "violet-harbor-lantern-42"
PER_LOGIN = 8  # the rate limit under test: RATELIMIT_PER_LOGIN = "8 per minute"
METRICS_TOKEN = "topology-metrics-token-0123456789"
pytestmark = needs_postgresql_and_redis


@dataclass
class Topology:
    a: Gunicorn
    b: Gunicorn
    workers: list[Process]
    smtp: SmtpServer
    app: Flask
    portal: Portal
    account: Account
    sign_in_name: str

    def browser(self, address: str) -> Browser:
        """A browser with its own cookie jar at its own client address, pointed at instance A."""
        return Browser(self.a.url, address=address)

    def user(self, login: str, roles: tuple[str, ...] = ("member",)) -> User:
        return self.portal.user(self.account, login, roles=roles)

    def audit(self, action: str, target_id: object = None) -> int:
        """Audit events of the account with this action (and target)."""
        statement = (
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.account_id == self.account.id, AuditEvent.action == action)
        )
        if target_id is not None:
            statement = statement.where(AuditEvent.target_id == str(target_id))
        return int(self.portal.scalar(statement))


def _flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def topology(fresh_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    logs = tmp_path_factory.mktemp("topology")
    smtp = SmtpServer()
    smtp.start()
    _flush_redis()
    env = portal_env(
        fresh_database,
        REDIS_URL=REDIS_URL,
        TRUSTED_PROXIES="1",
        METRICS_TOKEN=METRICS_TOKEN,
        RATELIMIT_PER_LOGIN=f"{PER_LOGIN} per minute",
        RATELIMIT_PER_ADDRESS="1000 per minute",
        SMTP_HOST=smtp.host,
        SMTP_PORT=str(smtp.port),
        MAIL_FROM="Portal <portal@example.com>",
    )

    # A deploy script's steps: the check says "behind" (exit 1), the migration runs, the schema is current.
    behind = flask_command(env, "portal", "migrate", "--check")
    assert behind.returncode == 1 and "behind" in behind.stderr, behind.stdout + behind.stderr
    migrated = flask_command(env, "portal", "migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    app = make_test_app(fresh_database)
    with app.extensions["portal.engine"].connect() as connection:
        assert migrate.schema_state(connection).status == "current"
    portal = Portal(app)
    account, _owner = portal.account("Topology", login="owner", password=OWNER_PASSWORD)
    sign_in_name = portal.scalar(select(Account.sign_in_name).where(Account.id == account.id))
    a, b = Gunicorn("gunicorn-a", env, logs / "a.log"), Gunicorn("gunicorn-b", env, logs / "b.log")
    workers = [
        worker(f"worker-{n}", env, logs / f"worker-{n}.log", "--interval", "0.2", "--batch", "10") for n in (1, 2)
    ]
    try:
        with running(a, b, *workers):
            for process in (a, b, *workers):  # all at once: each takes seconds to import the portal
                Process.start(process)  # gunicorn's own start() would wait for it to answer
            a.wait_ready()
            b.wait_ready()
            yield Topology(a, b, workers, smtp, app, portal, account, sign_in_name)
            for process in workers:  # SIGTERM: each finishes its batch and exits cleanly
                process.signal(15)
                assert process.wait(timeout=20) == 0, process.output()[-2000:]
    finally:
        smtp.stop()
        app.extensions["portal.engine"].dispose()


def _instances(topology: Topology) -> Iterator[str]:
    """A, B, A, B, … as a round-robin balancer would hand requests out."""
    while True:
        yield topology.a.url
        yield topology.b.url


def test_a_session_made_on_one_instance_is_valid_on_the_other_and_ends_on_both(topology: Topology) -> None:
    person = topology.user("session-person")
    on_a = topology.browser("203.0.113.1")
    signed_in = on_a.sign_in(topology.sign_in_name, "session-person", PASSWORD)
    assert signed_in.status == 303, signed_in.body[:300]
    on_b = on_a.on(topology.b.url)
    assert on_b.get("/me").status == 200
    assert on_a.get("/me").status == 200
    copied_cookie = dict(on_a.cookies)

    assert on_b.post("/logout").status == 303  # signed out through B
    for url in (topology.a.url, topology.b.url):  # the old cookie is dead on both
        replay = Browser(url, dict(copied_cookie))
        answer = replay.get("/me")
        assert answer.status == 302 and answer.location.startswith("/login"), (url, answer.status)
    assert topology.audit("auth.sign_in", person.id) == 1
    assert topology.audit("auth.sign_out", person.id) == 1


def test_a_rate_limit_of_n_per_minute_allows_n_in_total_not_n_per_instance(topology: Topology) -> None:
    client = topology.browser("203.0.113.2")
    instances = _instances(topology)
    statuses = []
    for _ in range(2 * PER_LOGIN + 2):  # password-reset requests for one login, through A and B in turn
        form = {"account": topology.sign_in_name, "login": "nobody-here"}
        answer = client.on(next(instances)).post("/password-reset", form)
        statuses.append(answer.status)
    assert statuses.count(429) == PER_LOGIN + 2, statuses
    assert 429 not in statuses[:PER_LOGIN], statuses
    scraped = [_metrics(url) for url in (topology.a.url, topology.b.url)]
    refused = sum(sample(text, "portal_rate_limited_total", endpoint="auth.password_reset") or 0 for text in scraped)
    assert refused == PER_LOGIN + 2


def test_a_lockout_made_through_one_instance_holds_on_the_other(topology: Topology) -> None:
    locked = topology.user("lock-person")
    client = topology.browser("203.0.113.3")
    for _ in range(5):  # MAX_FAILURES wrong passwords, all through A
        assert client.sign_in(topology.sign_in_name, "lock-person", "wrong-password-123").status == 401
    right_on_b = client.on(topology.b.url).sign_in(topology.sign_in_name, "lock-person", PASSWORD)
    assert right_on_b.status == 401  # the right password, on B: still locked
    assert "lock-person" not in client.cookies.get("portal_account", "")
    assert topology.audit("auth.sign_in_failed", locked.id) == 6
    assert topology.audit("auth.sign_in", locked.id) == 0
    assert any((sample(_metrics(url), "portal_lockouts_total") or 0) >= 1 for url in (topology.a.url, topology.b.url))


def test_two_hundred_invitations_made_across_both_are_delivered_exactly_once(topology: Topology) -> None:
    owner = topology.browser("203.0.113.4")
    assert owner.sign_in(topology.sign_in_name, "owner", OWNER_PASSWORD).status == 303
    instances = _instances(topology)
    addresses = [f"invitee-{i:03d}@example.com" for i in range(200)]
    for start in range(0, 200, 20):
        form = {"emails": "\n".join(addresses[start : start + 20])}
        review = owner.on(next(instances)).post(f"/accounts/{topology.account.id}/invitations", form)
        reviewed = re.search(r'name="reviewed" type="hidden" value="([0-9a-f]+)"', review.body)
        assert review.status == 200 and reviewed, review.body[:500]  # several invitations are reviewed first
        answer = owner.on(next(instances)).post(
            f"/accounts/{topology.account.id}/invitations", {**form, "reviewed": reviewed.group(1)}
        )
        assert answer.status == 303, answer.body[:500]

    received = topology.smtp.wait_for(200, timeout=60)
    time.sleep(1.0)  # both workers poll every 0.2 s: a second sending would show by now
    recipients = Counter(str(message["To"]) for message in topology.smtp.messages)
    assert sorted(recipients) == addresses and set(recipients.values()) == {1}, len(received)
    with topology.app.app_context():
        rows = db.session.execute(
            select(OutboxEmail.status, func.count(), func.max(OutboxEmail.attempts))
            .where(OutboxEmail.account_id == topology.account.id, OutboxEmail.kind == "invitation")
            .group_by(OutboxEmail.status)
        ).all()
    assert [tuple(row) for row in rows] == [("sent", 200, 1)]
    assert topology.audit("invitation.create") == 200
    delivered = [
        line for process in topology.workers for line in process.output().splitlines() if line.startswith("sent ")
    ]
    assert sum(int(line.split()[1].rstrip(",")) for line in delivered) == 200


def _at_once(*calls: Callable[[], int]) -> list[int]:
    """Run the calls in threads released at the same moment; their results in order."""
    start = threading.Barrier(len(calls))
    results: list[int] = [0] * len(calls)

    def run(index: int) -> None:
        start.wait(timeout=10)
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def _edit(browser: Browser, account_id: object, user_id: object) -> tuple[str, dict[str, str]]:
    path = f"/accounts/{account_id}/users/{user_id}/edit"
    page = browser.get(path)
    assert page.status == 200, page.status
    return path, form_values(page.body, path)


def test_two_edits_of_one_user_through_different_instances_give_one_success_and_one_conflict(
    topology: Topology,
) -> None:
    admin_a, admin_b = topology.browser("203.0.113.5"), topology.browser("203.0.113.6").on(topology.b.url)
    for admin in (admin_a, admin_b):
        assert admin.sign_in(topology.sign_in_name, "owner", OWNER_PASSWORD).status == 303
    for round_ in range(3):  # three users, each edited by both at the same moment
        person = topology.user(f"edited-{round_}")
        path, form_a = _edit(admin_a, topology.account.id, person.id)
        _, form_b = _edit(admin_b, topology.account.id, person.id)
        form_a["first_name"], form_b["first_name"] = "Alpha", "Bravo"
        status_a, status_b = _at_once(
            lambda: admin_a.request("POST", path, form=form_a).status,  # noqa: B023
            lambda: admin_b.request("POST", path, form=form_b).status,  # noqa: B023
        )
        statuses = {"a": status_a, "b": status_b}
        assert sorted(statuses.values()) == [303, 409], statuses
        saved = topology.portal.get(User, person.id)
        winner = "Alpha" if statuses["a"] == 303 else "Bravo"
        assert saved.first_name == winner and saved.version == person.version + 1
        assert topology.audit("user.update", person.id) == 1


def _metrics(url: str) -> str:
    answer = Browser(url).get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status == 200, answer.status
    return answer.body


def test_metrics_add_up_every_worker_of_an_instance_and_probes_stay_out(topology: Topology) -> None:
    before = (
        sample(
            _metrics(topology.b.url),
            "portal_request_duration_seconds_count",
            endpoint="auth.find_accounts",
            method="GET",
            status="200",
        )
        or 0
    )
    results: list[int] = []

    def load() -> None:
        results.extend(Browser(topology.b.url).get("/login/find").status for _ in range(10))

    threads = [threading.Thread(target=load) for _ in range(3)]  # concurrent, so both workers of B answer
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for _ in range(5):
        assert Browser(topology.b.url).get("/readyz").status == 200
    text = _metrics(topology.b.url)
    assert results == [200] * 30
    assert (
        sample(text, "portal_request_duration_seconds_count", endpoint="auth.find_accounts", method="GET", status="200")
        == before + 30
    )
    assert (
        sample(text, "portal_request_duration_seconds_count", endpoint="ops.readyz", method="GET", status="200") is None
    )
    assert sample(text, "portal_dependency_up", dependency="rate_limit_store") == 1
    assert sample(text, "portal_dependency_up", dependency="database") == 1
    assert sample(text, "portal_outbox_emails", status="queued") is not None
    assert Browser(topology.b.url).get("/metrics").status == 404  # no token, no metrics
    ready = Browser(topology.a.url).get("/readyz")
    assert ready.status == 200 and '"rate_limit_store":{"ok":true' in ready.body.replace(" ", "")
    for instance in (topology.a, topology.b):
        assert "/readyz" not in instance.output() and "/metrics" not in instance.output()
