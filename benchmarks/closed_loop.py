"""Wall time of the whole closed-loop scenario on this machine (target: <= 10 minutes).

Months 1-3 of a simulated base land and train the first champion with the `demo` tuning
preset (the `make demo` budget); months 4-6 land one at a time: each is validated, scored
(with SHAP reasons), drift-checked and judged by the retraining trigger. Drift starts in
month 5, so month 6 confirms it, retrains, and the gate decides. Everything runs in one
process through :class:`churn_assets.loop.LoopDriver` on a temporary instance and home.

    uv run python benchmarks/closed_loop.py [--customers 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="churn-loop-bench-"))
    os.environ.update(
        {
            "CHURN_HOME": str(home),
            "CHURN_DATA_URI": str(home / "landing"),
            "CHURN_MONITORING_SETTLE_SECONDS": "0",
            "CHURN_MONITORING_RETRAIN_COOLDOWN_HOURS": "0",
            "OMP_NUM_THREADS": "1",
        }
    )
    os.environ.pop("DAGSTER_HOME", None)
    started = time.perf_counter()
    import dagster as dg

    from churn_assets.loop import LoopDriver, play, scenario_months

    months = scenario_months(home / "staged", args.customers, args.months, 4, args.seed)
    with dg.instance_for_test() as instance:
        driver = LoopDriver(instance)
        phases = play(driver, home / "landing", months, initial=3)
        decision = instance.get_latest_materialization_event(dg.AssetKey("promotion_decision"))
        meta = {k: v.value for k, v in decision.asset_materialization.metadata.items()}
    total = time.perf_counter() - started
    result = {
        "benchmark": "closed_loop",
        "customers_per_month": args.customers,
        "months": args.months,
        "phases": phases,
        "final_gate": {k: meta[k] for k in ("outcome", "champion_before", "champion_after")},
        "total_seconds": round(total, 1),
        "target_seconds": 600,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n\n")
    sys.stdout.write("| phase | runs | failed | seconds |\n|---|---:|---:|---:|\n")
    for p in phases:
        sys.stdout.write(f"| {p['phase']} | {p['runs']} | {p['failed_runs']} | {p['seconds']} |\n")
    sys.stdout.write(
        f"| **total (incl. imports, simulation)** | | | **{result['total_seconds']}** |\n"
    )


if __name__ == "__main__":
    main()
