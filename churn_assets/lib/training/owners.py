"""Which process owns a running trial or MLflow run, and whether that process is gone.

A tuning process can die without a word (SIGKILL, OOM, a node lost). What it left running,
an Optuna trial or an MLflow run, records its owner: the host, the pid, and the process's
start time (``/proc/<pid>/stat``, in clock ticks since boot). The start time matters because
pids are reused: a container restarted in the same pod gets the same hostname and, as the
first process of its namespace, often the same pid, which alone would make a dead owner look
alive forever.

Only the owner's own host can tell that a process is gone; on any other host the answer is
"unknown" (``None``) and callers fall back on heartbeats or an age limit.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Owner:
    """A process: host, pid and start time (empty where ``/proc`` is missing, e.g. macOS)."""

    host: str
    pid: int
    started: str = ""

    @classmethod
    def this_process(cls) -> Owner:
        """The calling process."""
        pid = os.getpid()
        return cls(socket.gethostname(), pid, process_start(pid) or "")

    @property
    def label(self) -> str:
        """``host:pid``, as workers label their trials."""
        return f"{self.host}:{self.pid}"

    def is_gone(self) -> bool | None:
        """True when the process no longer exists, False when it runs, None when this host
        cannot tell (the owner ran on another host)."""
        if self.host != socket.gethostname():
            return None
        if not process_alive(self.pid):
            return True
        # A live process with this pid but another start time is a newcomer reusing it.
        return bool(self.started) and process_start(self.pid) not in (None, self.started)


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, as text; None if unknown."""
    with contextlib.suppress(OSError, IndexError):
        # Field 22 of /proc/<pid>/stat; the command name (field 2) may contain spaces, so
        # count from the closing parenthesis.
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    return None


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    # A zombie (exited, not yet reaped by its parent) is gone for our purposes.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    return True
