"""Benchmark: ingestion + validation + features on a large source, through the real assets.

Materializes raw_customers → validated/quarantined → customer_features → splits →
feature_preprocessor in one process (Dagster's in-process executor, so peak RSS covers every
step), with the Parquet IO manager writing to a temporary CHURN_HOME. The source is the
simulator (``--source sim``) or a folder of monthly CSV files written beforehand and not timed
(``--source csv``, which adds text parsing and type coercion of every value).

Prints one JSON object on one line, then a markdown table of per-step times.

Usage::

    uv run python benchmarks/pipeline.py --rows 1000000 --source csv
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

STEPS = [
    "raw_customers",
    "validated_customers",
    "quarantined_customers",
    "customer_features",
    "train_set",
    "validation_set",
    "test_set",
    "feature_preprocessor",
]


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=10)
    parser.add_argument("--source", choices=["sim", "csv"], default="csv")
    parser.add_argument("--dirty-rate", type=float, default=0.003)
    args = parser.parse_args(argv)

    customers = args.rows // args.months
    home = Path(tempfile.mkdtemp(prefix="churn-bench-"))
    os.environ["CHURN_HOME"] = str(home)
    sim_uri = f"sim://?customers={customers}&months={args.months}&dirty_rate={args.dirty_rate}"
    prepare_s = 0.0
    if args.source == "csv":
        from churn_assets.lib.ingestion.simulator import simulate, write_monthly_files
        from churn_assets.lib.ingestion.uri import parse_data_uri, simulator_config

        t0 = time.perf_counter()
        result = simulate(simulator_config(parse_data_uri(sim_uri)))
        write_monthly_files(result, home / "landing")
        del result
        prepare_s = time.perf_counter() - t0
        os.environ["CHURN_DATA_URI"] = str(home / "landing")
    else:
        os.environ["CHURN_DATA_URI"] = sim_uri

    import dagster as dg

    from churn_assets.definitions import defs

    job = defs().resolve_implicit_global_asset_job_def()
    start = time.perf_counter()
    run = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey(k) for k in STEPS],
    )
    wall = time.perf_counter() - start
    step_seconds = {
        event.step_key: round(event.event_specific_data.duration_ms / 1000, 2)
        for event in run.all_events
        if event.event_type_value == "STEP_SUCCESS"
    }
    rows = {}
    for event in run.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        count = mat.metadata.get("dagster/row_count")
        if count is not None:
            rows[mat.asset_key.to_user_string()] = count.value

    report = {
        "benchmark": "pipeline",
        "source": args.source,
        "rows": rows.get("raw_customers"),
        "rows_valid": rows.get("validated_customers"),
        "rows_quarantined": rows.get("quarantined_customers"),
        "wall_s": round(wall, 2),
        "rows_per_s": round(rows.get("raw_customers", 0) / wall),
        "peak_rss_mb": round(_peak_rss_mb()),
        "prepare_csv_s": round(prepare_s, 2),
        "steps_s": step_seconds,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(report))
    print()
    print("| step | seconds |\n|---|---|")
    for step, seconds in step_seconds.items():
        print(f"| {step} | {seconds} |")
    print(f"| **total (wall)** | **{report['wall_s']}** |")
    print(f"\n{report['rows']:,} rows, peak RSS {report['peak_rss_mb']} MB")
    return report


if __name__ == "__main__":
    main()
