"""A throwaway PostgreSQL cluster for the benchmark (the recipe .ci/run uses), on a port of its own."""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
from pathlib import Path

DEFAULT_PORT = 55440


def pg_bin() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in p.split("/")[4].split(".")]
    )
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed: apt-get install -y postgresql")
    return Path(candidates[-1])


def _as_postgres(*args: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, stdout=subprocess.DEVNULL)


class Cluster:
    """initdb + pg_ctl start on 127.0.0.1:port with its own data directory; stop() removes it."""

    def __init__(self, port: int = DEFAULT_PORT) -> None:
        self.port = port
        self.bin = pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pg."))
        self.started = False

    def start(self) -> Cluster:
        (self.dir / "sock").mkdir()
        shutil.chown(self.dir, "postgres", "postgres")
        shutil.chown(self.dir / "sock", "postgres", "postgres")
        _as_postgres(
            str(self.bin / "initdb"),
            "-D",
            str(self.dir / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        options = f"-k {self.dir / 'sock'} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off"
        _as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.dir / "data"),
            "-l",
            str(self.dir / "log"),
            "-w",
            "-o",
            options,
            "start",
        )
        self.started = True
        return self

    def create_database(self, name: str) -> str:
        """A fresh, empty database (dropped first if it exists); returns its SQLAlchemy URL."""
        for command in (["dropdb", "--if-exists"], ["createdb"]):
            _as_postgres(
                str(self.bin / command[0]),
                *command[1:],
                "-h",
                str(self.dir / "sock"),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                name,
            )
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer, ...): part of the system measured."""
        from bench.procs import children_of

        try:
            postmaster = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return [postmaster, *children_of(postmaster)]

    def stop(self) -> None:
        if self.started:
            _as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
