"""Jobs (issue 18): long work run by the worker with progress, cancel, resume and a report.

A job's items are its unit of work and its report at once: one row per user acted on (or per CSV
row imported), with the outcome written in the same transaction as the change it reports. The
worker takes items strictly in `seq` order past `cursor`, and commits each batch's changes, their
outcomes and the new cursor together: a worker killed mid-batch leaves nothing of that batch, and
the next one starts where the last commit stopped, so no item is ever acted on twice.
Files (an export, an uploaded CSV, a result) are stored in the database in chunks, so that any
instance can stream them and the worker needs no shared disk.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, created_at, uuid_pk


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_STATES = (JobState.QUEUED.value, JobState.RUNNING.value)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_lease_until", "state", "lease_until"),  # the worker's claim
        Index("ix_jobs_account_id_created_at", "account_id", "created_at"),  # the account's jobs page
        Index("ix_jobs_finished_at", "finished_at"),  # retention
    )

    id: Mapped[uuid_pk]
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    started_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    started_by_name: Mapped[str] = mapped_column(String(200), default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value)
    prepared: Mapped[bool] = mapped_column(default=False)
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    cursor: Mapped[int] = mapped_column(default=0)  # the last item (seq) handled, or the export's rows written
    resume: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # kind-specific state (an export's key)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(String(500), default="")
    lease_token: Mapped[uuid.UUID | None]
    lease_until: Mapped[datetime | None]
    notified: Mapped[bool] = mapped_column(default=False)  # the starter was told it finished
    created_at: Mapped[created_at]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        """Queued or running: it may still move, and can be cancelled."""
        return self.state in OPEN_STATES

    @property
    def percent(self) -> int:
        """How far it is, 0 to 100."""
        if self.state == JobState.DONE:
            return 100
        return min(100, self.done * 100 // self.total) if self.total else 0


class JobItem(Base):
    """One unit of a job's work and its line of the report."""

    __tablename__ = "job_items"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    subject_id: Mapped[uuid.UUID | None]
    label: Mapped[str] = mapped_column(String(300), default="")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    outcome: Mapped[str | None] = mapped_column(String(16))  # done, refused, created, updated, skipped
    message: Mapped[str] = mapped_column(String(500), default="")


class JobFile(Base):
    """A file of a job (the uploaded CSV, an export, a report), stored as ordered chunks."""

    __tablename__ = "job_files"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
