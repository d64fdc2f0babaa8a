"""Read side of jobs: the account's list, one job, its report, the starter's notices, the metrics' counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from flask import flash, g, request
from flask_login import current_user
from sqlalchemy import case, func, select, update

from portal import db
from portal.errors import NotFound
from portal.models import Job, JobItem, JobState
from portal.models.job import OPEN_STATES

LISTED = 50


def job_in_account(account_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    """The job, or NotFound when missing or another account's."""
    job = db.session.scalar(select(Job).where(Job.id == job_id, Job.account_id == account_id))
    if job is None:
        raise NotFound("No such job.")
    return job


def account_jobs(account_id: uuid.UUID, limit: int = LISTED) -> list[Job]:
    """The account's jobs, running ones first, then newest first."""
    running_first = case((Job.state.in_(OPEN_STATES), 0), else_=1)
    return list(
        db.session.scalars(
            select(Job).where(Job.account_id == account_id).order_by(running_first, Job.created_at.desc()).limit(limit)
        )
    )


def report_lines(job_id: uuid.UUID, limit: int, refused_first: bool = True) -> list[JobItem]:
    """The first lines of the report (refused ones first: they are what needs attention)."""
    order = [case((JobItem.outcome == "refused", 0), else_=1), JobItem.seq] if refused_first else [JobItem.seq]
    return list(
        db.session.scalars(
            select(JobItem).where(JobItem.job_id == job_id, JobItem.outcome.is_not(None)).order_by(*order).limit(limit)
        )
    )


def iter_report(job_id: uuid.UUID, chunk: int = 2000) -> Iterator[JobItem]:
    """Every handled line of the report in order, a chunk at a time."""
    seq = 0
    while True:
        items = list(
            db.session.scalars(
                select(JobItem)
                .where(JobItem.job_id == job_id, JobItem.seq > seq, JobItem.outcome.is_not(None))
                .order_by(JobItem.seq)
                .limit(chunk)
            )
        )
        yield from items
        if len(items) < chunk:
            return
        seq = items[-1].seq
        db.session.expunge_all()


def counts_by_state() -> dict[str, int]:
    """How many jobs are in each state, every account together (for /metrics)."""
    counts = dict(db.session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    return {state.value: int(counts.get(state.value, 0)) for state in JobState}


def notify_finished() -> None:
    """Tell the signed-in person, on their next page, about their jobs that finished since (once each).

    The sign-in check already asked whether there is any (g.job_notice): most pages send nothing here."""
    if (
        request.method != "GET"
        or request.headers.get("HX-Request")
        or not g.get("job_notice")
        or not current_user.is_authenticated
        or request.path.startswith(("/api/", "/scim/", "/static/"))
    ):
        return
    finished = list(
        db.session.scalars(
            select(Job)
            .where(Job.started_by_id == current_user.id, Job.notified.is_(False), Job.state.not_in(OPEN_STATES))
            .limit(5)
        )
    )
    if not finished:
        return
    for job in finished:
        words = {"done": "finished", "failed": "failed", "cancelled": "was cancelled"}.get(job.state, job.state)
        flash(
            f"Your job “{job.title}” {words}: its report is on the Jobs page.",
            "success" if job.state == "done" else "error",
        )
    db.session.execute(
        update(Job)
        .where(Job.id.in_([j.id for j in finished]))
        .values(notified=True)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def report_page(job_id: uuid.UUID, start: int, take: int) -> list[JobItem]:
    """Lines of the report in order, for the API (`from`, `take`)."""
    return list(
        db.session.scalars(
            select(JobItem)
            .where(JobItem.job_id == job_id, JobItem.outcome.is_not(None))
            .order_by(JobItem.seq)
            .offset(start)
            .limit(take)
        )
    )


def handled_count(job_id: uuid.UUID) -> int:
    """How many lines the report has so far."""
    return int(
        db.session.scalar(
            select(func.count()).select_from(JobItem).where(JobItem.job_id == job_id, JobItem.outcome.is_not(None))
        )
        or 0
    )
