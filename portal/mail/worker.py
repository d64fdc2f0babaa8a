"""The loop behind `flask portal send-mail`: delivery passes until stopped (SIGTERM or Ctrl-C)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from flask import current_app

from portal import db
from portal.mail.delivery import deliver_due, smtp_configured


def run(once: bool, interval: float, batch: int, echo: Callable[[str], Any] = print) -> None:
    """Deliver due emails now, and with `once=False` every `interval` seconds until told to stop."""
    if not smtp_configured():
        echo("SMTP_HOST is not set: emails stay in the outbox (the owner can read them at /accounts/<id>/outbox).")
        return
    stop = threading.Event()
    if not once and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    config = current_app.config
    echo(f"Delivering mail through {config['SMTP_HOST']}:{config['SMTP_PORT']}.")
    try:
        while True:
            report = deliver_due(limit=batch)
            db.session.remove()  # a fresh session (and pooled connection) for each pass
            if report.handled:
                echo(f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}")
            if once or stop.is_set():
                break
            if report.handled < batch:  # a full batch means more may be due: go on at once
                stop.wait(interval)
            if stop.is_set():
                break
    except KeyboardInterrupt:
        pass
    echo("Mail worker stopped.")
