"""Benchmark: how long loading the Dagster definitions takes in a fresh interpreter.

This is what `dg dev`, `dg check defs` and every run worker pay before doing anything. Each
repetition starts a new Python process (so nothing is cached in memory; bytecode on disk is),
imports ``churn_assets.definitions``, builds the definitions and resolves the asset graph.
It also reports which heavy libraries were imported at load (should be none).

Prints one JSON object on one line, then a markdown table.

Usage::

    uv run python benchmarks/definitions_load.py --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PROBE = """
import json, sys, time
t0 = time.perf_counter()
from churn_assets.definitions import defs
d = defs()
d.resolve_asset_graph()
elapsed = time.perf_counter() - t0
heavy = ["sklearn", "pandas", "pandera", "evidently", "mlflow", "bentoml", "shap", "xgboost",
         "lightgbm", "optuna", "matplotlib", "pyarrow"]
print(json.dumps({"seconds": elapsed, "heavy": [m for m in heavy if m in sys.modules]}))
"""


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    runs = []
    for _ in range(args.repeat):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    seconds = [r["seconds"] for r in runs]
    report = {
        "benchmark": "definitions_load",
        "repeat": args.repeat,
        "median_s": round(statistics.median(seconds), 3),
        "min_s": round(min(seconds), 3),
        "max_s": round(max(seconds), 3),
        "heavy_modules_loaded": sorted({m for r in runs for m in r["heavy"]}),
        "target_s": 3.0,
    }
    print(json.dumps(report))
    print()
    print("| metric | value |\n|---|---|")
    for key in ("median_s", "min_s", "max_s", "heavy_modules_loaded", "target_s"):
        print(f"| {key} | {report[key]} |")
    return report


if __name__ == "__main__":
    main()
