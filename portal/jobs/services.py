"""Starting, claiming, running and cancelling jobs: the outbox's claim pattern, applied to long work.

Why not a queue library: huey, procrastinate, pgqueuer, dramatiq and rq each need a broker we do not
run (Redis) or serve PostgreSQL only, and none keeps what a job must keep here — per-item outcomes
committed with the change they report, progress an admin sees, cancel between batches — so the job
would still be our tables; the delivery worker's pattern already does the rest (see README).

Claiming: a queued job, or a running one whose lease ran out (its worker died), is read with
`FOR UPDATE SKIP LOCKED` on PostgreSQL and taken with a conditional UPDATE that sets a fresh
`lease_token` (which is also what keeps two SQLite workers apart). Every batch begins by renewing the
lease *with that token* (an UPDATE that locks the job's row until the batch commits), so a worker whose
lease was taken over, or whose job was cancelled, changes nothing and lets go. The batch's changes,
its items' outcomes and the job's progress are one transaction: killed mid-batch, a worker leaves no
trace of it, and whoever claims the job next starts after the last committed item.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from flask import current_app, g
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from portal import actors, db
from portal.actors import Actor
from portal.audit.services import record
from portal.db import utcnow
from portal.errors import Conflict, DomainError
from portal.models import Job, JobFile, JobItem, JobState, User
from portal.models.job import OPEN_STATES
from portal.permissions import ALL_PERMISSIONS, Permission, parse_permissions

log = logging.getLogger("portal.jobs")
CHUNK_BYTES = 512 * 1024  # a stored file's chunk


class JobKind(Protocol):
    """What a kind of job does: prepare once (items, total), then batches until it says it is finished."""

    def prepare(self, job: Job) -> None: ...

    def run(self, job: Job, limit: int) -> bool:
        """Handle up to `limit` units past job.cursor; True when nothing is left."""
        ...

    def finish(self, job: Job) -> None: ...


KINDS: dict[str, JobKind] = {}


def register(name: str, kind: JobKind) -> None:
    """Make a kind of job known to the worker."""
    KINDS[name] = kind


class JobFailed(Exception):
    """The job cannot go on (its starter is gone, say): it ends as failed with this reason."""


def _lease() -> timedelta:
    return timedelta(seconds=float(current_app.config.get("JOB_LEASE_SECONDS", 120)))


# --- Starting and cancelling (in a request; never commits) -----------------------------------------------


def start_job(
    account_id: uuid.UUID,
    kind: str,
    title: str,
    params: dict[str, Any],
    files: dict[str, bytes] | None = None,
    *,
    actor: Actor,
) -> Job:
    """Queue a job that acts for `actor` with their permissions (their session's, checked again as it runs)."""
    job = Job(
        id=uuid.uuid4(),
        account_id=account_id,
        kind=kind,
        title=title[:200],
        started_by_id=actor.user.id,
        started_by_name=actor.user.full_name[:200],
        params={
            **params,
            "permissions": sorted(p.value for p in actor.permissions),
            "via": actor.via or g.get("audit_via") or "web",
        },
    )
    db.session.add(job)
    db.session.flush()
    for name, data in (files or {}).items():
        write_file(job.id, name, [data])
    record("job.start", job, actor=actor, account_id=account_id, changes={"kind": kind, "title": job.title})
    return job


def record_finished(
    account_id: uuid.UUID,
    kind: str,
    title: str,
    params: dict[str, Any],
    items: Iterable[dict[str, Any]],
    result: dict[str, Any],
    *,
    actor: Actor,
) -> Job:
    """Work done at once in the request (a bulk action over a few hundred users at most), kept as a finished
    job: its per-item report is then read, listed and downloaded exactly as a job's is."""
    job = start_job(account_id, kind, title, params, actor=actor)
    job.total = job.done = job.cursor = add_items(job, items)
    job.refused = int(result.get("refused", 0))
    now = utcnow()
    job.state, job.prepared, job.notified = JobState.DONE.value, True, True  # they see the report already
    job.started_at = job.finished_at = now
    job.result = result
    return job


def cancel_job(job: Job, *, actor: Actor) -> None:
    """Stop a queued or running job between two batches; what it did so far stays done (Conflict when over)."""
    result = db.session.execute(
        update(Job)
        .where(Job.id == job.id, Job.state.in_(OPEN_STATES))
        .values(state=JobState.CANCELLED.value, finished_at=utcnow(), lease_until=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This job has already finished.")
    db.session.refresh(job)
    record(
        "job.cancel",
        job,
        actor=actor,
        account_id=job.account_id,
        changes={"kind": job.kind, "done": job.done, "total": job.total},
    )


# --- Files, stored in chunks --------------------------------------------------------------------------------


def write_file(job_id: uuid.UUID, name: str, parts: Iterable[bytes], start: int | None = None) -> int:
    """Append the parts to the job's file (in chunks of CHUNK_BYTES at most); the next chunk number."""
    seq = (
        start
        if start is not None
        else int(
            db.session.scalar(
                select(func.count()).select_from(JobFile).where(JobFile.job_id == job_id, JobFile.name == name)
            )
            or 0
        )
    )
    for part in parts:
        for i in range(0, max(len(part), 1), CHUNK_BYTES):
            db.session.add(JobFile(job_id=job_id, name=name, seq=seq, data=part[i : i + CHUNK_BYTES]))
            seq += 1
    return seq


def read_file(job_id: uuid.UUID, name: str) -> Iterator[bytes]:
    """The file's chunks in order, one statement each (memory stays flat however big the file is)."""
    seq = -1
    while True:
        row = db.session.execute(
            select(JobFile.seq, JobFile.data)
            .where(JobFile.job_id == job_id, JobFile.name == name, JobFile.seq > seq)
            .order_by(JobFile.seq)
            .limit(1)
        ).first()
        if row is None:
            return
        seq = row.seq
        yield row.data


# --- The worker's side --------------------------------------------------------------------------------------


@dataclass
class Claim:
    """A job this worker holds, and the token of its lease."""

    job_id: uuid.UUID
    token: uuid.UUID


def claim(now: datetime | None = None) -> Claim | None:
    """Take the oldest job that is queued or whose lease ran out, and commit the claim (None: nothing to do)."""
    now = now or utcnow()
    free = (Job.lease_until.is_(None)) | (Job.lease_until < now)
    candidates = db.session.scalars(
        select(Job.id)
        .where(Job.state.in_(OPEN_STATES), free)
        .order_by(Job.created_at)
        .limit(5)
        .with_for_update(skip_locked=True)
    ).all()
    for job_id in candidates:
        token = uuid.uuid4()
        result = db.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state.in_(OPEN_STATES), free)
            .values(
                state=JobState.RUNNING.value,
                lease_token=token,
                lease_until=now + _lease(),
                started_at=func.coalesce(Job.started_at, now),
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            db.session.commit()
            return Claim(job_id, token)
    db.session.commit()
    return None


def _renew(held: Claim) -> bool:
    """Extend the lease, first thing in a batch's transaction; False when the job is no longer ours to run
    (cancelled, finished, or taken over after our lease ran out)."""
    result = db.session.execute(
        update(Job)
        .where(Job.id == held.job_id, Job.lease_token == held.token, Job.state == JobState.RUNNING.value)
        .values(lease_until=utcnow() + _lease())
        .execution_options(synchronize_session=False)
    )
    renewed: int = result.rowcount  # type: ignore[attr-defined]
    return renewed == 1


def acting_permissions(job: Job, user: User) -> frozenset[Permission]:
    """What the job may do now: the permissions it was started with, and only those the starter still holds."""
    from portal.roles.policy import held_permissions

    started = parse_permissions(job.params.get("permissions", []))
    now_held = ALL_PERMISSIONS if user.is_owner else held_permissions([user.id])[user.id]
    return started & now_held


def starter(job: Job) -> User:
    """The person the job acts for; JobFailed when they are gone or may no longer sign in."""
    user = db.session.get(User, job.started_by_id) if job.started_by_id else None
    if user is None or user.status != "active" or user.account_id != job.account_id:
        raise JobFailed("The person who started this job is no longer an active user of the account.")
    return user


def job_actor(job: Job) -> Actor:
    """Who the job acts for: the person who started it (JobFailed when gone), with the permissions it may still
    use, recorded as coming in the way it was started."""
    user = starter(job)
    return actors.for_job(job, user, acting_permissions(job, user))


def run_batch(held: Claim, limit: int) -> bool:
    """One batch of the held job, committed with its progress; True while the job has more to do."""
    from portal.jobs import kinds  # noqa: F401  (registers the kinds)
    from portal.users import imports  # noqa: F401

    if not _renew(held):
        db.session.rollback()
        return False
    job = db.session.get(Job, held.job_id, populate_existing=True)
    assert job is not None
    kind = KINDS.get(job.kind)
    try:
        if kind is None:
            raise JobFailed(f"This worker does not know jobs of the kind {job.kind}.")
        if not job.prepared:
            kind.prepare(job)
            job.prepared = True
            finished = False
        else:
            finished = kind.run(job, limit)
        if finished:
            kind.finish(job)
            job.state, job.finished_at, job.lease_until = JobState.DONE.value, utcnow(), None
        db.session.commit()
        return not finished
    except (JobFailed, DomainError) as error:
        db.session.rollback()
        _fail(held, str(error))
        return False
    except SQLAlchemyError:
        db.session.rollback()
        raise  # the worker logs it and tries again after its interval; the lease brings the job back
    except Exception as error:  # a bug must not leave the job "running" for ever
        db.session.rollback()
        log.exception("Job %s failed", held.job_id)
        _fail(held, f"The job stopped on an unexpected error ({type(error).__name__}).")
        return False


def _fail(held: Claim, reason: str) -> None:
    db.session.execute(
        update(Job)
        .where(Job.id == held.job_id, Job.lease_token == held.token, Job.state.in_(OPEN_STATES))
        .values(state=JobState.FAILED.value, error=reason[:500], finished_at=utcnow(), lease_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def release(held: Claim) -> None:
    """Give the lease back (a worker stopping between batches): another worker may resume the job at once."""
    db.session.execute(
        update(Job)
        .where(Job.id == held.job_id, Job.lease_token == held.token)
        .values(lease_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


@dataclass
class PendingItem:
    """An item of the job that a batch works on, read as plain values (a batch reads hundreds: the ORM's
    bookkeeping of each would cost more than the work); the batch sets its outcome and message (and label),
    and save_items writes them."""

    seq: int
    subject_id: uuid.UUID | None
    label: str
    payload: dict[str, Any] | None
    outcome: str | None
    message: str
    keep: dict[str, Any] | None = None  # added to the payload by save_items, for a later job to read


def pending_items(job: Job, limit: int) -> list[PendingItem]:
    """The next items past the job's cursor, in order."""
    rows = db.session.execute(
        select(JobItem.seq, JobItem.subject_id, JobItem.label, JobItem.payload, JobItem.outcome, JobItem.message)
        .where(JobItem.job_id == job.id, JobItem.seq > job.cursor)
        .order_by(JobItem.seq)
        .limit(limit)
    )
    return [PendingItem(*row) for row in rows]


def save_items(job: Job, items: Sequence[PendingItem]) -> None:
    """Write the batch's items (outcome, message, label; and what an item keeps) in one statement each, and move
    the job's progress past them.

    Once the batch is through: set along the way, the savepoints of the batch's work would write them a row
    at a time."""
    if not items:
        return
    table = cast(Table, JobItem.__table__)
    db.session.execute(
        update(table)
        .where(table.c.job_id == bindparam("_job"), table.c.seq == bindparam("_seq"))
        .values(label=bindparam("_label"), outcome=bindparam("_outcome"), message=bindparam("_message"))
        .execution_options(synchronize_session=False),
        [
            {"_job": job.id, "_seq": i.seq, "_label": i.label, "_outcome": i.outcome, "_message": i.message[:500]}
            for i in items
        ],
    )
    kept = [i for i in items if i.keep]
    if kept:  # an import's dry run keeps what its apply may reuse (portal.users.imports)
        db.session.execute(
            update(table)
            .where(table.c.job_id == bindparam("_job"), table.c.seq == bindparam("_seq"))
            .values(payload=bindparam("_payload"))
            .execution_options(synchronize_session=False),
            [{"_job": job.id, "_seq": i.seq, "_payload": {**(i.payload or {}), **(i.keep or {})}} for i in kept],
        )
    for item in items:
        job.done += 1
        job.refused += item.outcome == "refused"
        job.cursor = item.seq


def add_items(job: Job, rows: Iterable[dict[str, Any]]) -> int:
    """Insert the job's items (dicts of JobItem's columns, without job_id and seq) in order; how many."""
    from sqlalchemy import insert

    seq, batch = 0, []
    for row in rows:
        seq += 1
        batch.append(
            {
                "job_id": job.id,
                "seq": seq,
                "label": "",
                "message": "",
                "subject_id": None,
                "payload": None,
                "outcome": None,
                **row,
            }
        )
        if len(batch) >= 1000:
            db.session.execute(insert(JobItem), batch)
            batch = []
    if batch:
        db.session.execute(insert(JobItem), batch)
    return seq


def pause_between_batches() -> None:
    """JOB_BATCH_PAUSE seconds (tests and demos only: it lets a test kill a worker mid-job)."""
    pause = float(current_app.config.get("JOB_BATCH_PAUSE", 0) or 0)
    if pause:
        time.sleep(pause)
