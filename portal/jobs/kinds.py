"""The kinds of job: a bulk action over users, a big CSV export, and (portal.users.imports) a CSV import.

Each acts for the person who started it with the permissions it was started with, narrowed to those they
still hold (portal.jobs.services.acting_permissions), through the very services the single actions use.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal import db
from portal.csv_cells import cell
from portal.jobs import services as jobs
from portal.jobs.services import JobFailed
from portal.models import Group, Job, JobItem, Role, User
from portal.roles import policy
from portal.users import queries as user_queries
from portal.users import services as user_services
from portal.users.services import Actor

BULK = "bulk_users"
EXPORT = "export_users"
EXPORT_FILE = "export"


def _actor(job: Job) -> Actor:
    user = jobs.starter(job)
    return Actor(user, jobs.acting_permissions(job, user))


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
        actor = _actor(job)
        params = job.params
        role = group = None
        if params["action"] == "grant_role":
            role = db.session.scalar(select(Role).where(Role.id == uuid.UUID(params["role_id"]),
                                                        Role.account_id == job.account_id))
            if role is None:
                raise JobFailed("The role to grant was deleted.")
        if params["action"] == "add_to_group":
            group = db.session.scalar(select(Group).where(Group.id == uuid.UUID(params["group_id"]),
                                                          Group.account_id == job.account_id))
            if group is None:
                raise JobFailed("The group was deleted.")
        expires_at = datetime.fromisoformat(params["expires_at"]) if params.get("expires_at") else None
        action, past = user_services.bulk_action(params["action"], actor, role, group, expires_at)
        users = {u.id: u for u in user_queries.users_in_account(job.account_id,
                                                                [i.subject_id for i in items if i.subject_id])}
        with policy.ranks_read_ahead(policy.held_permissions(users)):  # the batch's ranks in one statement
            self._act(job, items, users, action, past)
        return job.cursor >= job.total

    def _act(self, job: Job, items: list[JobItem], users: dict[uuid.UUID, User], action: Callable[[User], None],
             past: str) -> None:
        labels = {user_id: f"{user.full_name} ({user.email})" for user_id, user in users.items()}
        present = [users[item.subject_id] for item in items if item.subject_id in users]
        outcomes = {o.user.id: o for o in user_services.apply_bulk(present, action, past)}
        # The items and the job's progress are set once the batch is through: each user's savepoint flushes
        # whatever is pending, and set along the way they would cost two UPDATEs per user.
        for item in items:
            outcome = outcomes.get(item.subject_id) if item.subject_id else None
            if outcome is None:
                item.outcome, item.message = "refused", "No longer a user of this account."
            else:
                item.label = labels[outcome.user.id]
                item.outcome, item.message = ("done" if outcome.done else "refused"), outcome.message[:500]
            job.done += 1
            job.refused += item.outcome == "refused"
            job.cursor = item.seq

    def finish(self, job: Job) -> None:
        job.result = {"changed": job.done - job.refused, "refused": job.refused}


def bulk_title(action: str, total: int, role: Role | None, group: Group | None, matching: bool = True) -> str:
    """The words a bulk action's job goes by: "Disable 4,000 matching users" (or "Disable 3 users")."""
    verb = {"disable": "Disable", "enable": "Enable", "delete": "Delete",
            "grant_role": f"Grant {role.name if role else ''} to",
            "add_to_group": f"Add to {group.name if group else ''}:"}
    return f"{verb[action]} {total:,} " + ("matching " if matching else "") + ("user" if total == 1 else "users")


def record_bulk(account_id: uuid.UUID, params: dict[str, Any], title: str,
                outcomes: list[user_services.BulkOutcome], actor: Actor) -> Job:
    """The report of a bulk action done at once, kept as a finished bulk job (one report format, one CSV)."""
    items = [{"subject_id": o.user.id, "label": f"{o.user.full_name} ({o.user.email})",
              "outcome": "done" if o.done else "refused", "message": o.message[:500]} for o in outcomes]
    refused = sum(1 for o in outcomes if not o.done)
    return jobs.record_finished(account_id, BULK, title, params, actor.user, actor.permissions, items,
                                {"changed": len(outcomes) - refused, "refused": refused})


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
