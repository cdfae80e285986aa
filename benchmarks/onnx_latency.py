"""Edge export benchmark: the exported ONNX model in onnxruntime (1 intra-op thread) beside
the compiled scorer (``CompiledScorer.predict_proba``), on the same rows, per family.

Each family is fitted on simulated customers as the parity tests fit it (the scorer tests'
parameters, 150 trees), calibrated (sigmoid by default: the one calibration every family
exports exactly; ``--calibration isotonic`` shows XGBoost's refusal), exported with
``lib.export.onnx.export_onnx`` and checked for parity; then timed: one record per call over
``--records`` rows (p50/p99 µs), and one call on ``--batch-rows`` rows (20 repeats, p50/p99
ms). Inputs are prepared outside the timed call for both (ONNX feeds / dicts of fields), so
the figures are the model call alone.

    uv run --frozen python benchmarks/onnx_latency.py
    uv run --frozen python benchmarks/onnx_latency.py --families logreg lightgbm --records 500

Prints one JSON object on one line, then a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

FAMILIES = ["logreg", "xgboost", "lightgbm", "random_forest"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=FAMILIES, choices=FAMILIES)
    parser.add_argument("--calibration", default="sigmoid", choices=["none", "sigmoid", "isotonic"])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--records", type=int, default=300, help="one-record calls timed")
    parser.add_argument("--batch-rows", type=int, default=1000)
    args = parser.parse_args()

    import pandas as pd
    from sklearn.pipeline import Pipeline

    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.export.latency import onnx_latency, scorer_latency
    from churn_assets.lib.export.onnx import ExportError, check_parity, export_onnx
    from churn_assets.lib.features.engineering import TARGET_COL, build_feature_table
    from churn_assets.lib.features.preprocessing import build_preprocessor
    from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
    from churn_assets.lib.ingestion.validation import validate_frame
    from churn_assets.lib.serving.scorer import CompiledScorer
    from churn_assets.lib.training.champion import _calibrator
    from churn_assets.lib.training.families import spec
    from churn_assets_tests.lib.serving.test_scorer import PARAMS

    contract = DataContract.load()
    columns = contract.feature_columns
    snapshots = simulate(SimulatorConfig(n_customers=args.customers, months=2, seed=3)).snapshots
    table = build_feature_table(validate_frame(snapshots, contract).valid, contract)
    table = table.sample(frac=1.0, random_state=0)
    n = len(table)
    train, validation, rows = table.iloc[: n // 2], table.iloc[n // 2 : 3 * n // 4], table
    rows = pd.concat([rows[columns]] * (1 + args.batch_rows // len(rows)), ignore_index=True)
    results = []
    for family in args.families:
        preprocess = build_preprocessor(contract).fit(train[columns])
        estimator = spec(family).make_estimator(PARAMS[family], n_estimators=150)
        estimator.fit(preprocess.transform(train[columns]), train[TARGET_COL])
        model = Pipeline([("preprocess", preprocess), ("model", estimator)])
        if args.calibration != "none":
            model = _calibrator(model, args.calibration).fit(
                validation[columns], validation[TARGET_COL]
            )
        try:
            exported = export_onnx(model, contract, 0.5, family=family)
        except ExportError as exc:  # a refusal is a result too (XGBoost under isotonic)
            results.append({"family": family, "refused": str(exc)})
            continue
        scorer = CompiledScorer.compile(model, contract, family)
        onnx = onnx_latency(
            exported.onnx_bytes, rows, records=args.records, batch_rows=args.batch_rows
        )
        compiled = scorer_latency(scorer, rows, records=args.records, batch_rows=args.batch_rows)
        results.append(
            {
                "family": family,
                "parity_max_abs_diff": check_parity(model, exported.onnx_bytes, rows, contract),
                "size_kib": round(exported.size_bytes / 1024, 1),
                **{f"onnx_{k}": round(v, 1) for k, v in onnx.items()},
                **{f"scorer_{k}": round(v, 1) for k, v in compiled.items()},
            }
        )
    import onnxruntime

    report = {
        "calibration": args.calibration,
        "records": args.records,
        "batch_rows": args.batch_rows,
        "onnxruntime": onnxruntime.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "results": results,
    }
    print(json.dumps(report))
    print()
    print(
        "| family | parity max abs diff | ONNX KiB | ONNX 1 record p50 / p99 µs | scorer 1 record "
        f"p50 / p99 µs | ONNX {args.batch_rows} rows p50 ms | scorer {args.batch_rows} rows "
        "p50 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        if "refused" in r:
            print(f"| {r['family']} | refused: {r['refused'][:60]}... | | | | | |")
            continue
        print(
            f"| {r['family']} | {r['parity_max_abs_diff']:.1e} | {r['size_kib']:.0f} | "
            f"{r['onnx_one_p50_us']:.0f} / {r['onnx_one_p99_us']:.0f} | "
            f"{r['scorer_one_p50_us']:.0f} / {r['scorer_one_p99_us']:.0f} | "
            f"{r['onnx_batch_p50_us'] / 1000:.2f} | {r['scorer_batch_p50_us'] / 1000:.2f} |"
        )


if __name__ == "__main__":
    main()
