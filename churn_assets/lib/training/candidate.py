"""The champion candidate, end to end: score the tuned families (and their stacked ensemble,
:mod:`.ensemble`) on the validation rows, pick the best, calibrate it, choose its decision
threshold (:mod:`.champion` holds each step), and log the outcome into an MLflow run the
caller opened."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    from churn_assets.lib.training.ensemble import StackResult


@dataclass
class Selection:
    """The chosen candidate (a family or the ensemble), calibrated, with its threshold and the
    numbers behind the choice."""

    family: str
    model: Any  # the chosen pipeline or StackedEnsemble, before calibration
    source_run_ids: dict[str, str]  # family -> its tuning run (the ensemble's: every member)
    leaderboard: pd.DataFrame
    calibration: Calibration
    choice: ThresholdChoice
    metrics: dict[str, float]  # on the calibrated out-of-fold validation scores
    profit_curve: pd.DataFrame
    costs: CostModel
    selection_metric: str
    input_columns: list[str]
    stack: StackResult | None = None  # the ensemble built, chosen or not
    ensemble_note: str = ""  # why no ensemble was built, or why the built one was not chosen

    def run_tags(self, contract: DataContract) -> dict[str, str]:
        """Tags of the candidate's MLflow run (its lineage back to the tuning runs; the warm
        start of the next search reads them)."""
        from churn_assets.lib.training.ensemble import ENSEMBLE
        from churn_assets.lib.training.warm_start import MEMBER_RUNS_TAG, SOURCE_RUN_TAG

        tags = {
            "family": self.family,
            SOURCE_RUN_TAG: self.source_run_ids.get(self.family, ""),
            "contract": contract.name,
        }
        if self.family == ENSEMBLE:
            tags[MEMBER_RUNS_TAG] = json.dumps(self.source_run_ids)
        return tags


def choose(board: pd.DataFrame, metric: str, ensemble_min_gain: float) -> tuple[str, str]:
    """The leaderboard's winner, unless it is the ensemble and beats the best single family by
    less than ``ensemble_min_gain`` (in the metric's better direction): then that family, with
    why the ensemble was not chosen."""
    from churn_assets.lib.training.champion import higher_is_better
    from churn_assets.lib.training.ensemble import ENSEMBLE

    family = str(board.iloc[0]["family"])
    singles = board[board["family"] != ENSEMBLE]
    if family != ENSEMBLE or singles.empty:
        return family, ""
    single = singles.iloc[0]
    gain = float(board.iloc[0][metric] - single[metric])
    gain = gain if higher_is_better(metric) else -gain
    if gain >= ensemble_min_gain:
        return family, ""
    return str(single["family"]), (
        f"best on validation by {gain:.4f} {metric}, under the required {ensemble_min_gain} "
        f"(ChampionPolicy.ensemble_min_gain): {single['family']} serves"
    )


def select_candidate(
    tuned: Iterable[TunedModel],
    validation_set: pd.DataFrame,
    contract: DataContract,
    costs: CostModel,
    selection_metric: str,
    *,
    seed: int,
    train_set: pd.DataFrame | None = None,
    ensemble: bool = False,
    ensemble_folds: int = 3,
    ensemble_min_gain: float = 0.0,
    threads: int = 1,
) -> Selection:
    """The best candidate on the validation rows by ``selection_metric``, calibrated (by
    out-of-fold Brier score), with the threshold that maximises expected profit.

    With ``ensemble`` (and ``train_set``, whose rows the blender is fitted on out of fold)
    the stacked ensemble of the families (:func:`~churn_assets.lib.training.ensemble.stack`)
    competes as the leaderboard row ``ensemble``; it is chosen only when it beats the best
    single family by at least ``ensemble_min_gain`` (in the metric's better direction), as it
    costs a scorer per member to serve and explain.
    """
    from churn_assets.lib.evaluation.scores import score_metrics
    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.features.preprocessing import model_input_columns
    from churn_assets.lib.training.champion import (
        calibrate,
        choose_threshold,
        leaderboard,
        profit_curve,
    )
    from churn_assets.lib.training.ensemble import ENSEMBLE, stack

    tuned = list(tuned)
    columns = model_input_columns(contract)
    X_valid = validation_set[columns]
    y_valid = validation_set[TARGET_COL].to_numpy()
    models = {t.family: t.pipeline for t in tuned}
    cv_auc = {t.family: t.result.best_cv_auc for t in tuned}
    stacked, note = None, ""
    if not ensemble:
        note = "off (ChampionPolicy.ensemble)"
    elif train_set is None or len(tuned) < 2:
        note = "needs the training rows and at least two tuned families"
    else:
        stacked = stack(tuned, train_set, contract, ensemble_folds, seed=seed, threads=threads)
        models[ENSEMBLE] = stacked.ensemble
        cv_auc[ENSEMBLE] = stacked.oof_roc_auc
    scores = {
        family: {
            "cv_roc_auc": cv_auc[family],
            **score_metrics(y_valid, model.predict_proba(X_valid)[:, 1]),
        }
        for family, model in models.items()
    }
    board = leaderboard(scores, selection_metric)
    family, why_not = choose(board, selection_metric, ensemble_min_gain)
    note = why_not or note
    runs = {t.family: t.mlflow_run_id or "" for t in tuned}
    calibration = calibrate(models[family], X_valid, y_valid, seed=seed)
    return Selection(
        family=family,
        model=models[family],
        source_run_ids=(
            {name: runs[name] for name, _ in stacked.ensemble.members}
            if stacked is not None and family == ENSEMBLE
            else {family: runs[family]}
        ),
        leaderboard=board,
        calibration=calibration,
        choice=choose_threshold(y_valid, calibration.oof_scores, costs),
        metrics=score_metrics(y_valid, calibration.oof_scores),
        profit_curve=profit_curve(y_valid, calibration.oof_scores, costs),
        costs=costs,
        selection_metric=selection_metric,
        input_columns=columns,
        stack=stacked,
        ensemble_note=note,
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
    if selection.stack is not None:
        described = selection.stack.describe()
        mlflow.log_params(
            {
                "ensemble.folds": described["folds"],
                **{f"ensemble.weight.{k}": v for k, v in described["weights"].items()},
                "ensemble.intercept": described["intercept"],
            }
        )
        mlflow.log_metrics(
            {
                "ensemble_oof_roc_auc": selection.stack.oof_roc_auc,
                "ensemble_refit_seconds": selection.stack.seconds,
            }
        )
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
