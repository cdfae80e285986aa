"""Benchmark: one Optuna study on Postgres tuned by 1 worker, then by 2, same trial budget.

The platform's search (``tune``: TPE seed, median pruning over CV folds, early stopping) on
the real Telco file when it is present (else the simulator), through the same code path as
``tuned_<family>`` with ``workers=N``: this process leads, ``N - 1`` spawned helpers join, all
on one study in an embedded Postgres (pgserver) with heartbeats. Each run gets a fresh study
and the same total budget (``--trials``, default 16), each fit one thread. Runs alternate
(1, 2, 1, 2, ...) so drifting load from other work on the machine hits both alike.

Reported per run: wall seconds of ``tune`` (helper start-up and join included), trials per
minute, best CV ROC-AUC, mean seconds per trial (how much slower each trial gets when the
workers share the cores), CPU seconds of this process and its helpers over wall seconds
(cores used), the load average before the run, trials by worker.

Prints one JSON object on one line, then a markdown table.

Usage::

    uv run python benchmarks/parallel_tuning.py                    # ~1 minute on 2 cores
    uv run python benchmarks/parallel_tuning.py --preset thorough --repeats 3
    uv run python benchmarks/parallel_tuning.py --family xgboost --trials 32
"""

from __future__ import annotations

import os

# One core per fit, like the platform's ``threads=1``: BLAS and OpenMP pools must not spread
# over every core behind the estimators' backs (set before numpy is imported; the spawned
# helpers inherit it).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import dataclasses
import json
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.engineering import TARGET_COL, build_feature_table
from churn_assets.lib.features.preprocessing import build_preprocessor, model_input_columns
from churn_assets.lib.features.split import split_frame
from churn_assets.lib.ingestion.readers import read_table
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.ingestion.validation import validate_frame
from churn_assets.lib.training.budget import TuningBudget, tuning_budget
from churn_assets.lib.training.studies import StudyStore
from churn_assets.lib.training.tuning import tune
from churn_assets.team import postgres

SEED = 42
TELCO_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "telco_customer_churn.csv"


def load_rows(path: Path, contract: DataContract) -> tuple[np.ndarray, np.ndarray, str]:
    """The encoded training rows of the Telco file (else the simulator) and their source."""
    if path.is_file():
        raw, source = read_table(path.read_bytes(), path.name), f"telco ({path.name})"
    else:
        raw = simulate(SimulatorConfig(n_customers=5000, months=1, seed=SEED)).snapshots
        source = "simulator (5000 customers, 1 month)"
    table = build_feature_table(validate_frame(raw, contract, source=source).valid, contract)
    train = split_frame(table, contract, strategy="stratified", seed=SEED)["train"]
    columns = model_input_columns(contract)
    preprocessor = build_preprocessor(contract).fit(train[columns])
    return preprocessor.transform(train[columns]), train[TARGET_COL].to_numpy(), source


def _cpu_s() -> float:
    """CPU seconds of this process and its reaped children (the helpers, once joined)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_once(
    family: str,
    X: np.ndarray,
    y: np.ndarray,
    budget: TuningBudget,
    store: StudyStore,
    name: str,
    workers: int,
    seed: int,
) -> dict[str, Any]:
    import optuna

    load = os.getloadavg()[0]
    cpu0, t0, started = _cpu_s(), time.perf_counter(), time.time()
    result = tune(family, X, y, budget, store, name, seed=seed, workers=workers)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    # When the first helper's first trial started: its spawn, imports and connection cost.
    leader = f"{platform.node()}:{os.getpid()}"
    helper_starts = [
        t.datetime_start.timestamp() - started
        for t in optuna.load_study(study_name=name, storage=store.open()).trials
        if t.user_attrs.get("worker") not in (None, leader) and t.datetime_start
    ]
    history = result.history
    durations = history["duration"].dropna().dt.total_seconds()
    counted = result.n_complete + result.n_pruned
    return {
        "workers": workers,
        "seed": seed,
        "wall_s": round(wall, 1),
        "trials": counted,
        "trials_per_min": round(counted / wall * 60, 2),
        "best_cv_auc": round(result.best_cv_auc, 4),
        "complete": result.n_complete,
        "pruned": result.n_pruned,
        "failed": result.n_failed,
        "mean_trial_s": round(float(durations.mean()), 2),
        "cores_used": round(cpu / wall, 2),
        "load_before": round(load, 2),
        "trials_by_worker": sorted(result.trials_by_worker.values(), reverse=True),
        "helper_first_trial_s": round(min(helper_starts), 1) if helper_starts else None,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per worker count, and the 2-worker speed-up on wall time."""
    out: dict[str, Any] = {}
    for workers in sorted({r["workers"] for r in runs}):
        mine = [r for r in runs if r["workers"] == workers]
        out[str(workers)] = {
            key: round(statistics.median(r[key] for r in mine), 4 if key == "best_cv_auc" else 2)
            for key in ("wall_s", "trials_per_min", "best_cv_auc", "mean_trial_s", "cores_used")
        }
    if "1" in out and "2" in out:
        out["speedup_wall"] = round(out["1"]["wall_s"] / out["2"]["wall_s"], 2)
        # Paired by seed: one seed's search prunes far more than another's, so the ratio of
        # the two runs with the same seed is the fairer comparison.
        wall = {(r["seed"], r["workers"]): r["wall_s"] for r in runs}
        paired = [wall[s, 1] / wall[s, 2] for s, w in wall if w == 1 and (s, 2) in wall]
        out["speedup_paired"] = [round(x, 2) for x in paired]
        out["speedup_paired_median"] = round(statistics.median(paired), 2)
    return out


