"""Tuned-family stand-ins for the ensemble tests: each family's fixed configuration (no
search: the ensemble's tests are about the blend, and a search costs seconds per family),
refitted behind the fitted preprocessing by the platform's own ``fit_final``."""

from __future__ import annotations

import pandas as pd

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.engineering import TARGET_COL
from churn_assets.lib.features.preprocessing import build_preprocessor, model_input_columns
from churn_assets.lib.training.tuned import TunedModel
from churn_assets.lib.training.tuning import TuningResult, fit_final

BEST = {
    "logreg": {"regularization": "l2", "C": 0.3, "class_weight": None},
    "random_forest": {
        "n_estimators": 100,
        "max_depth": 6,
        "min_samples_leaf": 5,
        "max_features": 0.5,
        "max_samples": 0.8,
        "class_weight": None,
    },
    "xgboost": {
        "reweight_positives": False,
        "learning_rate": 0.1,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "reg_alpha": 0.01,
        "max_depth": 3,
        "min_child_weight": 2.0,
        "gamma": 0.01,
    },
    "lightgbm": {
        "reweight_positives": False,
        "learning_rate": 0.1,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "reg_alpha": 0.01,
        "num_leaves": 8,
        "min_child_samples": 20,
    },
}
ROUNDS = {"xgboost": 60, "lightgbm": 60}


def tuned_members(
    train: pd.DataFrame, contract: DataContract, families: tuple[str, ...] = tuple(BEST)
) -> list[TunedModel]:
    """One ``TunedModel`` per family, sharing one fitted preprocessing (as the assets do)."""
    columns = model_input_columns(contract)
    preprocessor = build_preprocessor(contract).fit(train[columns])
    y = train[TARGET_COL].to_numpy()
    out = []
    for family in families:
        result = TuningResult(
            family=family,  # type: ignore[arg-type]
            study_name=f"fixed-{family}",
            best_params=BEST[family],
            best_cv_auc=0.8,
            best_trial=0,
            n_complete=1,
            n_pruned=0,
            n_failed=0,
            trials_this_run=1,
            seconds=0.0,
            final_rounds=ROUNDS.get(family),
        )
        pipeline = fit_final(result, preprocessor, train[columns], y)
        out.append(TunedModel(family, pipeline, columns, result, mlflow_run_id=f"run-{family}"))
    return out
