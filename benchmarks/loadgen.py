"""Closed-loop HTTP load generator for ``benchmarks/serving.py`` (its own process).

``--concurrency`` threads, each with one keep-alive ``http.client.HTTPConnection``, POST the
same pre-encoded JSON body back to back: first ``--warmup`` requests in all (not measured),
then for ``--seconds``. Latency is measured per request from sending it to having read the
whole response. Not ``requests``: its ~1 ms per call would raise the floor being measured.

Prints one JSON object: requests, errors (non-200 or failed connections, by kind), req/s,
rows/s (with ``--rows``), latency percentiles in ms, the client's own CPU per request and,
with ``--pids``, the CPU the server processes used per request over the measured window.

Usage::

    python benchmarks/loadgen.py --url http://127.0.0.1:3000/predict --body body.json \\
        --concurrency 16 --seconds 10
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import resource
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU of each of these processes so far (an exited one counts as 0)."""
    out = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            out[pid] = 0.0
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[pid] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
    return out


def _busy_cpu_seconds() -> float:
    """CPU time all processes on the machine have used so far (from /proc/stat)."""
    try:
        values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    busy = sum(values[:8]) - values[3] - values[4]  # all but idle and iowait
    return busy / _CLOCK_TICKS


def _self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _percentile(ordered: list[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in ms."""
    if not ordered:
        return float("nan")
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1
    return ordered[rank] / 1e6


class _Client(threading.Thread):
    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        body: bytes,
        warmup: int,
        start: threading.Barrier,
        stop_at: list[float],
    ):
        super().__init__(daemon=True)
        self.host, self.port, self.path, self.body = host, port, path, body
        self.headers = {"Content-Type": "application/json"}
        self.warmup = warmup
        self.start_barrier = start
        self.stop_at = stop_at  # set by the main thread once everyone has warmed up
        self.latencies: list[int] = []
        self.errors: Counter[str] = Counter()
        self.warmup_errors: Counter[str] = Counter()
        self.sample = b""
        self.last_done = 0.0
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _one(self) -> str | None:
        """One request; the error kind, or None on 200."""
        try:
            if self.conn is None:
                self.conn = self._connect()
            self.conn.request("POST", self.path, self.body, self.headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return type(exc).__name__
        if not self.sample:
            self.sample = data[:400]
        return None if response.status == 200 else f"HTTP {response.status}"

    def run(self) -> None:
        for _ in range(self.warmup):
            error = self._one()
            if error:
                self.warmup_errors[error] += 1
        self.start_barrier.wait()
        self.start_barrier.wait()  # the main thread has set stop_at between the two waits
        stop_at = self.stop_at[0]
        clock = time.perf_counter_ns
        latencies, errors = self.latencies, self.errors
        while True:
            t0 = clock()
            if t0 / 1e9 >= stop_at:
                break
            error = self._one()
            if error:
                errors[error] += 1
            else:
                latencies.append(clock() - t0)
        self.last_done = time.perf_counter()
        if self.conn is not None:
            self.conn.close()


def run(
    url: str,
    body: bytes,
    concurrency: int,
    seconds: float,
    warmup: int,
    rows: int = 1,
    pids: list[int] | None = None,
) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    barrier = threading.Barrier(concurrency + 1)
    stop_at: list[float] = [0.0]
    per_client = -(-warmup // concurrency)
    clients = [
        _Client(host, port, path, body, per_client, barrier, stop_at) for _ in range(concurrency)
    ]
    for client in clients:
        client.start()
    barrier.wait()  # every client has warmed up
    server_cpu0 = _cpu_seconds(pids or [])
    client_cpu0 = _self_cpu_seconds()
    busy0 = _busy_cpu_seconds()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    barrier.wait()
    for client in clients:
        client.join()
    elapsed = max(c.last_done for c in clients) - started
    client_cpu = _self_cpu_seconds() - client_cpu0
    busy = _busy_cpu_seconds() - busy0
    server_cpu1 = _cpu_seconds(pids or [])
    by_pid = {pid: server_cpu1[pid] - server_cpu0[pid] for pid in server_cpu1}
    server_cpu = sum(by_pid.values())

    latencies = sorted(x for c in clients for x in c.latencies)
    errors: Counter[str] = Counter()
    warmup_errors: Counter[str] = Counter()
    for client in clients:
        errors.update(client.errors)
        warmup_errors.update(client.warmup_errors)
    ok = len(latencies)
    total = ok + sum(errors.values())
    sample = next((c.sample for c in clients if c.sample), b"")
    report = {
        "url": url,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "requests": total,
        "ok": ok,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "warmup_requests": per_client * concurrency,
        "warmup_errors": sum(warmup_errors.values()),
        "req_per_s": round(ok / elapsed, 1),
        "rows_per_request": rows,
        "rows_per_s": round(ok * rows / elapsed),
        "p50_ms": round(_percentile(latencies, 50), 3),
        "p90_ms": round(_percentile(latencies, 90), 3),
        "p99_ms": round(_percentile(latencies, 99), 3),
        "p99_9_ms": round(_percentile(latencies, 99.9), 3),
        "max_ms": round(latencies[-1] / 1e6, 3) if latencies else None,
        "mean_ms": round(sum(latencies) / ok / 1e6, 3) if ok else None,
        "client_cpu_ms_per_req": round(client_cpu * 1000 / max(total, 1), 3),
        "client_cpu_cores": round(client_cpu / elapsed, 2),
        "machine_busy_cores": round(busy / elapsed, 2),
        "sample_response": sample.decode("utf-8", "replace"),
    }
    if pids:
        report["server_cpu_ms_per_req"] = round(server_cpu * 1000 / max(total, 1), 3)
        report["server_cpu_cores"] = round(server_cpu / elapsed, 2)
        # Whatever else ran meanwhile (kernel networking included): ~0 on a quiet machine.
        report["other_cpu_cores"] = round((busy - server_cpu - client_cpu) / elapsed, 2)
        # Per process (arbiter and each worker): shows how requests spread over workers.
        report["server_cpu_cores_by_pid"] = {
            str(pid): round(cpu / elapsed, 2) for pid, cpu in by_pid.items() if cpu > 0
        }
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:3000/predict")
    parser.add_argument("--body", type=Path, required=True, help="a file holding the JSON body")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=int, default=200, help="requests before measuring")
    parser.add_argument("--rows", type=int, default=1, help="rows per request (for rows/s)")
    parser.add_argument("--pids", default="", help="server pids (comma-separated) for CPU use")
    args = parser.parse_args(argv)
    pids = [int(p) for p in args.pids.split(",") if p]
    report = run(
        args.url,
        args.body.read_bytes(),
        args.concurrency,
        args.seconds,
        args.warmup,
        rows=args.rows,
        pids=pids,
    )
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