def print_table(report: dict[str, Any]) -> None:
    print(
        "| workers | seed | wall s | trials | trials/min | best CV AUC | complete/pruned/failed "
        "| mean s/trial | cores used | load before | trials by worker | helper's 1st trial at s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in report["runs"]:
        print(
            f"| {r['workers']} | {r['seed']} | {r['wall_s']} | {r['trials']} | "
            f"{r['trials_per_min']} | {r['best_cv_auc']:.4f} | "
            f"{r['complete']}/{r['pruned']}/{r['failed']} | {r['mean_trial_s']} | "
            f"{r['cores_used']} | {r['load_before']} | "
            f"{'+'.join(map(str, r['trials_by_worker']))} | "
            f"{'-' if r['helper_first_trial_s'] is None else r['helper_first_trial_s']} |"
        )
    print("\n| workers | median wall s | median trials/min | median best CV AUC |")
    print("|---|---|---|---|")
    for workers, m in report["summary"].items():
        if isinstance(m, dict):
            print(f"| {workers} | {m['wall_s']} | {m['trials_per_min']} | {m['best_cv_auc']:.4f} |")
    summary = report["summary"]
    if "speedup_wall" in summary:
        print(
            f"\nSpeed-up on wall time, 2 workers vs 1: {summary['speedup_wall']}x (medians); "
            f"paired by seed {summary['speedup_paired']}, median "
            f"{summary['speedup_paired_median']}x"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="lightgbm", choices=["lightgbm", "xgboost"])
    parser.add_argument("--trials", type=int, default=16, help="total trial budget per run")
    parser.add_argument(
        "--preset", default="demo", choices=["demo", "thorough"], help="folds, early stopping"
    )
    parser.add_argument("--folds", type=int, default=None, help="override the preset's folds")
    parser.add_argument("--repeats", type=int, default=2, help="runs per worker count")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data", type=Path, default=TELCO_CSV, help="the Telco CSV")
    args = parser.parse_args(argv)

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    contract = DataContract.load()
    X, y, source = load_rows(args.data, contract)
    # The trial budget binds, not the clock: a generous deadline.
    budget = tuning_budget(
        args.preset, n_trials=args.trials, timeout_s=1800.0, cv_folds=args.folds, threads=1
    )
    # Outside pytest's or any 0700 folder: pgserver runs Postgres as its own user under root.
    scratch = Path(tempfile.mkdtemp(prefix="churn-bench-pg-"))
    server = postgres.start(scratch / "data", keep_running=False)
    runs = []
    try:
        store = StudyStore(server.create_database("bench"), scratch)
        for repeat in range(args.repeats):
            for workers in args.workers:
                seed = SEED + repeat
                name = f"bench-{args.family}-r{repeat}-w{workers}"
                runs.append(run_once(args.family, X, y, budget, store, name, workers, seed))
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    finally:
        postgres.stop(scratch / "data")
        shutil.rmtree(scratch, ignore_errors=True)

    import lightgbm
    import xgboost

    report = {
        "benchmark": "parallel_tuning",
        "data": source,
        "rows": len(y),
        "features": int(X.shape[1]),
        "family": args.family,
        "budget": {"preset": args.preset, **dataclasses.asdict(budget)},
        "storage": "Optuna RDBStorage on pgserver Postgres 16 (unix socket), heartbeat 10 s",
        "runs": runs,
        "summary": summarize(runs),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "versions": {
                "optuna": optuna.__version__,
                "lightgbm": lightgbm.__version__,
                "xgboost": xgboost.__version__,
            },
        },
    }
    print(json.dumps(report))
    print()
    print_table(report)
    return report


if __name__ == "__main__":
    main()
