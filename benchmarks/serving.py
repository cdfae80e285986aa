"""Benchmark: the BentoML churn service's latency, throughput and start-up, against baselines.

Serves the built bento (``bentoml serve churn_service:latest``, with ``BENTOML_HOME`` at
``<home>/bentoml``) and two baselines from ``benchmarks/serving_baselines.py``, one server
at a time, and drives each with ``benchmarks/loadgen.py`` in a separate process (keep-alive
``http.client`` connections, one thread per concurrent client). Scenarios:

- (a)   empty endpoint (framework floor: the same pydantic request model as ours, a constant
        response of the same model), 1 worker, concurrency 1; (a_dict) the same with an
        untyped ``dict[str, Any]`` body and response, for reference;
- (b)   our ``/predict``, 1 worker, concurrency 1;
- (c)   naive service (one-row DataFrame into ``predict_proba``), 1 worker, concurrency 1;
- (b16) our ``/predict``, 2 workers, concurrency 16; (a16) the empty one likewise;
- batch: our ``/predict_batch`` with 1,000-row bodies, concurrency 1 and 2 (1 worker), and
  concurrency 2 with 2 workers;
- start-up: process start to the first successful ``/predict`` (and to ``/readyz``).

Each scenario warms up (``--warmup`` requests) and then measures for ``--seconds``. The
request body is the model's ``serving.json`` example (one real customer); batch bodies
repeat it with distinct ``customerID`` values. Our service is measured only once its
background SHAP explainer has loaded (steady state). Predictions are logged to a temporary
directory, not the home. Prints one JSON object on one line, then markdown tables: results,
start-up, and the issue's targets with pass/fail.

Each scenario also reports the CPU the server's processes used per request (per process in
the JSON: keep-alive connections stay with the worker that accepted them, so two clients can
land on one of two workers) and what else the machine ran meanwhile ("other cores"): a
scenario where other processes took more than 0.3 core is flagged as contended. The machine
should be otherwise idle; on 2 cores the load generator shares them with the server.

Usage::

    uv run --frozen python benchmarks/serving.py --home /tmp/churn-dev
    uv run --frozen python benchmarks/serving.py --quick   # ~2 s per scenario
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
BASELINES = "benchmarks.serving_baselines"

# Targets from the issue.
TARGET_P50_MS = 4.0
TARGET_P99_MS = 8.0
TARGET_P50_VS_EMPTY = 1.3
TARGET_RPS_16 = 400.0
TARGET_BATCH_ROWS_S = 20_000.0
TARGET_FIRST_PREDICTION_S = 10.0
# A scenario during which other processes used more CPU than this is flagged as contended.
CONTENDED_CORES = 0.3


# --------------------------------------------------------------------------- environment
def _resolve_home(arg: str | None) -> Path:
    home = Path(arg or os.environ.get("CHURN_HOME") or REPO / ".churn").expanduser().resolve()
    bento_dir = home / "bentoml" / "bentos" / "churn_service"
    if not (bento_dir / "latest").is_file():
        raise SystemExit(
            f"no `churn_service` bento under {home / 'bentoml'}: run `make demo` first "
            "(or pass --home / set CHURN_HOME to a home that has one)"
        )
    return home


def _bento_model(home: Path) -> tuple[str, str, Path]:
    """The bento's version, the model tag it packages and that model's folder."""
    import yaml

    bentos = home / "bentoml" / "bentos" / "churn_service"
    version = (bentos / "latest").read_text().strip()
    info = yaml.safe_load((bentos / version / "bento.yaml").read_text())
    tags = [m["tag"] for s in info.get("services", []) for m in s.get("models", [])]
    tag = tags[0] if tags else "churn_model:latest"
    name, _, model_version = tag.partition(":")
    models = home / "bentoml" / "models" / name
    if model_version in ("", "latest"):
        model_version = (models / "latest").read_text().strip()
    folder = models / model_version
    if not (folder / "serving.json").is_file():
        raise SystemExit(f"the bento's model {tag} is not in the store at {models}")
    return version, f"{name}:{model_version}", folder


def _machine() -> dict[str, Any]:
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
        "cpu_busy_before_start": _cpu_busy(),
    }


def _cpu_busy(seconds: float = 1.0) -> float:
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


# --------------------------------------------------------------------------- servers
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
def serving(server: Server, bentoml_bin: Path, body: bytes, ours: bool) -> Iterator[Server]:
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


def _load(
    server: Server,
    path: str,
    body_file: Path,
    concurrency: int,
    seconds: float,
    warmup: int,
    rows: int = 1,
) -> dict[str, Any]:
    cmd = [sys.executable, str(LOADGEN), "--url", f"http://127.0.0.1:{server.port}{path}"]
    cmd += ["--body", str(body_file), "--concurrency", str(concurrency)]
    cmd += ["--seconds", str(seconds), "--warmup", str(warmup), "--rows", str(rows)]
    cmd += ["--pids", ",".join(map(str, server.pids()))]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=seconds + 600)
    return {**json.loads(out.stdout), "server_rss_mb_after": server.rss_mb()}


# --------------------------------------------------------------------------- report
def _targets(results: dict[str, dict[str, Any]], startup: dict[str, Any]) -> list[dict]:
    a, b, b16 = results["a"], results["b"], results["b16"]
    batch = results["batch_c1"]
    ratio = b["p50_ms"] / a["p50_ms"]
    first = startup["ours_1w"]["first_prediction_s"]
    return [
        {
            "target": f"(b) p50 <= {TARGET_P50_MS:g} ms",
            "measured": f"{b['p50_ms']:.2f} ms",
            "pass": b["p50_ms"] <= TARGET_P50_MS,
        },
        {
            "target": f"(b) p99 <= {TARGET_P99_MS:g} ms",
            "measured": f"{b['p99_ms']:.2f} ms",
            "pass": b["p99_ms"] <= TARGET_P99_MS,
        },
        {
            "target": f"(b) p50 <= {TARGET_P50_VS_EMPTY}x (a) p50",
            "measured": f"{ratio:.2f}x ({b['p50_ms']:.2f} / {a['p50_ms']:.2f} ms)",
            "pass": ratio <= TARGET_P50_VS_EMPTY,
        },
        {
            "target": f"(b16) >= {TARGET_RPS_16:g} req/s, 0 errors",
            "measured": f"{b16['req_per_s']:.0f} req/s, {b16['errors']} errors",
            "pass": b16["req_per_s"] >= TARGET_RPS_16 and b16["errors"] == 0,
        },
        {
            "target": f"batch >= {TARGET_BATCH_ROWS_S:,.0f} rows/s (1,000-row requests)",
            "measured": f"{batch['rows_per_s']:,} rows/s (1 worker, concurrency 1)",
            "pass": batch["rows_per_s"] >= TARGET_BATCH_ROWS_S and batch["errors"] == 0,
        },
        {
            "target": f"first prediction <= {TARGET_FIRST_PREDICTION_S:g} s after start",
            "measured": f"{first:.2f} s",
            "pass": first <= TARGET_FIRST_PREDICTION_S,
        },
    ]


def _print_tables(report: dict[str, Any]) -> None:
    print("| scenario | service | workers | conc. | req/s | rows/s | p50 ms | p90 ms | p99 ms "
          "| errors | server CPU ms/req | server cores | other cores |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, r in report["scenarios"].items():
        print(
            f"| {key} | {r['service']} | {r['workers']} | {r['concurrency']} "
            f"| {r['req_per_s']:,.0f} | {r['rows_per_s']:,} | {r['p50_ms']:.2f} "
            f"| {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} "
            f"| {r.get('server_cpu_ms_per_req', float('nan')):.2f} "
            f"| {r.get('server_cpu_cores', float('nan')):.2f} "
            f"| {r.get('other_cpu_cores', float('nan')):.2f} |"
        )
    print(
        "\nserver CPU: user+system CPU of the server's processes per request and in cores; "
        "other cores: everything else the machine ran meanwhile (~0.1 on a quiet machine: "
        "kernel networking), besides the load generator.\n"
    )
    print("| start-up | /readyz s | first prediction s |\n|---|---|---|")
    for key, s in report["startup"].items():
        print(f"| {key} | {s['readyz_s']} | {s['first_prediction_s']} |")
    print()
    print("| target | measured | pass |\n|---|---|---|")
    for t in report["targets"]:
        print(f"| {t['target']} | {t['measured']} | {'pass' if t['pass'] else '**FAIL**'} |")
    if report["contended"]:
        print(
            f"\nwarning: other processes used > {CONTENDED_CORES} core during "
            f"{', '.join(report['contended'])}: rerun on a quiet machine for those numbers."
        )


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="CHURN_HOME (default: $CHURN_HOME, else .churn)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per scenario")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests (single)")
    parser.add_argument("--batch-warmup", type=int, default=20, help="warm-up requests (batch)")
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="2 s per scenario, short warm-up")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup, args.batch_warmup = 2.0, 50, 5

    home = _resolve_home(args.home)
    bento_version, model_tag, model_folder = _bento_model(home)
    bentoml_bin = REPO / ".venv" / "bin" / "bentoml"
    if not bentoml_bin.exists():
        bentoml_bin = Path(shutil.which("bentoml") or sys.exit("bentoml is not installed"))
    machine = _machine()
    if machine["cpu_busy_before_start"] > 0.1:
        print(
            f"warning: the CPUs were {machine['cpu_busy_before_start']:.0%} busy before the "
            "start; other load skews the results",
            file=sys.stderr,
        )

    example = json.loads((model_folder / "serving.json").read_text())["example"]
    work = Path(tempfile.mkdtemp(prefix="churn-bench-serving-"))
    single_file = work / "one.json"
    single_file.write_text(json.dumps(example))
    batch_file = work / "batch.json"
    batch_file.write_text(
        json.dumps([{**example, "customerID": f"{i:04d}-BENCH"} for i in range(args.batch_rows)])
    )
    single = single_file.read_bytes()

    env = {
        **os.environ,
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
        "CHURN_HOME": str(home),
        "CHURN_BENTO_MODEL": model_tag,  # the baselines load the bento's own model
        "CHURN_PREDICTION_LOG_DIR": str(work / "predictions"),
        "CHURN_ACCESS_LOG": "0",
        "OMP_NUM_THREADS": "1",
    }

    def server(label: str, workers: int) -> Server:
        baseline = {
            "empty": "EmptyService",
            "empty_dict": "EmptyDictService",
            "naive": "NaiveService",
        }.get(label)
        return Server(
            label=f"{label} ({workers} worker{'s' if workers > 1 else ''})",
            target=f"{BASELINES}:{baseline}" if baseline else "churn_service:latest",
            workers=workers,
            env=env,
            cwd=REPO if baseline else work,
            log_path=work / f"server-{label}-{workers}.log",
            extra_args=["--working-dir", str(REPO)] if baseline else [],
        )

    results: dict[str, dict[str, Any]] = {}
    startup: dict[str, dict[str, Any]] = {}
    seconds, warmup = args.seconds, args.warmup

    def record(key: str, service: str, workers: int, result: dict[str, Any]) -> None:
        results[key] = {"service": service, "workers": workers, **result}
        print(
            f"  {key}: {result['req_per_s']:,.0f} req/s, p50 {result['p50_ms']:.2f} ms, "
            f"p99 {result['p99_ms']:.2f} ms, {result['errors']} errors",
            file=sys.stderr,
            flush=True,
        )

    def keep_startup(key: str, s: Server) -> None:
        startup[key] = {k: v for k, v in s.startup.items() if k != "first_response"}
        # Same model, same answer: ours and the naive service must agree on the example.
        startup[key]["churn_probability"] = s.startup["first_response"]["churn_probability"]

    batch_kw = {"warmup": args.batch_warmup, "rows": args.batch_rows}
    try:
        with serving(server("empty", 1), bentoml_bin, single, ours=False) as s:
            keep_startup("empty_1w", s)
            record("a", "empty", 1, _load(s, "/predict", single_file, 1, seconds, warmup))
        with serving(server("empty_dict", 1), bentoml_bin, single, ours=False) as s:
            keep_startup("empty_dict_1w", s)
            result = _load(s, "/predict", single_file, 1, seconds, warmup)
            record("a_dict", "empty (dict in/out)", 1, result)
        with serving(server("ours", 1), bentoml_bin, single, ours=True) as s:
            keep_startup("ours_1w", s)
            first_response = s.startup["first_response"]
            record("b", "ours", 1, _load(s, "/predict", single_file, 1, seconds, warmup))
            for c in (1, 2):
                result = _load(s, "/predict_batch", batch_file, c, seconds, **batch_kw)
                record(f"batch_c{c}", "ours /predict_batch", 1, result)
        with serving(server("naive", 1), bentoml_bin, single, ours=False) as s:
            keep_startup("naive_1w", s)
            record("c", "naive", 1, _load(s, "/predict", single_file, 1, seconds, warmup))
        with serving(server("ours", 2), bentoml_bin, single, ours=True) as s:
            keep_startup("ours_2w", s)
            record("b16", "ours", 2, _load(s, "/predict", single_file, 16, seconds, warmup))
            result = _load(s, "/predict_batch", batch_file, 2, seconds, **batch_kw)
            record("batch_2w_c2", "ours /predict_batch", 2, result)
        with serving(server("empty", 2), bentoml_bin, single, ours=False) as s:
            keep_startup("empty_2w", s)
            record("a16", "empty", 2, _load(s, "/predict", single_file, 16, seconds, warmup))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    targets = _targets(results, startup)
    report = {
        "benchmark": "serving",
        "home": str(home),
        "bento": f"churn_service:{bento_version}",
        "model": model_tag,
        "seconds_per_scenario": seconds,
        "warmup_requests": {"single": warmup, "batch": args.batch_warmup},
        "batch_rows": args.batch_rows,
        "first_response": first_response,
        "scenarios": {
            key: {k: v for k, v in r.items() if k not in ("url", "sample_response")}
            for key, r in results.items()
        },
        "startup": startup,
        "targets": targets,
        "all_pass": all(t["pass"] for t in targets),
        "contended": [
            key for key, r in results.items() if r.get("other_cpu_cores", 0) > CONTENDED_CORES
        ],
        "machine": machine,
    }
    print(json.dumps(report))
    print()
    _print_tables(report)
    if args.check and not report["all_pass"]:
        sys.exit(1)
    return report


if __name__ == "__main__":
    main()
