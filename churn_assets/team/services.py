"""Long-running processes of the team stack: started detached, found again by pid file, stopped.

Each service runs in its own session (process group), writes its output to ``<logs>/<name>.log``
and its pid to ``<run>/<name>.pid``, so ``team up`` can return while they keep running and a
later ``team down`` (another process) stops exactly what was started. A service counts as up
when its pid is alive and its health check answers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """A service did not come up (the message names its log)."""


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether ``url`` answers 2xx (health endpoints)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def say(line: str = "") -> None:
    """One line for the person at the terminal (progress goes to the log instead)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def console_script(name: str) -> str:
    """A console script of this environment (the stack runs the locked versions)."""
    return str(Path(sys.executable).with_name(name))


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    import socket

    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (tests run stacks side by side)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stat(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name: state, ppid, pgrp, ... (None if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot): a pid and this identify one process,
    even after the pid is reused (by another process, or after a reboot)."""
    fields = _stat(pid)
    return fields[19] if fields else None


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` runs and is not a zombie (and, given ``started``, is that process)."""
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return False
    return started is None or fields[19] == started


def _group_alive(pgid: int) -> bool:
    """Whether any live process is left in process group ``pgid`` (a server's workers)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and fields[2] == str(pgid) and fields[0] != "Z":
                return True
    return False


@dataclass
class Service:
    """One detached process of the stack."""

    name: str
    command: Sequence[str]
    env: dict[str, str]
    run_dir: Path
    log_dir: Path
    healthy: Callable[[], bool]
    cwd: Path | None = None
    start_timeout: float = 180.0
    port: int | None = None  # must be free before the start, so we never adopt a stranger
    _process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the running service, or None (a stale pid file is removed: its process
        is gone, or the pid now belongs to another process)."""
        try:
            pid_text, started = self.pid_file.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        if _alive(pid, started):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> bool:
        """Start unless running, then wait until healthy; whether it was started now.

        Raises:
            ServiceError: when the process exits or stays unhealthy past ``start_timeout``.
        """
        if self.running():
            self.wait_healthy()
            return False
        if self.port is not None and listening(self.port):
            raise ServiceError(
                f"{self.name}: port {self.port} is in use by another process; stop it, or "
                f"choose another port (CHURN_TEAM_{self.name.upper()}_PORT)"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            self._process = subprocess.Popen(
                list(self.command),
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopped as one
            )
        self.pid_file.write_text(f"{self._process.pid} {_start_time(self._process.pid)}")
        log.info("%s started (pid %s), log %s", self.name, self._process.pid, self.log_file)
        self.wait_healthy()
        return True

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            # Our process first: a health answer from a stranger on the port is no answer.
            self._reap()
            if not self.running():
                raise ServiceError(f"{self.name} exited while starting; see {self.log_file}")
            if self.healthy():
                return
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{self.name} not healthy after {self.start_timeout:.0f} s; see {self.log_file}"
                )
            time.sleep(0.5)

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM the process group, SIGKILL what is left of it after ``timeout``; whether it
        was running. The whole group: servers start workers (code servers, run workers,
        steps) in their own group, which must not outlive them."""
        return self._signal_group(signal.SIGTERM, timeout, 0.2, "stopped")

    def kill(self, timeout: float = 30.0) -> bool:
        """SIGKILL the process group at once, as a crash or a lost machine would; whether it
        was running (the fault-injection tests take stores away with it)."""
        return self._signal_group(signal.SIGKILL, timeout, 0.1, "killed")

    def _signal_group(self, sig: int, timeout: float, poll: float, done: str) -> bool:
        """Send ``sig`` to the group, wait up to ``timeout`` for it to go (SIGKILL what is
        left after a gentler signal), forget the pid file."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + timeout
        while _group_alive(pid) and time.monotonic() < deadline:
            self._reap()
            time.sleep(poll)
        if sig != signal.SIGKILL and _group_alive(pid):
            log.warning("%s did not stop in %.0f s: killing its processes", self.name, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self._reap()
        self.pid_file.unlink(missing_ok=True)
        log.info("%s %s", self.name, done)
        return True

    def _reap(self) -> None:
        if self._process is not None:
            self._process.poll()
