"""The worker behind `flask portal worker` (alias `send-mail`): duties run in batches until stopped.

Duties: deliver the outbox (portal.mail.delivery), run jobs a batch at a time (portal.jobs), remove
role grants and group memberships whose time is up (portal.expiry), and sweep what retention lets go
(portal.retention). Each duty runs one batch at a time; a duty that filled its batch runs again
at once, one that did not waits its interval. Several workers may run side by side on one
database: the outbox is claimed with `FOR UPDATE SKIP LOCKED` and leases, the sweep deletes
rows it locked the same way, and jobs are claimed with a lease per job (portal.jobs.services).

Stopping: SIGTERM (or Ctrl-C) lets the batch in hand finish — every claimed email is sent and
its outcome committed — and then the worker exits with status 0; nothing claimed is left behind
and nothing is sent twice. A second Ctrl-C stops at once (a claimed email then waits out its
lease and is tried again). A database error in a duty is logged and the duty tried again after
its interval: the worker outlives a database restart.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from portal import db, expiry, retention
from portal.jobs import services as jobs
from portal.mail.delivery import deliver_due, smtp_configured

Echo = Callable[[str], Any]


@dataclass
class Duty:
    """One kind of work: `batch()` does one batch and says whether it was full (more may be waiting)."""

    name: str
    interval: float
    batch: Callable[[], bool]
    due: float = 0.0
    close: Callable[[], None] | None = None  # run once when the worker stops


def _mail_duty(batch: int, interval: float, echo: Echo) -> Duty:
    def deliver() -> bool:
        report = deliver_due(limit=batch)
        if report.handled:
            echo(f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}")
        return report.handled >= batch

    return Duty("mail", interval, deliver)


def _retention_duty(interval: float, stop: threading.Event, echo: Echo) -> Duty:
    def sweep() -> bool:
        report = retention.sweep_batch(should_stop=stop.is_set)
        if report.total:
            echo("swept " + ", ".join(f"{name} {count}" for name, count in report.deleted.items() if count))
        return report.more

    return Duty("retention", interval, sweep)


def _jobs_duty(interval: float, echo: Echo) -> Duty:
    held: list[jobs.Claim] = []  # the job this worker is running, if any

    def step() -> bool:
        if not held:
            claimed = jobs.claim()
            if claimed is None:
                return False
            held.append(claimed)
            echo(f"job {claimed.job_id}: started")
        more = jobs.run_batch(held[0], int(current_app.config.get("JOB_BATCH", 200)))
        if not more:
            echo(f"job {held[0].job_id}: stopped working on it")
            held.clear()
        else:
            jobs.pause_between_batches()
        return True  # straight on: the next batch, or the next job

    def close() -> None:
        if held:
            with contextlib.suppress(SQLAlchemyError):  # else the lease runs out on its own
                jobs.release(held[0])

    return Duty("jobs", interval, step, close=close)


def _expiry_duty(interval: float, echo: Echo) -> Duty:
    def sweep() -> bool:
        removed = expiry.sweep_batch()
        if removed:
            echo(f"removed {removed} expired role grants and memberships")
        return removed >= expiry.BATCH

    return Duty("expiry", interval, sweep)


def duties(interval: float, batch: int, sweep_interval: float, stop: threading.Event, echo: Echo) -> list[Duty]:
    """What a worker does, in order: the outbox first (people wait for it), then retention."""
    found = []
    if smtp_configured():
        config = current_app.config
        echo(f"Delivering mail through {config['SMTP_HOST']}:{config['SMTP_PORT']}.")
        found.append(_mail_duty(batch, interval, echo))
    else:
        echo("SMTP_HOST is not set: emails stay in the outbox (the owner can read them at /accounts/<id>/outbox).")
    found.append(_jobs_duty(interval, echo))
    found.append(_expiry_duty(min(interval * 6, 60.0), echo))
    found.append(_retention_duty(sweep_interval, stop, echo))
    return found


def _run_once(duty: Duty, echo: Echo) -> bool:
    try:
        return duty.batch()
    except SQLAlchemyError as error:
        current_app.logger.warning(
            "Worker duty %s failed, trying again in %.0f s: %s", duty.name, duty.interval, type(error).__name__
        )
        echo(f"{duty.name}: database error ({type(error).__name__}); trying again in {duty.interval:.0f} s")
        return False
    finally:
        db.session.remove()  # a fresh session (and pooled connection) for each batch


def _on_signals(stop: threading.Event, echo: Echo) -> dict[int, Any]:
    """SIGTERM and SIGINT ask the loop to stop after the batch in hand; a second SIGINT stops at once."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if not stop.is_set():
            echo("Stopping after the batch in hand.")
        stop.set()

    return {signum: signal.signal(signum, handle) for signum in (signal.SIGTERM, signal.SIGINT)}


def run(once: bool, interval: float, batch: int, sweep_interval: float = 3600.0, echo: Echo = print) -> None:
    """Run the duties (once each with `once`, else until SIGTERM or Ctrl-C)."""
    stop = threading.Event()
    previous = _on_signals(stop, echo)
    try:
        work = duties(interval, batch, sweep_interval, stop, echo)
        while not stop.is_set():
            more = False
            for duty in work:
                if stop.is_set():
                    break
                if time.monotonic() >= duty.due:
                    full = _run_once(duty, echo)
                    duty.due = time.monotonic() + (0 if full else duty.interval)
                    more = more or full
            if once:
                break
            if not more:
                stop.wait(max(0.0, min(duty.due for duty in work) - time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        for duty in locals().get("work", []):
            if duty.close is not None:
                duty.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    echo("Worker stopped.")
