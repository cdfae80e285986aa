"""Benchmark of the built-in data simulator.

Times ``simulate`` for about a million rows and reports wall seconds, rows per second, peak
resident memory and the Bayes-optimal expected AUC of the sample. Prints one JSON object on
one line, then a small markdown table.

Usage::

    uv run python benchmarks/simulator.py --rows 1000000 --months 10
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time

import numpy as np

from churn_assets.lib.ingestion.simulator import (
    SimulatorConfig,
    expected_bayes_auc,
    realized_bayes_auc,
    simulate,
)


def _rss_mb() -> float:
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def main(argv: list[str] | None = None) -> dict[str, float | int | str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="target number of rows")
    parser.add_argument("--months", type=int, default=10, help="monthly snapshots")
    parser.add_argument(
        "--customers", type=int, default=None, help="customers per month (default rows/months)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dirty-rate", type=float, default=0.0)
    args = parser.parse_args(argv)

    customers = args.customers or max(2, args.rows // args.months)
    config = SimulatorConfig(
        n_customers=customers, months=args.months, seed=args.seed, dirty_rate=args.dirty_rate
    )
    rss_before = _rss_mb()
    start = time.perf_counter()
    result = simulate(config)
    seconds = time.perf_counter() - start
    rss_peak = _rss_mb()

    snapshots, truth = result.snapshots, result.truth
    rows = len(snapshots)
    probability = truth["churn_probability"].to_numpy()
    churned = (snapshots["Churn"] == "Yes").to_numpy()
    month0 = (truth["snapshot_month"] == truth["snapshot_month"].min()).to_numpy()
    churn_by_month = churned.reshape(args.months, -1).mean(axis=1) if rows else np.array([])
    report: dict[str, float | int | str] = {
        "benchmark": "simulator",
        "rows": rows,
        "customers": customers,
        "months": args.months,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(rss_peak, 1),
        "mean_churn_probability_month0": round(float(probability[month0].mean()), 4),
        "churn_rate_mean": round(float(churned.mean()), 4),
        "churn_rate_first_month": round(float(churn_by_month[0]), 4),
        "churn_rate_last_month": round(float(churn_by_month[-1]), 4),
        "expected_bayes_auc": round(expected_bayes_auc(probability), 4),
        "expected_bayes_auc_month0": round(expected_bayes_auc(probability[month0]), 4),
        "realized_bayes_auc": round(realized_bayes_auc(probability, churned), 4),
        "python": platform.python_version(),
    }
    print(json.dumps(report))
    print()
    print("| metric | value |")
    print("|---|---|")
    for key in (
        "rows",
        "seconds",
        "rows_per_second",
        "peak_rss_mb",
        "rss_before_mb",
        "churn_rate_mean",
        "expected_bayes_auc",
        "realized_bayes_auc",
    ):
        print(f"| {key} | {report[key]} |")
    return report


if __name__ == "__main__":
    main()
