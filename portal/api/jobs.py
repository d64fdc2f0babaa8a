"""Jobs and imports in the JSON API (issue 18): POST a CSV to import (a dry run by default) and follow the job.

An import is the pages' import (portal.users.imports): the same file format, rules and per-row reasons;
`POST /imports` answers 202 with the job, which the worker runs; poll `GET /jobs/{id}` for its progress and
read `GET /jobs/{id}/report` for each row's outcome.
"""

from __future__ import annotations

import uuid

from flask import Response, request, url_for

from portal.actors import from_request
from portal.api import schemas
from portal.api.core import answer, bp, operation, paging, read
from portal.api.errors import ApiError
from portal.jobs import queries
from portal.models import Job, JobItem
from portal.pagination import Page
from portal.permissions import Permission
from portal.users import imports

TAGS = ["jobs"]


def job_model(job: Job) -> schemas.Job:
    """The API's Job."""
    return schemas.Job(
        id=job.id,
        kind=job.kind,  # type: ignore[arg-type]  # the column holds one of JobKind
        title=job.title,
        state=job.state,  # type: ignore[arg-type]  # the column holds one of JobState
        dry_run=bool(job.params.get("dry_run")),
        total=job.total,
        done=job.done,
        refused=job.refused,
        result=job.result or {},
        error=job.error,
        started_by=schemas.JobStarter(id=job.started_by_id, name=job.started_by_name),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        report=url_for("api_v1.job_report", account_id=job.account_id, job_id=job.id, _external=False),
    )


@bp.post("/accounts/<uuid:account_id>/imports")
@operation(
    Permission.USERS_WRITE, query=schemas.ImportQuery, form=schemas.ImportUpload, answers={202: schemas.Job}, tags=TAGS
)
def create_import(account_id: uuid.UUID, query: schemas.ImportQuery) -> Response:
    """Import users from a CSV sent as multipart/form-data field `file` (the export's columns; at most 100,000
    rows, 10 MB): `dry_run=true` (the default) reports what each row would do; `dry_run=false` applies it.
    The options may be form fields beside the file or query parameters (a field wins)."""
    if request.form:
        query = read(schemas.ImportQuery, {**request.args.to_dict(), **request.form.to_dict()}, location="body")
    upload = request.files.get("file")
    if upload is None:
        raise ApiError.one(
            422, "Send the CSV as multipart/form-data in the field `file`.", code="MissingParameter", field="file"
        )
    data = upload.read(imports.MAX_BYTES + 1)
    try:
        job = imports.start_import(
            account_id,
            data,
            dry_run=query.dry_run,
            send_invitations=query.send_invitations,
            actor=from_request(),
            name=upload.filename or "",
        )
    except imports.FileProblem as problem:
        raise ApiError.one(422, str(problem), code="InvalidArgument", field="file") from None
    response = answer(job_model(job), 202, location=url_for("api_v1.get_job", account_id=account_id, job_id=job.id))
    return response


@bp.get("/accounts/<uuid:account_id>/jobs/<uuid:job_id>")
@operation(Permission.USERS_READ, answers={200: schemas.Job}, tags=TAGS)
def get_job(account_id: uuid.UUID, job_id: uuid.UUID) -> Response:
    """A job's state and progress (`done` of `total`), and its result once it is over."""
    return answer(job_model(queries.job_in_account(account_id, job_id)))


@bp.get("/accounts/<uuid:account_id>/jobs/<uuid:job_id>/report")
@operation(Permission.USERS_READ, query=schemas.ListQuery, answers={200: schemas.ReportPage}, tags=TAGS)
def job_report(account_id: uuid.UUID, job_id: uuid.UUID, query: schemas.ListQuery) -> Response:
    """The job's report, a line per user or row handled so far, in order (`from`, `take`)."""
    job = queries.job_in_account(account_id, job_id)
    items: list[JobItem] = queries.report_page(job.id, query.from_, query.take)
    handled = queries.handled_count(job.id)
    page = Page(items, query.from_, query.take, handled, more=query.from_ + query.take < handled)
    return answer(
        schemas.ReportPage(
            lines=[
                schemas.ReportLine(n=i.seq, who=i.label, outcome=i.outcome, reason=i.message)  # type: ignore[arg-type]
                for i in items
            ],
            **paging(page, next_args={"from": query.from_ + query.take} if page.has_next else None),
        )
    )
