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
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.serving_report import CONTENDED_CORES, print_tables
from benchmarks.serving_report import targets as report_targets
from benchmarks.serving_servers import Server, bentoml_binary, machine_info, running, serve_env

REPO = Path(__file__).resolve().parent.parent
LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
BASELINES = "benchmarks.serving_baselines"


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
    bentoml_bin = bentoml_binary()
    machine = machine_info()
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

    # CHURN_BENTO_MODEL: the baselines load the bento's own model.
    env = serve_env(home, work, CHURN_BENTO_MODEL=model_tag)

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
        with running(server("empty", 1), bentoml_bin, single, ours=False) as s:
            keep_startup("empty_1w", s)
            record("a", "empty", 1, _load(s, "/predict", single_file, 1, seconds, warmup))
        with running(server("empty_dict", 1), bentoml_bin, single, ours=False) as s:
            keep_startup("empty_dict_1w", s)
            result = _load(s, "/predict", single_file, 1, seconds, warmup)
            record("a_dict", "empty (dict in/out)", 1, result)
        with running(server("ours", 1), bentoml_bin, single, ours=True) as s:
            keep_startup("ours_1w", s)
            first_response = s.startup["first_response"]
            record("b", "ours", 1, _load(s, "/predict", single_file, 1, seconds, warmup))
            for c in (1, 2):
                result = _load(s, "/predict_batch", batch_file, c, seconds, **batch_kw)
                record(f"batch_c{c}", "ours /predict_batch", 1, result)
        with running(server("naive", 1), bentoml_bin, single, ours=False) as s:
            keep_startup("naive_1w", s)
            record("c", "naive", 1, _load(s, "/predict", single_file, 1, seconds, warmup))
        with running(server("ours", 2), bentoml_bin, single, ours=True) as s:
            keep_startup("ours_2w", s)
            record("b16", "ours", 2, _load(s, "/predict", single_file, 16, seconds, warmup))
            result = _load(s, "/predict_batch", batch_file, 2, seconds, **batch_kw)
            record("batch_2w_c2", "ours /predict_batch", 2, result)
        with running(server("empty", 2), bentoml_bin, single, ours=False) as s:
            keep_startup("empty_2w", s)
            record("a16", "empty", 2, _load(s, "/predict", single_file, 16, seconds, warmup))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    targets = report_targets(results, startup)
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
    print_tables(report)
    if args.check and not report["all_pass"]:
        sys.exit(1)
    return report


if __name__ == "__main__":
    main()
