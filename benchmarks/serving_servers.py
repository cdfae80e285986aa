"""The servers ``benchmarks/serving.py`` measures and the machine they run on: one ``bentoml
serve`` process group per scenario (started on a free port, awaited until its first
prediction, its CPU and memory read from ``/proc``, stopped as a group), and what else the
machine was doing."""

from __future__ import annotations

import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def bentoml_binary() -> Path:
    """The checkout's ``bentoml`` (else the one on ``PATH``)."""
    import shutil

    local = REPO / ".venv" / "bin" / "bentoml"
    if local.exists():
        return local
    return Path(shutil.which("bentoml") or sys.exit("bentoml is not installed"))


def serve_env(home: Path, work: Path, **extra: str) -> dict[str, str]:
    """The environment of a benchmark's ``bentoml serve``: the home's stores, predictions
    logged under ``work``, no access log, no usage tracking, one OpenMP thread."""
    return {
        **os.environ,
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
        "CHURN_HOME": str(home),
        "CHURN_PREDICTION_LOG_DIR": str(work / "predictions"),
        "CHURN_ACCESS_LOG": "0",
        "OMP_NUM_THREADS": "1",
        **extra,
    }


def machine_info() -> dict[str, Any]:
    """The machine, the versions and how busy it was before the start."""
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "bentoml": importlib.metadata.version("bentoml"),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_busy_before_start": cpu_busy(),
    }


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over ``seconds`` (other load skews every number here)."""

    def sample() -> tuple[int, int]:
        values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values), idle

    with contextlib.suppress(OSError, ValueError, IndexError):
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
        return round(1 - (idle1 - idle0) / max(total1 - total0, 1), 3)
    return float("nan")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class Server:
    """One ``bentoml serve`` process group: started, awaited, stopped."""

    label: str
    target: str
    workers: int
    env: dict[str, str]
    cwd: Path
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    startup: dict[str, Any] = field(default_factory=dict)

    def start(self, bentoml_bin: Path) -> None:
        self.port = _free_port()
        cmd = [str(bentoml_bin), "serve", self.target, "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), *self.extra_args]
        env = {**self.env, "CHURN_SERVICE_WORKERS": str(self.workers)}
        log = open(self.log_path, "wb")  # noqa: SIM115 (the child keeps it)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped as one
        )
        log.close()

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.label} exited with {self.proc.returncode}:\n{tail}")

    def wait_first_prediction(self, body: bytes, timeout: float = 180.0) -> None:
        """Poll ``/readyz``, then ``/predict`` until it answers 200; record both times."""
        deadline = self.started + timeout
        ready_s = None
        while time.perf_counter() < deadline:
            self._check_alive()
            try:
                if ready_s is None:
                    status, _ = _http(self.port, "GET", "/readyz")
                    if status == 200:
                        ready_s = time.perf_counter() - self.started
                if ready_s is not None:
                    status, data = _http(self.port, "POST", "/predict", body)
                    if status == 200:
                        self.startup = {
                            "readyz_s": round(ready_s, 2),
                            "first_prediction_s": round(time.perf_counter() - self.started, 2),
                            "first_response": json.loads(data),
                        }
                        return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.label}: no successful /predict within {timeout:.0f} s")

    def wait_explainer(self, timeout: float = 120.0) -> None:
        """Our service loads SHAP in a background thread: measure after it has finished."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
                status, data = _http(self.port, "POST", "/model_info", b"{}")
                if status == 200 and json.loads(data).get("explainer_ready"):
                    self.startup["explainer_ready_s"] = round(time.perf_counter() - self.started, 2)
                    return
            time.sleep(0.2)
        self.startup["explainer_ready_s"] = None  # measured anyway, noted in the JSON

    def pids(self) -> list[int]:
        """The server's process tree (arbiter, workers and any helpers)."""
        assert self.proc is not None
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        tree, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    def rss_mb(self) -> float:
        """Resident memory of the server's processes, MB."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError, ValueError, IndexError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return round(total / 1024, 1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Workers may outlive the arbiter by a moment; the group goes with SIGKILL.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def running(server: Server, bentoml_bin: Path, body: bytes, ours: bool) -> Iterator[Server]:
    """``server`` started and answering (ours also with its explainer loaded), then stopped."""
    server.start(bentoml_bin)
    try:
        server.wait_first_prediction(body)
        if ours:
            server.wait_explainer()
        print(
            f"  {server.label}: first prediction after {server.startup['first_prediction_s']} s",
            file=sys.stderr,
            flush=True,
        )
        yield server
    finally:
        server.stop()
