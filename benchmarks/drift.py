"""Benchmark of the drift report (Evidently) on large simulated batches.

For each size, the reference is a no-drift simulation and the current batch a drifted one
(15 % price rise, 20 % more month-to-month contracts, concept shift 0.5), both of that many
rows over ten monthly snapshots. Both are scored with the month-0 ground truth (a model frozen
before the drift) and carry their realised labels, so one ``drift_report`` call covers feature
drift, prediction drift, ROC-AUC on both frames and the HTML file. Each configuration runs in
its own subprocess so peak RSS (``ru_maxrss``) is its own: "data" is the peak after simulating
the two frames, "peak" the peak after the report. Sizes above the default row cap run twice:
with the default config (capped) and with the cap off.

Prints one JSON object on one line, then a markdown table.

Usage::

    uv run python benchmarks/drift.py --rows 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _worker(rows: int, months: int, cap: str) -> dict:
    """One measured drift_report call (runs in a fresh process)."""
    t0 = time.perf_counter()
    import evidently.presets  # noqa: F401  (import cost reported apart from the report)

    import_s = time.perf_counter() - t0

    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.ingestion.simulator import (
        DriftSpec,
        SimulatorConfig,
        churn_probability,
        simulate,
    )
    from churn_assets.lib.monitoring.config import DriftConfig
    from churn_assets.lib.monitoring.drift import drift_report

    customers = max(2, rows // months)
    drift = DriftSpec(start_month=0, price_rise=0.15, month_to_month_shift=0.2, concept_shift=0.5)
    frames = []
    for seed, spec in ((1, None), (2, drift)):
        snapshots = simulate(
            SimulatorConfig(n_customers=customers, months=months, seed=seed, drift=spec)
        ).snapshots
        snapshots["score"] = churn_probability(snapshots, concept_shift=0.0)
        frames.append(snapshots)
    reference, current = frames
    data_rss = _peak_rss_mb()

    config = DriftConfig() if cap == "default" else DriftConfig(max_rows=None)
    html = Path(tempfile.mkdtemp(prefix="drift-bench-")) / "drift.html"
    start = time.perf_counter()
    result = drift_report(
        reference,
        current,
        DataContract.load(),
        config,
        score_column="score",
        label_column="Churn",
        html_path=html,
    )
    seconds = time.perf_counter() - start
    perf = result.performance or {}
    return {
        "rows": len(current),
        "reference_rows": len(reference),
        "cap": cap,
        "max_rows": config.max_rows,
        "sampled": result.sampled,
        "seconds": round(seconds, 2),
        "evidently_import_s": round(import_s, 2),
        "data_rss_mb": round(data_rss),
        "peak_rss_mb": round(_peak_rss_mb()),
        "html_mb": round(html.stat().st_size / 2**20, 1),
        "n_features": len(result.features),
        "n_drifted": result.n_drifted,
        "drifted_columns": result.drifted_columns,
        "drifted_share": round(result.drifted_share, 3),
        "prediction_drift_score": round(result.prediction_drift_score or 0.0, 3),
        "roc_auc_drop": round(perf.get("roc_auc_drop") or 0.0, 4),
        "breaches": sorted(result.breaches),
        "scores": {
            row.column: round(row.score, 4) for row in result.features.itertuples(index=False)
        },
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--months", type=int, default=10)
    parser.add_argument("--worker", choices=["default", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(_worker(args.rows[0], args.months, args.worker)))
        return {}

    from churn_assets.lib.monitoring.config import DriftConfig

    default_cap = DriftConfig().max_rows or 0
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    runs = []
    for rows in args.rows:
        caps = ["default", "off"] if default_cap and rows > default_cap else ["default"]
        for cap in caps:
            cmd = [sys.executable, __file__, "--worker", cap, "--rows", str(rows)]
            cmd += ["--months", str(args.months)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))

    report = {
        "benchmark": "drift",
        "default_max_rows": default_cap,
        "runs": runs,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(report))
    print()
    print(
        "| rows per frame | row cap | seconds | peak RSS MB (data only) | drifted features "
        "| prediction drift | AUC drop | breaches |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        cap = f"{run['max_rows']:,}" if run["max_rows"] else "off"
        print(
            f"| {run['rows']:,} | {cap} | {run['seconds']} | {run['peak_rss_mb']} "
            f"({run['data_rss_mb']}) | {', '.join(run['drifted_columns'])} "
            f"| {run['prediction_drift_score']} | {run['roc_auc_drop']} "
            f"| {', '.join(run['breaches']) or '-'} |"
        )
    print(f"\nEvidently import (not in the timings): {runs[0]['evidently_import_s']} s")
    return report


if __name__ == "__main__":
    main()
