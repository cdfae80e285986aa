"""Benchmark: the fairness report on the real Telco file, with the platform's own champion.

Trains the champion exactly as ``benchmarks/model_quality.py`` does (same split, seed 42; the
``demo`` tuning preset by default, the budget ``make demo`` uses), then judges its offer
decisions on the test rows with the default ``FairnessPolicy`` and the built-in contract's
fairness choices, and measures the fairness-vs-profit frontier (and what demographic parity
would cost). With ``--seeds N`` it also fits a quick model (a calibrated random forest, or a
logistic regression) on N other stratified splits, to show how much the gaps move from one
test split to the next.

Usage::

    uv run python benchmarks/fairness_telco.py               # ../shared/data Telco file, ~4 min
    uv run python benchmarks/fairness_telco.py --seeds 15 --no-champion      # noise only
    uv run python benchmarks/fairness_telco.py --seeds 20 --no-champion --noise-model logreg
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import model_quality as mq  # the sibling benchmark: one champion procedure

from churn_assets.lib.contract import DataContract
from churn_assets.lib.evaluation.fairness import add_frontier, assess
from churn_assets.lib.evaluation.fairness_frontier import cost_of, frontier
from churn_assets.lib.evaluation.policy import FairnessPolicy
from churn_assets.lib.features.engineering import TARGET_COL, build_feature_table
from churn_assets.lib.features.preprocessing import (
    build_preprocessor,
    model_input_columns,
)
from churn_assets.lib.features.split import split_frame
from churn_assets.lib.ingestion.readers import read_table
from churn_assets.lib.ingestion.validation import validate_frame
from churn_assets.lib.training.budget import PRESETS
from churn_assets.lib.training.champion import CostModel, choose_threshold

COLUMNS = [
    "attribute",
    "criterion",
    "value",
    "ci_low",
    "ci_high",
    "limit",
    "verdict",
    "demographic_parity_difference",
    "equal_opportunity_difference",
    "equalized_odds_difference",
]


def judge(frame: pd.DataFrame, p: np.ndarray, threshold: float, contract: DataContract) -> dict:
    """The report's verdicts, per-group rates and the frontier's cost for one set of scores."""
    policy, costs = FairnessPolicy(), CostModel()
    y = frame[TARGET_COL].to_numpy().astype(int)
    sensitive = list(contract.sensitive)
    result = assess(frame, y, (p >= threshold).astype(int), sensitive, policy, contract.fairness)
    add_frontier(result, frame, y, p, threshold, costs, policy, contract.fairness)
    limits = result.summary.set_index("attribute")["limit"]
    groups = {a: frame[a].astype(str).to_numpy() for a in sensitive}
    # What the stricter criterion would cost: demographic parity within the policy's DP limit.
    parity_cost = {
        a: {
            k: round(v, 4)
            for k, v in cost_of(
                frontier(y, p, g, costs, threshold, "demographic_parity"),
                policy.max_demographic_parity_difference,
            ).items()
        }
        for a, g in groups.items()
    }
    return {
        "threshold": round(threshold, 4),
        "passed": result.passed,
        "summary": result.summary[COLUMNS].round(4).to_dict(orient="records"),
        "by_group": result.by_group.round(4).to_dict(orient="records"),
        "frontier_cost": {
            a: {k: round(v, 4) for k, v in cost_of(t, float(limits[a])).items()}
            for a, t in result.frontier.groupby("attribute")
        }
        if result.frontier is not None
        else {},
        "parity_frontier_cost": parity_cost,
        "frontier": result.frontier.round(4).to_dict(orient="records")
        if result.frontier is not None
        else [],
    }


def noise(table: pd.DataFrame, contract: DataContract, seeds: int, model: str) -> list[dict]:
    """One quick model per stratified split (seeds 1..N): the gaps' spread across test splits.

    ``logreg``: a plain logistic regression; ``random_forest``: a fixed random forest,
    calibrated on the validation rows like the champion. Thresholds maximise expected profit
    on the validation rows.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from churn_assets.lib.training.champion import calibrate

    columns = model_input_columns(contract)
    out = []
    for seed in range(1, seeds + 1):
        parts = split_frame(table, contract, strategy="stratified", seed=seed)
        train, valid, test = parts["train"], parts["validation"], parts["test"]
        y_valid = valid[TARGET_COL].astype(int).to_numpy()
        estimator = (
            LogisticRegression(max_iter=2000)
            if model == "logreg"
            else RandomForestClassifier(
                300, min_samples_leaf=10, max_features=0.3, n_jobs=1, random_state=0
            )
        )
        fitted = Pipeline([("preprocess", build_preprocessor(contract)), ("model", estimator)]).fit(
            train[columns], train[TARGET_COL].astype(int)
        )
        if model == "logreg":
            scorer, valid_scores = fitted, fitted.predict_proba(valid[columns])[:, 1]
        else:
            calibration = calibrate(fitted, valid[columns], y_valid, seed=42)
            scorer, valid_scores = calibration.model, calibration.oof_scores
        threshold = choose_threshold(y_valid, valid_scores, CostModel()).threshold
        verdict = judge(test, scorer.predict_proba(test[columns])[:, 1], threshold, contract)
        for row in verdict["summary"]:
            out.append({"seed": seed, **row})
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=mq.TELCO_CSV, help="the Telco CSV")
    parser.add_argument("--preset", default="demo", choices=sorted(PRESETS))
    parser.add_argument("--seeds", type=int, default=0, help="logistic splits for the noise")
    parser.add_argument("--no-champion", action="store_true", help="skip the champion")
    parser.add_argument(
        "--noise-model", default="random_forest", choices=["random_forest", "logreg"]
    )
    args = parser.parse_args(argv)

    contract = DataContract.load()
    report: dict = {"data": str(args.data), "policy": FairnessPolicy().model_dump()}
    if not args.no_champion:
        parts, facts = mq.load_telco(args.data, contract)
        with tempfile.TemporaryDirectory() as home:
            champion = mq.run_champion(
                parts, contract, PRESETS[args.preset], Path(home), CostModel(), Counter()
            )
        report["champion"] = {
            "family": champion["champion_family"],
            "calibration": champion["calibration"],
            "test_rows": facts["rows_test"],
            **judge(parts["test"], champion["_test_scores"], champion["threshold"], contract),
        }
    if args.seeds:
        raw = read_table(args.data.read_bytes(), args.data.name)
        table = build_feature_table(validate_frame(raw, contract, source="telco").valid, contract)
        rows = pd.DataFrame(noise(table, contract, args.seeds, args.noise_model))
        report["noise_model"] = args.noise_model
        metrics = ["value", "ci_low", "demographic_parity_difference", "equalized_odds_difference"]
        report["noise"] = {
            attribute: {
                m: {
                    "median": round(float(group[m].median()), 4),
                    "p90": round(float(group[m].quantile(0.9)), 4),
                    "max": round(float(group[m].max()), 4),
                }
                for m in metrics
            }
            for attribute, group in rows.groupby("attribute")
        }
        report["noise_failures"] = int((rows["verdict"] == "exceeds").sum())
        report["noise_runs"] = len(rows)
    print(json.dumps(report, default=str))
    if "champion" in report:
        print("\n| attribute | criterion | value (95% CI) | limit | verdict | DP | TPR gap | EO |")
        print("|---|---|---|---|---|---|---|---|")
        for r in report["champion"]["summary"]:
            print(
                f"| {r['attribute']} | {r['criterion']} | {r['value']:.3f} ({r['ci_low']:.3f}-"
                f"{r['ci_high']:.3f}) | {r['limit']} | {r['verdict']} | "
                f"{r['demographic_parity_difference']:.3f} | "
                f"{r['equal_opportunity_difference']:.3f} | {r['equalized_odds_difference']:.3f} |"
            )
    return report


if __name__ == "__main__":
    main()
