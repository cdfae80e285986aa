"""Soak benchmark: the churn service under steady load for minutes, errors, latency per minute
and worker memory at start and end (issue #12: a leak or a slow degradation shows here, not
in the 10-second scenarios of ``benchmarks/serving.py``).

Serves the built bento (``bentoml serve churn_service:latest``, 2 workers by default), first
measures its capacity in the same run (``benchmarks/loadgen.py``, closed loop, in its own
process, ``/predict`` with one customer), then sends ``/predict`` at ``--load`` (default 70%)
of that rate for ``--minutes`` (default 10) from an open-loop client: ``--clients`` threads
with keep-alive connections, each sending on a fixed schedule (a late request goes out at
once and is counted as late, and its latency is measured from its scheduled time, so a stall
shows as latency instead of silently lowering the rate). Every ``--batch-every``-th request is
a 1,000-row ``/predict_batch`` instead (default 0: none). The customers' ids cycle through
``--customers`` distinct values. Predictions go to a temporary folder.

Prints one JSON object on one line, then a markdown table: per minute the requests, errors,
achieved rate, p50/p99 latency and late share; worker RSS at the start and the end.

Usage::

    uv run --frozen python benchmarks/soak.py --home /tmp/churn-dev            # 10 minutes
    uv run --frozen python benchmarks/soak.py --home /tmp/churn-dev --minutes 1
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.serving import _bento_model, _resolve_home
from benchmarks.serving_servers import Server, bentoml_binary, machine_info, running, serve_env

REPO = Path(__file__).resolve().parent.parent
LOADGEN = Path(__file__).resolve().parent / "loadgen.py"


def _rss_by_worker(server: Server) -> dict[str, float]:
    """Resident MB of each process of the server (the arbiter is ``pid`` ``server.proc``)."""
    out = {}
    for pid in server.pids():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kb = next((int(s.split()[1]) for s in status.splitlines() if s.startswith("VmRSS:")), 0)
        role = "arbiter" if server.proc and pid == server.proc.pid else "process"
        out[f"{role} {pid}"] = round(kb / 1024, 1)
    return out


def _capacity(server: Server, body_file: Path, concurrency: int, seconds: float) -> dict:
    cmd = [sys.executable, str(LOADGEN), "--url", f"http://127.0.0.1:{server.port}/predict"]
    cmd += ["--body", str(body_file), "--concurrency", str(concurrency)]
    cmd += ["--seconds", str(seconds), "--warmup", "300"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=seconds + 300)
    return json.loads(out.stdout)


class _Paced(threading.Thread):
    """One client on a fixed schedule: request i at ``start + offset + i * interval``."""

    def __init__(self, port: int, bodies: list[tuple[str, bytes]], interval: float, offset: float):
        super().__init__(daemon=True)
        self.port, self.bodies, self.interval, self.offset = port, bodies, interval, offset
        self.results: list[tuple[float, float, str | None, bool]] = []  # t, latency, error, late
        self.conn: http.client.HTTPConnection | None = None

    def _send(self, path: str, body: bytes) -> str | None:
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.conn.connect()
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = self.conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return type(exc).__name__
        return None if response.status == 200 else f"HTTP {response.status}"

    def run_until(self, start: float, stop: float) -> None:
        self.start_at, self.stop_at = start, stop
        self.start()

    def run(self) -> None:
        i = 0
        while True:
            due = self.start_at + self.offset + i * self.interval
            if due >= self.stop_at:
                break
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            late = time.perf_counter() - due > 0.05
            path, body = self.bodies[i % len(self.bodies)]
            error = self._send(path, body)
            self.results.append((due - self.start_at, time.perf_counter() - due, error, late))
            i += 1
        if self.conn is not None:
            self.conn.close()


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1], 2)


def _per_minute(clients: list[_Paced], minutes: int) -> list[dict[str, Any]]:
    rows = []
    for minute in range(minutes):
        window = [r for c in clients for r in c.results if minute * 60 <= r[0] < (minute + 1) * 60]
        latencies = sorted(r[1] * 1000 for r in window if r[2] is None)
        errors = Counter(r[2] for r in window if r[2] is not None)
        rows.append(
            {
                "minute": minute + 1,
                "requests": len(window),
                "errors": sum(errors.values()),
                "error_kinds": dict(errors),
                "req_per_s": round(len(window) / 60, 1),
                "p50_ms": _percentile(latencies, 50),
                "p99_ms": _percentile(latencies, 99),
                "late_share": round(sum(r[3] for r in window) / max(len(window), 1), 4),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="CHURN_HOME (default: $CHURN_HOME, else .churn)")
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--load", type=float, default=0.7, help="share of measured capacity")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16, help="open-loop client threads")
    parser.add_argument("--capacity-seconds", type=float, default=20.0)
    parser.add_argument("--capacity-concurrency", type=int, default=16)
    parser.add_argument("--customers", type=int, default=5000, help="distinct ids cycled")
    parser.add_argument("--batch-every", type=int, default=0, help="every Nth a 1,000-row batch")
    args = parser.parse_args(argv)

    home = _resolve_home(args.home)
    bento_version, model_tag, model_folder = _bento_model(home)
    bentoml_bin = bentoml_binary()
    machine = machine_info()
    example = json.loads((model_folder / "serving.json").read_text())["example"]
    work = Path(tempfile.mkdtemp(prefix="churn-bench-soak-"))
    body_file = work / "one.json"
    body_file.write_text(json.dumps(example))
    bodies = [
        ("/predict", json.dumps({**example, "customerID": f"{i:05d}-SOAK"}).encode())
        for i in range(args.customers)
    ]
    if args.batch_every:
        batch = json.dumps([{**example, "customerID": f"{i:04d}-SOAKB"} for i in range(1000)])
        bodies[:: args.batch_every] = [("/predict_batch", batch.encode())] * len(
            bodies[:: args.batch_every]
        )
    env = serve_env(home, work)
    server = Server(
        label=f"churn_service ({args.workers} workers)",
        target="churn_service:latest",
        workers=args.workers,
        env=env,
        cwd=work,
        log_path=work / "server.log",
    )
    with running(server, bentoml_bin, body_file.read_bytes(), ours=True):
        capacity = _capacity(server, body_file, args.capacity_concurrency, args.capacity_seconds)
        rate = capacity["req_per_s"] * args.load
        print(f"  capacity {capacity['req_per_s']} req/s; soaking at {rate:.0f}", file=sys.stderr)
        rss_start = _rss_by_worker(server)
        interval = args.clients / rate
        clients = [
            _Paced(
                server.port,
                bodies[k :: args.clients] or bodies,
                interval,
                k * interval / args.clients,
            )
            for k in range(args.clients)
        ]
        start = time.perf_counter() + 0.5
        for client in clients:
            client.run_until(start, start + args.minutes * 60)
        for client in clients:
            client.join()
        rss_end = _rss_by_worker(server)
        logged = sum(p.stat().st_size for p in (work / "predictions").glob("*"))
    minutes = _per_minute(clients, args.minutes)
    total = sum(m["requests"] for m in minutes)
    report = {
        "bento": bento_version,
        "model": model_tag,
        "machine": machine,
        "workers": args.workers,
        "capacity": {k: capacity[k] for k in ("req_per_s", "p50_ms", "p99_ms", "errors")},
        "load": args.load,
        "target_req_per_s": round(rate, 1),
        "minutes": minutes,
        "requests": total,
        "errors": sum(m["errors"] for m in minutes),
        "p99_ms_worst_minute": max((m["p99_ms"] or 0) for m in minutes),
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        "rss_mb_growth": round(sum(rss_end.values()) - sum(rss_start.values()), 1),
        "prediction_log_mb": round(logged / 1e6, 1),
    }
    print(json.dumps(report))
    print(f"\ncapacity {capacity['req_per_s']} req/s (closed loop, c={args.capacity_concurrency})")
    soak = f"{rate:.0f} req/s for {args.minutes} min, {args.workers} workers"
    print(f"soak at {args.load:.0%}: {soak}\n")
    print("| minute | requests | errors | req/s | p50 ms | p99 ms | late |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for m in minutes:
        print(
            f"| {m['minute']} | {m['requests']:,} | {m['errors']} | {m['req_per_s']} | "
            f"{m['p50_ms']} | {m['p99_ms']} | {m['late_share']:.1%} |"
        )
    print("\n| process | RSS start MB | RSS end MB |")
    print("|---|---:|---:|")
    for name in rss_start:
        print(f"| {name} | {rss_start[name]} | {rss_end.get(name, 'gone')} |")
    return report


if __name__ == "__main__":
    main()
