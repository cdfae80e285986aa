"""From tuned candidates to one champion candidate: selection, calibration, decision threshold.

Everything here is decided on the validation rows, never on test rows:

1. **Selection**: the family with the best validation score (ROC-AUC by default).
2. **Calibration**: none, sigmoid (Platt) or isotonic, whichever gives the lowest Brier score
   in 5-fold cross-validation *on the validation rows* (each fold's calibrator is judged on
   rows it did not see). The winner is then fitted on all validation rows, wrapped around the
   frozen pipeline with sklearn's ``CalibratedClassifierCV(FrozenEstimator(...))``.
3. **Threshold**: the score above which a retention offer pays. With an offer cost ``c``, a
   retained customer's value ``v`` and an offer success rate ``s``, targeting a customer who
   would churn earns ``s*v - c`` and targeting one who would not costs ``c``. The threshold
   maximises *expected* profit, ``sum(p_i*s*v - c)`` over the targeted customers, computed
   from the calibrated out-of-fold validation scores. Maximising the *realised* profit of
   the ~1,400 validation rows instead chases noise: on Telco it picked 0.35 where break-even
   is 0.28 and lost profit on the test rows (benchmarks/model_quality.py). Realised profit
   and the F1-optimal threshold are reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from churn_assets.lib.training.policy import SELECTION_METRICS, CostPolicy

CalibrationMethod = Literal["none", "sigmoid", "isotonic"]
_DEFAULT_COSTS = CostPolicy()


@dataclass(frozen=True)
class CostModel:
    """The business value of a retention offer.

    Attributes:
        offer_cost: what one offer costs (discount, agent time), in currency units.
        retained_value: the value of keeping a customer who would have left.
        success_rate: the share of would-be churners an offer retains.
    """

    offer_cost: float = _DEFAULT_COSTS.offer_cost
    retained_value: float = _DEFAULT_COSTS.retained_value
    success_rate: float = _DEFAULT_COSTS.success_rate

    def __post_init__(self) -> None:
        if self.offer_cost < 0 or self.retained_value <= 0 or not 0 < self.success_rate <= 1:
            raise ValueError(
                "cost model needs offer_cost >= 0, retained_value > 0, 0 < success_rate <= 1"
            )

    @property
    def break_even_probability(self) -> float:
        """The churn probability above which an offer pays in expectation (if calibrated)."""
        return min(self.offer_cost / (self.success_rate * self.retained_value), 1.0)


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better."""
    if metric not in SELECTION_METRICS:
        raise ValueError(f"unknown selection metric {metric!r}; choose from {SELECTION_METRICS}")
    return metric in ("roc_auc", "pr_auc")


def leaderboard(scores: dict[str, dict[str, float]], metric: str) -> pd.DataFrame:
    """Candidates ranked by ``metric`` (best first), one row per family."""
    table = pd.DataFrame.from_dict(scores, orient="index").rename_axis("family").reset_index()
    return table.sort_values(
        metric, ascending=not higher_is_better(metric), kind="stable"
    ).reset_index(drop=True)


def profit_curve(
    y: np.ndarray, p: np.ndarray, costs: CostModel, thresholds: np.ndarray | None = None
) -> pd.DataFrame:
    """Profit (realised on the labels, and expected from the scores), offers, precision,
    recall and F1 for each candidate threshold. Customers with a score >= threshold get an
    offer.
    """
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    if thresholds is None:
        thresholds = np.unique(np.concatenate([np.round(p, 4), [0.0, 1.0]]))
    order = np.argsort(-p, kind="stable")
    sorted_p, sorted_y = p[order], y[order]
    cum_pos = np.concatenate([[0], np.cumsum(sorted_y)])
    cum_p = np.concatenate([[0.0], np.cumsum(sorted_p)])
    # Number of customers with score >= t, for each t.
    offers = np.searchsorted(-sorted_p, -np.asarray(thresholds), side="right")
    tp = cum_pos[offers]
    gain = costs.success_rate * costs.retained_value
    profit = tp * gain - offers * costs.offer_cost
    expected = cum_p[offers] * gain - offers * costs.offer_cost
    positives = max(int(y.sum()), 1)
    precision = np.divide(tp, offers, out=np.zeros(len(offers)), where=offers > 0)
    recall = tp / positives
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros(len(offers)),
        where=(precision + recall) > 0,
    )
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "offers": offers,
            "true_positives": tp,
            "profit": profit,
            "expected_profit": expected,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
    )


@dataclass(frozen=True)
class ThresholdChoice:
    """The decision threshold and the F1-optimal one beside it."""

    threshold: float
    objective: str
    expected_profit: float
    realised_profit: float
    profit_per_customer: float
    offer_rate: float
    f1_threshold: float
    f1: float
    f1_at_threshold: float


def choose_threshold(
    y: np.ndarray,
    p: np.ndarray,
    costs: CostModel,
    objective: Literal["expected", "realised"] = "expected",
) -> ThresholdChoice:
    """The profit-maximising threshold (ties: the higher threshold, fewer offers).

    Args:
        y: labels of the rows the scores belong to.
        p: calibrated scores (out-of-fold for an honest choice).
        costs: the cost model.
        objective: ``expected`` maximises ``sum(p*s*v - c)`` over targeted rows (needs
            calibrated scores; robust); ``realised`` maximises the profit the labels ``y``
            would have given (noisy on small samples).
    """
    curve = profit_curve(y, p, costs)
    column = {"expected": "expected_profit", "realised": "profit"}[objective]
    best = curve.iloc[::-1][column].idxmax()
    best_f1 = curve["f1"].idxmax()
    return ThresholdChoice(
        threshold=float(curve.loc[best, "threshold"]),
        objective=objective,
        expected_profit=float(curve.loc[best, "expected_profit"]),
        realised_profit=float(curve.loc[best, "profit"]),
        profit_per_customer=float(curve.loc[best, column] / len(y)),
        offer_rate=float(curve.loc[best, "offers"] / len(y)),
        f1_threshold=float(curve.loc[best_f1, "threshold"]),
        f1=float(curve.loc[best_f1, "f1"]),
        f1_at_threshold=float(curve.loc[best, "f1"]),
    )


