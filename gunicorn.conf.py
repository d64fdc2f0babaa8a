"""gunicorn settings for the portal: `gunicorn --config gunicorn.conf.py app:app` (docs/operations.md).

Prometheus' multiprocess mode (issue 19): every worker writes its counts to files in
PROMETHEUS_MULTIPROC_DIR and a scrape of /metrics on any worker adds up all of them. The
directory must belong to this gunicorn alone and start empty: when PROMETHEUS_MULTIPROC_DIR is
not set a fresh one is made (and removed at exit); when it is set its *.db files are cleared.
A worker that exits is marked dead, so its counts stay in the totals.

Command-line flags win over what is set here (e.g. --workers, --bind, --timeout).
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_dir, _made_here = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]), False
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in _metrics_dir.glob("*.db"):
        stale.unlink()
else:
    _metrics_dir, _made_here = Path(tempfile.mkdtemp(prefix="portal-metrics-")), True
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)  # before any worker imports prometheus_client

# A CSV export of a million users streams for about a minute (bench/RESULTS.md): 30 s would cut it.
timeout = 300
# On SIGTERM, workers finish the requests in hand for up to this long, then are killed.
graceful_timeout = 90
# gunicorn's own access log would print invitation and reset links: the portal logs requests itself.
accesslog = None


def post_worker_init(_worker: Any) -> None:
    """The app is loaded: move everything it made so far (modules, the app, its statements) out of the cyclic
    garbage collector's reach, which otherwise walks those ~185,000 objects at each full collection (issue 20:
    the users page 7-9 % less CPU by mean in interleaved runs; a request's own garbage is collected as before)."""
    gc.freeze()


def child_exit(_server: Any, worker: Any) -> None:
    """Keep a dead worker's counts, drop its live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(_server: Any) -> None:
    """Remove the metrics directory this file made."""
    if _made_here:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
