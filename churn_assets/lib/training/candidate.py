"""The champion candidate, end to end: score the tuned families on the validation rows, pick
the best, calibrate it, choose its decision threshold (:mod:`.champion` holds each step), and
log the outcome into an MLflow run the caller opened."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from churn_assets.lib.training.champion import (
    Calibration,
    ChampionCandidate,
    CostModel,
    ThresholdChoice,
)
from churn_assets.lib.training.tuned import TunedModel

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract


@dataclass
class Selection:
    """The chosen family, calibrated, with its threshold and the numbers behind the choice."""

    best: TunedModel
    leaderboard: pd.DataFrame
    calibration: Calibration
    choice: ThresholdChoice
    metrics: dict[str, float]  # on the calibrated out-of-fold validation scores
    profit_curve: pd.DataFrame
    costs: CostModel
    selection_metric: str
    input_columns: list[str]

    @property
    def family(self) -> str:
        return self.best.family

    def run_tags(self, contract: DataContract) -> dict[str, str]:
        """Tags of the candidate's MLflow run (its lineage back to the family's run)."""
        return {
            "family": self.family,
            "source_run_id": self.best.mlflow_run_id or "",
            "contract": contract.name,
        }


def select_candidate(
    tuned: Iterable[TunedModel],
    validation_set: pd.DataFrame,
    contract: DataContract,
    costs: CostModel,
    selection_metric: str,
    *,
    seed: int,
) -> Selection:
    """The best family on the validation rows by ``selection_metric``, calibrated (by
    out-of-fold Brier score), with the threshold that maximises expected profit."""
    from churn_assets.lib.evaluation.scores import score_metrics
    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.features.preprocessing import model_input_columns
    from churn_assets.lib.training.champion import (
        calibrate,
        choose_threshold,
        leaderboard,
        profit_curve,
    )

    tuned = list(tuned)
    columns = model_input_columns(contract)
    X_valid = validation_set[columns]
    y_valid = validation_set[TARGET_COL].to_numpy()
    scores = {
        t.family: {
            "cv_roc_auc": t.result.best_cv_auc,
            **score_metrics(y_valid, t.pipeline.predict_proba(X_valid)[:, 1]),
        }
        for t in tuned
    }
    board = leaderboard(scores, selection_metric)
    best = next(t for t in tuned if t.family == board.loc[0, "family"])
    calibration = calibrate(best.pipeline, X_valid, y_valid, seed=seed)
    return Selection(
        best=best,
        leaderboard=board,
        calibration=calibration,
        choice=choose_threshold(y_valid, calibration.oof_scores, costs),
        metrics=score_metrics(y_valid, calibration.oof_scores),
        profit_curve=profit_curve(y_valid, calibration.oof_scores, costs),
        costs=costs,
        selection_metric=selection_metric,
        input_columns=columns,
    )


def log_candidate(
    selection: Selection, validation_set: pd.DataFrame, contract: DataContract, run_id: str
) -> ChampionCandidate:
    """Log the selection into the active MLflow run ``run_id`` (validation dataset, the cost
    model, metrics, leaderboard, the calibrated model) and return the candidate."""
    import mlflow

    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.tracking import log_dataset, log_model

    calibration, choice, costs = selection.calibration, selection.choice, selection.costs
    log_dataset(validation_set, "validation_set", TARGET_COL, context="validation")
    mlflow.log_params(
        {
            "family": selection.family,
            "calibration": calibration.method,
            "selection_metric": selection.selection_metric,
            "offer_cost": costs.offer_cost,
            "retained_value": costs.retained_value,
            "success_rate": costs.success_rate,
        }
    )
    mlflow.log_metrics(
        {
            **{f"validation_{k}": v for k, v in selection.metrics.items()},
            "threshold": choice.threshold,
            "f1_threshold": choice.f1_threshold,
            "expected_profit_validation": choice.expected_profit,
            "realised_profit_validation": choice.realised_profit,
            "profit_per_customer": choice.profit_per_customer,
            "offer_rate": choice.offer_rate,
        }
    )
    mlflow.log_table(selection.leaderboard, "leaderboard.json")
    logged = log_model(calibration.model, validation_set[selection.input_columns], contract)
    return ChampionCandidate(
        family=selection.family,
        model=calibration.model,
        input_columns=selection.input_columns,
        threshold=choice.threshold,
        calibration=calibration.method,
        costs=costs,
        selection_metric=selection.selection_metric,
        validation_metrics=selection.metrics,
        threshold_choice=choice,
        leaderboard=selection.leaderboard,
        calibration_table=calibration.table,
        mlflow_run_id=run_id,
        mlflow_model_uri=logged.model_uri,
    )
