"""Jobs in the real worker process (issue 18): a worker killed by signal mid-job is resumed by the next one
and no user is acted on twice; two workers side by side never run the same job."""

from __future__ import annotations

import os
import re
import signal
from collections import Counter
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal import db
from portal.jobs import services as jobs
from portal.models import AuditEvent, Job, JobItem, User
from tests.helpers import Portal, actor_of, add_many_users
from tests.live import portal_env, running, wait_until, worker


def _start_disable(app: Flask, account_id, owner_id, user_ids=None) -> Job:
    with app.app_context():
        job = jobs.start_job(
            account_id,
            "bulk_users",
            "Disable",
            {
                "action": "disable",
                "filters": {},
                "user_ids": [str(i) for i in user_ids] if user_ids is not None else None,
            },
            actor=actor_of(owner_id),
        )
        db.session.commit()
        return job


def _job(app: Flask, job_id) -> Job:
    with app.app_context():
        return db.session.get(Job, job_id)


def test_a_worker_killed_mid_job_is_resumed_and_acts_on_each_user_once(
    app: Flask, portal: Portal, database_url: str, tmp_path: Path
) -> None:
    account, owner = portal.account()
    add_many_users(portal, account, 200)
    job = _start_disable(app, account.id, owner.id)
    env = portal_env(
        database_url, RATELIMIT_STORAGE_URI="memory://", JOB_BATCH="20", JOB_BATCH_PAUSE="0.3", JOB_LEASE_SECONDS="2"
    )
    first = worker("worker", env, tmp_path / "first.log", "--interval", "0.2")
    with running(first):
        first.start()
        wait_until(lambda: _job(app, job.id).done >= 40, 60, "two batches committed", every=0.02)
        first.signal(signal.SIGKILL)  # no goodbye: the lease stays until it runs out
        first.wait(timeout=10)
    stopped = _job(app, job.id)
    assert stopped.state == "running" and 40 <= stopped.done < 200, stopped.done
    second = worker("worker-again", {**env, "JOB_BATCH_PAUSE": "0"}, tmp_path / "second.log", "--interval", "0.2")
    with running(second):
        second.start()
        wait_until(lambda: _job(app, job.id).state == "done", 60, "the job resumed and finished", every=0.05)
    finished = _job(app, job.id)
    assert finished.done == finished.total == 200 and finished.refused == 0
    with app.app_context():
        disabled = Counter(db.session.scalars(select(AuditEvent.target_id).where(AuditEvent.action == "user.disable")))
        assert len(disabled) == 200 and set(disabled.values()) == {1}  # each user exactly once
        assert db.session.scalar(select(func.count()).select_from(User).where(User.status == "disabled")) == 200
        assert db.session.scalar(select(func.count()).select_from(JobItem).where(JobItem.outcome == "done")) == 200


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgresql"),
    reason="row locks are PostgreSQL's (SQLite workers are kept apart by the conditional claim, "
    "which the killed-worker test exercises)",
)
def test_two_workers_side_by_side_never_take_the_same_job(
    app: Flask, portal: Portal, database_url: str, tmp_path: Path
) -> None:
    account, owner = portal.account()
    ids = add_many_users(portal, account, 240)
    started = [_start_disable(app, account.id, owner.id, ids[i : i + 30]).id for i in range(0, 240, 30)]
    env = portal_env(database_url, RATELIMIT_STORAGE_URI="memory://", JOB_BATCH="10", JOB_BATCH_PAUSE="0.05")
    one = worker("one", env, tmp_path / "one.log", "--interval", "0.1")
    two = worker("two", env, tmp_path / "two.log", "--interval", "0.1")
    with running(one, two):
        one.start()
        two.start()
        wait_until(
            lambda: all(_job(app, job_id).state == "done" for job_id in started), 120, "every job done", every=0.1
        )
    taken = [set(re.findall(r"job ([0-9a-f-]{36}): started", process.output())) for process in (one, two)]
    assert not taken[0] & taken[1], "a job was taken by both workers"
    assert taken[0] | taken[1] == {str(job_id) for job_id in started}
    assert taken[0] and taken[1], "one worker did all the work: the test proves nothing"
    with app.app_context():
        disabled = Counter(db.session.scalars(select(AuditEvent.target_id).where(AuditEvent.action == "user.disable")))
    assert len(disabled) == 240 and set(disabled.values()) == {1}
