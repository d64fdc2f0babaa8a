"""A frozen copy of the code under test, so that edits made to the working tree while a run is
going (a long run on a shared tree) do not change the code halfway; and fingerprints of the code
and of a database's schema, recorded with the figures."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent  # the tree this copy of bench/ lives in
HOME = Path(os.environ.get("BENCH_HOME") or SOURCE / "bench")  # where .data, results, venvs live
COPIED = ["portal", "templates", "static", "migrations", "bench", "app.py", "alembic.ini", "pyproject.toml"]
SKIPPED = {".venv-fab", ".venv-django", ".venv-tools", ".data", "results", "profiles", "__pycache__"}
FINGERPRINTED = ["portal", "templates", "migrations", "app.py"]


def code_fingerprint(root: Path = SOURCE) -> str:
    """A digest of the application's code, templates and migrations."""
    digest = hashlib.sha256()
    for name in FINGERPRINTED:
        path = root / name
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            if path.is_dir()
            else [path]
        )
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def git_state(root: Path = SOURCE) -> dict[str, str]:
    """The commit and how many files differ from it (read-only git commands)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20).stdout.strip()
        except OSError:
            return ""

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "changed_files": str(len(git("status", "--porcelain").splitlines())),
    }


def take(argv: list[str]) -> None:
    """Copy the tree into bench/.data/snapshots/<time>/ and run this same command from there."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = HOME / ".data" / "snapshots" / stamp
    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns(*SKIPPED)
    for name in COPIED:
        source = SOURCE / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, target / name)
    env = {
        **os.environ,
        "BENCH_HOME": str(HOME),
        "BENCH_SNAPSHOT": str(target),
        "BENCH_SOURCE_GIT": " ".join(f"{k}={v}" for k, v in git_state().items()),
    }
    print(f"running from a snapshot of the tree: {target}", flush=True)
    os.chdir(target)
    os.execve(sys.executable, [sys.executable, "-m", "bench", *argv], env)


def in_snapshot() -> bool:
    return bool(os.environ.get("BENCH_SNAPSHOT"))
