"""Benchmark: thread oversubscription when two model fits share two cores.

The platform runs two Dagster steps at a time on a 2-core machine (two families tuned side by
side). If each booster also starts one thread per core, four busy threads fight over two
cores and OpenMP's spinning makes it far worse than 2x. This script measures it: the same
LightGBM and XGBoost cross-validation workloads, two processes at once, with the platform's
setting (1 thread per fit) and with the libraries' default (all cores per fit).

Prints one JSON object on one line, then a markdown table.

Usage::

    uv run python benchmarks/threads.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

WORKLOAD = """
import sys, time
import numpy as np
from sklearn.model_selection import cross_val_score
family, threads = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.normal(size=(20000, 40))
y = (X[:, :5].sum(axis=1) + rng.normal(scale=2.0, size=20000) > 1).astype(int)
kwargs = {} if threads == 0 else {"n_jobs": threads}
if family == "lightgbm":
    from lightgbm import LGBMClassifier
    model = LGBMClassifier(n_estimators=300, num_leaves=31, verbose=-1, **kwargs)
else:
    from xgboost import XGBClassifier
    model = XGBClassifier(n_estimators=300, max_depth=6, tree_method="hist", **kwargs)
start = time.perf_counter()
cross_val_score(model, X, y, cv=5, scoring="roc_auc", n_jobs=1)
print(time.perf_counter() - start)
"""


def _pair(family: str, threads: int) -> list[float]:
    """Run two identical workloads at once; return each one's seconds."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKLOAD, family, str(threads)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    return [float(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["lightgbm", "xgboost"])
    args = parser.parse_args(argv)

    rows = []
    for family in args.families:
        for label, threads in (("1 thread per fit (platform)", 1), ("library default", 0)):
            start = time.perf_counter()
            seconds = _pair(family, threads)
            rows.append(
                {
                    "family": family,
                    "setting": label,
                    "per_process_s": [round(s, 2) for s in seconds],
                    "wall_s": round(time.perf_counter() - start, 2),
                }
            )
    report = {"benchmark": "threads", "cpus": os.cpu_count(), "runs": rows}
    print(json.dumps(report))
    print()
    print("| family | setting | two concurrent 5-fold CVs, wall (s) | per process (s) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['family']} | {r['setting']} | {r['wall_s']} | {r['per_process_s']} |")
    return report


if __name__ == "__main__":
    main()
