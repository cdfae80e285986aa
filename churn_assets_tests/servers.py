"""Real servers for the tests (moto S3, `mlflow server`, `bentoml serve`, the Dagster
webserver): a free loopback port, a process in its own group, a wait until it answers, and a
teardown that leaves nothing running."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import requests


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Terminate the process's whole group (a server and the workers it started)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    # Whatever survived SIGTERM in the group (grandchildren outlive a dead leader).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def wait_healthy(
    process: subprocess.Popen, url: str, log_path: Path, timeout_s: float, what: str
) -> None:
    """Poll ``url`` until it answers 200; fail with the log's tail if the process dies or
    the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or busy starting
            pass
        time.sleep(0.2)
    pytest.fail(f"{what} not ready after {timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")


@contextlib.contextmanager
def server_process(
    command: list[str],
    *,
    health_url: str,
    log_path: Path,
    what: str,
    timeout_s: float = 60,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """Start ``command`` in its own process group, wait until ``health_url`` answers 200,
    yield the process, and stop the whole group afterwards."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        wait_healthy(process, health_url, log_path, timeout_s, what)
        yield process
    finally:
        stop(process)
