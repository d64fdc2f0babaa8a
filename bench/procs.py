"""Processes the benchmark runs: gunicorn servers, their workers' memory, and who used the CPU."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children_of(pid: int) -> list[int]:
    """Direct children of a process (scanning /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def status_kb(pid: int, key: str) -> int:
    """A "VmRSS"/"VmHWM" line of /proc/<pid>/status, in kB (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def busy_ticks() -> int:
    """CPU ticks spent by the whole machine outside idle and iowait."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


@dataclass
class Server:
    """A gunicorn with 2 sync workers (by default) on 127.0.0.1, started from a given virtualenv."""

    name: str
    gunicorn: Path
    app: str
    cwd: Path
    env: dict[str, str]
    log: Path
    workers: int = 2
    timeout: int = 30
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 180.0) -> Server:  # a shared, busy machine can take a minute to import an app
        self.log.parent.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.gunicorn),
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--timeout",
            str(self.timeout),
            self.app,
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.cwd, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/__ready__")
                connection.getresponse().read()
                connection.close()
                if len(self.worker_pids()) >= self.workers:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {wait:.0f} s; see {self.log}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def worker_pids(self) -> list[int]:
        return children_of(self.pid) if self.process else []

    def all_pids(self) -> list[int]:
        return [self.pid, *self.worker_pids()] if self.process else []

    def rss_kb(self) -> list[int]:
        """VmRSS of each worker."""
        return [status_kb(pid, "VmRSS") for pid in self.worker_pids()]

    def hwm_kb(self) -> list[int]:
        """VmHWM (peak RSS) of each worker."""
        return [status_kb(pid, "VmHWM") for pid in self.worker_pids()]

    def stop(self, quick: bool = False) -> None:
        """SIGTERM (workers finish their request), or SIGINT (quick: requests in flight are dropped)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT if quick else signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def busy(self, window: float = 0.5, also: Callable[[], list[int]] | None = None) -> float:
        """Cores the workers (and `also`: the database server) use over a short window."""
        pids = self.worker_pids() + (also() if also else [])
        before = sum(cpu_ticks(pid) for pid in pids)
        time.sleep(window)
        return (sum(cpu_ticks(pid) for pid in pids) - before) / CLOCK_TICKS / window

    def settle(self, wait: float = 10.0, also: Callable[[], list[int]] | None = None) -> bool:
        """Wait for the workers to go idle; False when they are still busy after `wait` seconds (a
        backlog of slow requests that wrk gave up on, which the workers would serve for minutes).
        A worker waiting on PostgreSQL uses no CPU itself: pass the database's processes as `also`."""
        deadline = time.monotonic() + wait
        while self.busy(also=also) > 0.1:
            if time.monotonic() > deadline:
                return False
        return True

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