def _calibrator(model: Any, method: CalibrationMethod) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    return CalibratedClassifierCV(FrozenEstimator(model), method=method)


def out_of_fold_calibrated(
    model: Any, X: pd.DataFrame, y: np.ndarray, method: CalibrationMethod, *, seed: int
) -> np.ndarray:
    """Validation scores calibrated by a calibrator that never saw the row (5 folds)."""
    from sklearn.model_selection import StratifiedKFold

    if method == "none":
        return model.predict_proba(X)[:, 1]
    out = np.zeros(len(y))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    for fit_idx, score_idx in folds.split(X, y):
        calibrated = _calibrator(model, method).fit(X.iloc[fit_idx], y[fit_idx])
        out[score_idx] = calibrated.predict_proba(X.iloc[score_idx])[:, 1]
    return out


@dataclass
class Calibration:
    """The chosen calibration, its comparison table and the honest validation scores."""

    method: CalibrationMethod
    model: Any  # the calibrated model (or the pipeline itself for "none")
    table: pd.DataFrame  # method, brier, log_loss (out-of-fold on validation)
    oof_scores: np.ndarray


# Calibration is there to make probabilities honest, not to re-rank: isotonic regression on a
# few thousand validation rows is a step function whose ties cost ranking (seen on Telco:
# best Brier by 0.0004, test ROC-AUC 0.8608 -> 0.8584 and PR-AUC -0.03). A method that loses
# more ROC-AUC or PR-AUC than this within its folds against the raw scores is not chosen.
MAX_CALIBRATION_AUC_LOSS = 0.002


def pick_calibration(table: pd.DataFrame, max_auc_loss: float) -> pd.DataFrame:
    """``table`` (method, brier and ``auc_loss`` per method: the ROC-AUC it loses against
    the uncalibrated scores) with ``eligible`` added, sorted so the chosen method is first:
    the lowest Brier among the methods losing at most ``max_auc_loss`` (``none`` always
    eligible)."""
    table = table.copy()
    table["eligible"] = (table["method"] == "none") | (table["auc_loss"] <= max_auc_loss)
    return table.sort_values(
        ["eligible", "brier"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def _ranking_loss(y: np.ndarray, raw: np.ndarray, calibrated: np.ndarray, seed: int) -> float:
    """Ranking lost within the calibration's own folds (one calibrator per fold, so only
    within a fold is the map one function): the larger of the mean ROC-AUC and PR-AUC losses
    (ties cost the top of the list most). 0 for a strictly monotone map such as the sigmoid,
    > 0 where isotonic steps tie scores."""
    from sklearn.model_selection import StratifiedKFold

    from churn_assets.lib.evaluation.scores import pr_auc, roc_auc

    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    losses = [
        [metric(y[idx], raw[idx]) - metric(y[idx], calibrated[idx]) for metric in (roc_auc, pr_auc)]
        for _, idx in folds.split(raw.reshape(-1, 1), y)
    ]
    return float(np.max(np.mean(losses, axis=0)))


def calibrate(
    model: Any,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    methods: tuple[CalibrationMethod, ...] = ("none", "sigmoid", "isotonic"),
    *,
    seed: int,
    max_auc_loss: float = MAX_CALIBRATION_AUC_LOSS,
) -> Calibration:
    """Pick the calibration with the lowest out-of-fold Brier score on validation rows among
    those that keep the ranking (:func:`pick_calibration`)."""
    from churn_assets.lib.evaluation.scores import brier, log_loss

    y = np.asarray(y_valid).astype(int)
    rows, scores = [], {}
    for method in ("none", *(m for m in methods if m != "none")):
        p = out_of_fold_calibrated(model, X_valid, y_valid, method, seed=seed)
        scores[method] = p
        rows.append(
            {
                "method": method,
                "brier": brier(y, p),
                "log_loss": log_loss(y, p),
                "auc_loss": _ranking_loss(y, scores["none"], p, seed),
            }
        )
    table = pick_calibration(pd.DataFrame(rows), max_auc_loss)
    method: CalibrationMethod = table.loc[0, "method"]
    final = model if method == "none" else _calibrator(model, method).fit(X_valid, y_valid)
    return Calibration(method=method, model=final, table=table, oof_scores=scores[method])


@dataclass
class ChampionCandidate:
    """What the champion-candidate asset stores: the servable model and how it was chosen."""

    family: str
    model: Any  # predict_proba on a frame of contract feature fields
    input_columns: list[str]
    threshold: float
    calibration: str
    costs: CostModel
    selection_metric: str
    validation_metrics: dict[str, float]
    threshold_choice: ThresholdChoice
    leaderboard: pd.DataFrame
    calibration_table: pd.DataFrame
    mlflow_run_id: str | None = None
    mlflow_model_uri: str | None = None

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(churn) for rows of contract fields."""
        return self.model.predict_proba(frame[self.input_columns])[:, 1]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """1 where a retention offer pays (score >= threshold)."""
        return (self.predict_proba(frame) >= self.threshold).astype(int)
