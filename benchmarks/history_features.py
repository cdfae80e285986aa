"""Do history features help on the simulator? Test ROC-AUC with and without them.

Same customer-hash split (lib/features/split.py), same logistic regression on the platform's
preprocessing; "with history" appends the history features of MonthlyCharges, TotalCharges
and tenure (lib/features/history.py), median-imputed and scaled on the training rows.

    uv run --frozen python benchmarks/history_features.py --customers 5000 --months 6
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.features.engineering import TARGET_COL, build_feature_table
    from churn_assets.lib.features.history import HistorySpec, add_history
    from churn_assets.lib.features.preprocessing import build_preprocessor, model_input_columns
    from churn_assets.lib.features.split import split_frame
    from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
    from churn_assets.lib.ingestion.validation import validate_frame

    contract = DataContract.load()
    config = SimulatorConfig(n_customers=args.customers, months=args.months, seed=args.seed)
    frame = validate_frame(simulate(config).snapshots, contract).valid
    table = build_feature_table(frame, contract)
    specs = [
        s
        for col in ("MonthlyCharges", "TotalCharges", "tenure")
        for s in (
            HistorySpec(f"{col}_lag", "lag", col, 1),
            HistorySpec(f"{col}_delta", "delta", col, 1),
            HistorySpec(f"{col}_trend", "trend", col, 2),
        )
    ]
    specs = (*specs, HistorySpec("seen", "count"))
    start = time.perf_counter()
    table = add_history(table, contract.id_column, contract.event_time, specs)
    history_seconds = time.perf_counter() - start
    parts = split_frame(table, contract)
    columns = model_input_columns(contract)
    names = [s.name for s in specs]
    result = {"rows": len(table), "history_seconds": round(history_seconds, 3)}
    for label, extra in (("without", []), ("with", names)):
        pre = build_preprocessor(contract).fit(parts["train"][columns])
        hist = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
        if extra:
            hist.fit(parts["train"][extra])

        def matrix(part, pre=pre, hist=hist, extra=extra):
            base = pre.transform(part[columns])
            return np.hstack([base, hist.transform(part[extra])]) if extra else base

        model = LogisticRegression(max_iter=2000).fit(
            matrix(parts["train"]), parts["train"][TARGET_COL]
        )
        p = model.predict_proba(matrix(parts["test"]))[:, 1]
        result[f"test_roc_auc_{label}"] = round(roc_auc_score(parts["test"][TARGET_COL], p), 4)
    print(json.dumps(result))
    print("| metric | value |\n|---|---|")
    for key, value in result.items():
        print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
