"""The kinds of job: a bulk action over users, a big CSV export, and (portal.users.imports) a CSV import.

Each acts for the person who started it with the permissions it was started with, narrowed to those they
still hold (portal.jobs.services.acting_permissions), through the very services the single actions use.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Any

from portal.actors import Actor
from portal.csv_cells import cell
from portal.errors import NotFound
from portal.jobs import services as jobs
from portal.jobs.services import JobFailed
from portal.models import Job, User
from portal.users import bulk
from portal.users import queries as user_queries

BULK = bulk.JOB_KIND
EXPORT = "export_users"
EXPORT_FILE = "export"


class BulkUsers:
    """Disable, enable, delete, grant a role or add to a group, for every user the list's filter matched
    when the job began (or the ticked ones): one item per user, its outcome the report's line."""

    def prepare(self, job: Job) -> None:
        params = job.params
        if params.get("user_ids") is not None:
            ids = [uuid.UUID(raw) for raw in params["user_ids"]]
        else:
            f = user_queries.UserFilter.from_args(params.get("filters", {}))
            ids = user_queries.matching_ids(job.account_id, f, 10**9)
        job.total = jobs.add_items(job, ({"subject_id": user_id} for user_id in ids))

    def run(self, job: Job, limit: int) -> bool:
        items = jobs.pending_items(job, limit)
        if not items:
            return True
        actor = jobs.job_actor(job)
        params = job.params
        expires_at = datetime.fromisoformat(params["expires_at"]) if params.get("expires_at") else None
        try:
            action = bulk.action_for(
                job.account_id, params["action"], params.get("role_id"), params.get("group_id"), expires_at
            )
        except NotFound:
            raise JobFailed(
                "The role to grant was deleted." if params["action"] == "grant_role" else "The group was deleted."
            ) from None
        users = {
            u.id: u
            for u in user_queries.users_in_account(job.account_id, [i.subject_id for i in items if i.subject_id])
        }
        self._act(job, items, users, action, actor)  # the batch services rank the batch's users in one statement
        return job.cursor >= job.total

    def _act(
        self,
        job: Job,
        items: list[jobs.PendingItem],
        users: dict[uuid.UUID, User],
        action: bulk.BulkAction,
        actor: Actor,
    ) -> None:
        labels = {user_id: f"{user.full_name} ({user.email})" for user_id, user in users.items()}
        present = [users[item.subject_id] for item in items if item.subject_id in users]
        outcomes = {o.user.id: o for o in bulk.apply(present, action, actor=actor)}
        for item in items:
            outcome = outcomes.get(item.subject_id) if item.subject_id else None
            if outcome is None:
                item.outcome, item.message = "refused", "No longer a user of this account."
            else:
                item.label = labels[outcome.user.id]
                item.outcome, item.message = ("done" if outcome.done else "refused"), outcome.message
        jobs.save_items(job, items)

    def finish(self, job: Job) -> None:
        job.result = {"changed": job.done - job.refused, "refused": job.refused}


class ExportUsers:
    """The users list as CSV, written a chunk at a time into the job's stored file."""

    def prepare(self, job: Job) -> None:
        f = user_queries.UserFilter.from_args(job.params.get("filters", {}))
        job.total = user_queries.count_matching(job.account_id, f, 10**9)
        job.resume = {"after": None, "chunks": 0}
        buffer = io.StringIO()
        csv.writer(buffer).writerow(user_queries.EXPORT_HEADER)
        job.resume = {"after": None, "chunks": jobs.write_file(job.id, EXPORT_FILE, [buffer.getvalue().encode()], 0)}

    def run(self, job: Job, limit: int) -> bool:
        f = user_queries.UserFilter.from_args(job.params.get("filters", {}))
        state: dict[str, Any] = dict(job.resume)
        # 25 rows for each item a batch of actions handles: writing a row costs far less than acting on a user.
        rows, following = user_queries.export_chunk(job.account_id, f, state.get("after"), limit * 25)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows:
            writer.writerow([cell(v) for v in user_queries.export_values(row)])
        chunks = jobs.write_file(job.id, EXPORT_FILE, [buffer.getvalue().encode()], state["chunks"])
        job.done = min(job.done + len(rows), max(job.total, job.done + len(rows)))
        job.total = max(job.total, job.done)
        job.cursor += len(rows)
        job.resume = {"after": following, "chunks": chunks}
        return following is None

    def finish(self, job: Job) -> None:
        job.total = job.done
        job.result = {"rows": job.done}


jobs.register(BULK, BulkUsers())
jobs.register(EXPORT, ExportUsers())
