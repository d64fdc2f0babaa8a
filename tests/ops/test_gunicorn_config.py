"""gunicorn.conf.py's hooks, run as gunicorn runs them (in a process of their own: gc.freeze() is process-wide)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FREEZE_AT_WORKER_START = """
import gc, runpy
settings = runpy.run_path("gunicorn.conf.py")
import app  # what a worker loads before post_worker_init
before = gc.get_freeze_count()
settings["post_worker_init"](None)
print(before, gc.get_freeze_count())
"""


def test_a_worker_freezes_what_the_app_made_at_start(tmp_path: Path) -> None:
    """Issue 20: the app's long-lived objects are kept out of the cyclic collector's full collections."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "SECRET_KEY": "x" * 32}
    out = subprocess.run(
        [sys.executable, "-c", FREEZE_AT_WORKER_START], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    before, after = int(out[-2]), int(out[-1])
    assert before == 0
    assert after > 50_000  # the modules and the app: ~185,000 objects
