"""Benchmark: one whole ``churn_pipeline`` run per executor (``CHURN_EXECUTOR``).

Each run starts from an empty platform home (local SQLite instance, local MLflow store) and
executes the job the way ``make demo`` does (``churn_assets.console.execute``: the job's own
executor, a run in a child process), with the small-data tuning the team tests use (2 trials,
30 s, 2 CV folds per family) so the search does not drown the difference. The executors:

- ``multiprocess`` (the default): every step its own process, two at a time;
- ``in_process``: every step in the run's own process, one after another.

Prints one JSON object on one line, then a markdown table.

Usage::

    uv run --frozen python benchmarks/executors.py --customers 3000 --months 3
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

EXECUTORS = {"multiprocess": "", "in_process": "in_process"}


def run_config() -> dict:
    from churn_assets.lib.training.families import FAMILIES

    fast = {"n_trials": 2, "timeout_s": 30, "cv_folds": 2}
    ops = {f"tuned_{family}": {"config": fast} for family in FAMILIES}
    # Parity limits open: at a few thousand customers they are noise, and a rejection would
    # skip the bento step in one run and not in another.
    limits = ("equal_opportunity", "demographic_parity", "equalized_odds")
    ops["fairness_report"] = {"config": {f"max_{name}_difference": 1.0 for name in limits}}
    return {"ops": ops}


def one_run(executor: str, data_uri: str) -> dict:
    from churn_assets.scenario import loop_home

    home = Path(tempfile.mkdtemp(prefix=f"churn-bench-{executor}-"))
    try:
        env = {
            **os.environ,
            **loop_home(home),  # its own instance (the repository's dagster.yaml) and stores
            "CHURN_DATA_URI": data_uri,
            "CHURN_EXECUTOR": EXECUTORS[executor],
            "OMP_NUM_THREADS": "1",
        }
        command = [sys.executable, "-m", "churn_assets.console.execute", "churn_pipeline"]
        command += [json.dumps(run_config()), f"bench-{executor}"]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(f"{executor} run failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return {"executor": executor, "seconds": round(seconds, 1)}
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--months", type=int, default=3)
    args = parser.parse_args(argv)
    data_uri = f"sim://?customers={args.customers}&months={args.months}"
    results = [one_run(name, data_uri) for name in EXECUTORS]
    by_name = {r["executor"]: r["seconds"] for r in results}
    result = {
        "benchmark": "executors",
        "data_uri": data_uri,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "runs": results,
        "multiprocess_over_in_process": round(by_name["multiprocess"] / by_name["in_process"], 2),
    }
    print(json.dumps(result))
    print("\n| executor | churn_pipeline run (s) |\n|---|---|")
    for r in results:
        print(f"| {r['executor']} | {r['seconds']} |")
    return result


if __name__ == "__main__":
    main()
