"""Wall time of the whole closed-loop scenario on the real Dagster daemon (target: <= 10 min).

Months 1-3 of a simulated base land and train the first champion with the `demo` tuning
preset (the `make demo` budget); months 4-6 land one at a time: each is ingested by the
landing sensor, scored (with SHAP reasons) and drift-checked by the automation sensor, and
judged by the retraining sensor. Drift starts in month 5, so month 6 confirms it, retrains,
and the gate decides. `python -m churn_assets.scenario` (what `make loop` runs) plays it
with `dagster-daemon run` on a temporary instance and home, sensors every 5 s.

    uv run python benchmarks/closed_loop.py [--customers 5000] [--team]

``--team`` plays it on a temporary team stack instead (Postgres instance, months landing in
the bucket, the MLflow server, the stack's own daemon; docs/deployment.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from churn_assets.scenario import LOOP_SETTINGS, loop_home

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--team", action="store_true", help="on a temporary team stack")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="churn-loop-bench-"))
    command = [sys.executable, "-m", "churn_assets.scenario", "--customers", str(args.customers)]
    command += ["--months", str(args.months), "--seed", str(args.seed)]
    stack = None
    started = time.perf_counter()
    if args.team:
        from churn_assets.team.services import free_port
        from churn_assets.team.stack import Ports, TeamStack

        stack = TeamStack(
            home / "team",
            Ports(s3=free_port(), mlflow=free_port(), ui=free_port()),
            data_uri="s3://churn/landing",
            extra_env=LOOP_SETTINGS,
        )
        stack.up()
        env = {**stack.process_env(), "CHURN_HOME": str(home / "feeder")}
        command.append("--external-daemon")
    else:
        env = {**os.environ, **loop_home(home)}
    try:
        done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    finally:
        if stack is not None:
            stack.down()
    total = time.perf_counter() - started
    if done.returncode:
        sys.stderr.write(done.stderr[-5000:])
        raise SystemExit(f"the scenario failed; state in {home}")
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    result = {
        "benchmark": "closed_loop",
        "runner": "dagster-daemon (sensors every 5 s)"
        + (" on the team stack (Postgres, S3, MLflow server)" if args.team else ""),
        "customers_per_month": args.customers,
        "months": args.months,
        **summary,
        "total_seconds": round(total, 1),
        "target_seconds": 600,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n\n")
    sys.stdout.write("| phase | runs | failed | seconds |\n|---|---:|---:|---:|\n")
    for p in summary["phases"]:
        sys.stdout.write(f"| {p['phase']} | {p['runs']} | {p['failed_runs']} | {p['seconds']} |\n")
    sys.stdout.write(
        f"| **total (incl. {'stack' if args.team else 'daemon'} start, simulation)** | | | "
        f"**{result['total_seconds']}** |\n"
    )
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
