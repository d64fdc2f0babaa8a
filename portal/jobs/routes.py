"""The account's jobs: the list, one job with its progress (polled by htmx; refreshed without JavaScript),
cancel, and its files: the report as CSV and an export's file, streamed from storage."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, flash, g, stream_with_context, url_for
from flask.typing import ResponseReturnValue

from portal import db
from portal.actors import from_request
from portal.csv_cells import csv_download
from portal.errors import NotFound
from portal.jobs import queries, services
from portal.jobs.kinds import EXPORT, EXPORT_FILE
from portal.permissions import Permission, require
from portal.rendering import redirect_or_render, render

bp = Blueprint("jobs", __name__)

SHOWN = 100  # report lines on the page; the CSV has them all


def _context(job_id: uuid.UUID) -> dict[str, Any]:
    job = queries.job_in_account(g.account.id, job_id)
    return {"job": job, "lines": queries.report_lines(job.id, SHOWN), "shown": SHOWN}


@bp.get("/jobs")
@require(Permission.USERS_READ)
def index() -> ResponseReturnValue:
    return render("jobs/index.html", jobs=queries.account_jobs(g.account.id))


@bp.get("/jobs/<uuid:job_id>")
@require(Permission.USERS_READ)
def show(job_id: uuid.UUID) -> ResponseReturnValue:
    return render("jobs/show.html", "job_status", **_context(job_id))


@bp.post("/jobs/<uuid:job_id>/cancel")
@require(Permission.USERS_WRITE)
def cancel(job_id: uuid.UUID) -> ResponseReturnValue:
    job = queries.job_in_account(g.account.id, job_id)
    services.cancel_job(job, actor=from_request())
    db.session.commit()
    flash(f"“{job.title}” was cancelled after {job.done:,} of {job.total:,}.", "success")
    return redirect_or_render(url_for(".show", job_id=job.id), "jobs/show.html", "job_status", **_context(job_id))


@bp.get("/jobs/<uuid:job_id>/report.csv")
@require(Permission.USERS_READ)
def report(job_id: uuid.UUID) -> ResponseReturnValue:
    job = queries.job_in_account(g.account.id, job_id)
    rows = ((item.seq, item.label, item.outcome, item.message) for item in queries.iter_report(job.id))
    return csv_download(f"job-{job.id}-report.csv", ["n", "who", "outcome", "reason"], rows)


@bp.get("/jobs/<uuid:job_id>/export.csv")
@require(Permission.USERS_READ)
def download(job_id: uuid.UUID) -> ResponseReturnValue:
    job = queries.job_in_account(g.account.id, job_id)
    if job.kind != EXPORT or job.state != "done":
        raise NotFound("This job has no file to download.")

    def chunks() -> Iterator[bytes]:
        yield from services.read_file(job.id, EXPORT_FILE)

    response = Response(stream_with_context(chunks()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="users-{g.account.id}.csv"'
    return response
